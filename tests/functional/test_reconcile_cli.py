"""``qldb-cdc reconcile`` end to end against SQLite and PostgreSQL.

GIVEN a small export replayed into a projection, WHEN the projection is tampered with (a row
deleted, added, set back, its hash altered, or moved ahead of the export as a stream would),
THEN reconcile names the difference and exits 1 (0 when the projection only is newer), and
``--report`` holds every difference as valid JSON whatever the names.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consumers.cli import main
from tests.support.export_builder import write_export
from tests.support.replay_samples import A, B, C, sample_objects

Tamper = Callable[[str, tuple[object, ...]], None]


@dataclass
class Target:
    """A replayed projection: its URI and a way to run SQL on its ``documents`` table."""

    uri: str
    execute: Tamper


def _copy_row(block_seq: int) -> str:
    """SQL copying document ``%s`` (3rd parameter) to table ``%s`` and id ``%s`` (1st, 2nd),
    committed in block ``block_seq``."""
    return (
        "INSERT INTO documents (ledger_table, document_id, version, deleted, redacted, data,"
        " tx_id, tx_time, block_strand, block_seq, revision_hash, data_hash)"
        " SELECT %s, %s, version, deleted, redacted, data, tx_id, tx_time,"
        f" block_strand, {block_seq}, revision_hash, data_hash FROM documents"
        " WHERE document_id = %s"
    )


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        db = tmp_path / "p.db"

        def run_sqlite(statement: str, params: tuple[object, ...]) -> None:
            with sqlite3.connect(db) as conn:
                conn.execute(statement.replace("%s", "?"), params)

        yield Target(f"sqlite:///{db}", run_sqlite)
        return
    import psycopg

    from tests.support.pg_server import fresh_schema, require_dsn

    base = require_dsn()
    schema = fresh_schema(base, "reconcile")

    def run_pg(statement: str, params: tuple[object, ...]) -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(statement.encode(), params)

    yield Target(f"{base}{'&' if '?' in base else '?'}schema={schema}", run_pg)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    write_export(tmp_path / "e", sample_objects())
    return tmp_path / "e"


def _replay(export: Path, target: Target) -> None:
    assert main(["replay", str(export), "--to", target.uri, "--no-progress"]) == 0


def _reconcile(
    export: Path, target: Target, capsys: pytest.CaptureFixture[str], report: Path | None = None
) -> tuple[int, str]:
    capsys.readouterr()
    args = ["reconcile", str(export), "--to", target.uri, "--no-progress"]
    if report is not None:
        args += ["--report", str(report)]
    code = main(args)
    return code, capsys.readouterr().out


def test_a_clean_replay_matches(
    export: Path, target: Target, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _replay(export, target)
    code, out = _reconcile(export, target, capsys, tmp_path / "r.json")
    assert code == 0, out
    assert "matches the export" in out
    assert "reconcile: OK; 3 documents" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["matches"] is True
    (only,) = report["targets"]
    assert only["differences"] == []
    person = next(t for t in only["tables"] if t["table"] == "Person")
    assert person["expected"] == {"documents": 2, "live": 1, "tombstones": 0, "redacted": 1}
    vehicle = next(t for t in only["tables"] if t["table"] == "Vehicle")
    assert vehicle["expected"]["tombstones"] == 1


@pytest.mark.parametrize(
    ("statement", "params", "kind", "doc"),
    [
        ("DELETE FROM documents WHERE document_id = %s", (C,), "missing", C),
        ("UPDATE documents SET version = version - 1 WHERE document_id = %s", (C,), "stale", C),
        (
            "UPDATE documents SET revision_hash = 'AAAA' WHERE document_id = %s",
            (B,),
            "wrong_hash",
            B,
        ),
        ("UPDATE documents SET redacted = false WHERE document_id = %s", (A,), "stale", A),
        ("UPDATE documents SET deleted = false WHERE document_id = %s", (B,), "wrong_data", B),
    ],
)
def test_each_difference_is_named_and_exits_1(  # noqa: PLR0917 - one case per row
    export: Path,
    target: Target,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    statement: str,
    params: tuple[object, ...],
    kind: str,
    doc: str,
) -> None:
    _replay(export, target)
    target.execute(statement, params)
    code, out = _reconcile(export, target, capsys, tmp_path / "r.json")
    assert code == 1, out
    assert "DIFFERS from the export" in out
    assert f"  {kind}: " in out
    assert doc in out
    report = json.loads((tmp_path / "r.json").read_text())
    (difference,) = report["targets"][0]["differences"]
    assert (difference["kind"], difference["document_id"]) == (kind, doc)
    assert difference["expected"] is not None
    assert (difference["actual"] is None) == (kind == "missing")


def test_an_extra_row_with_a_hostile_name_is_reported_as_valid_json(
    export: Path, target: Target, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _replay(export, target)
    table, doc_id = 'Bad"\n\\Table\u2028\u00e9', "x\ty\x1b[31m"
    target.execute(_copy_row(3), (table, doc_id, C))
    code, out = _reconcile(export, target, capsys, tmp_path / "r.json")
    assert code == 1, out
    assert "  extra: " in out
    assert "\x1b" not in out  # untrusted names are escaped on the terminal
    report = json.loads((tmp_path / "r.json").read_text(encoding="ascii"))
    (difference,) = report["targets"][0]["differences"]
    assert (difference["kind"], difference["table"], difference["document_id"]) == (
        "extra",
        table,
        doc_id,
    )
    assert difference["expected"] is None


def test_a_projection_ahead_of_the_export_is_newer_not_an_error(
    export: Path, target: Target, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _replay(export, target)
    # a stream after the cut-over moved C on and created a document in a later block
    target.execute("UPDATE documents SET version = version + 5 WHERE document_id = %s", (C,))
    target.execute(_copy_row(100), ("Person", "D" * 22, C))
    code, out = _reconcile(export, target, capsys, tmp_path / "r.json")
    assert code == 0, out
    assert "matches the export (2 documents newer than the export)" in out
    assert "newer than the export: " in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["matches"] is True
    kinds: dict[str, Any] = {
        d["document_id"]: d["kind"] for d in report["targets"][0]["differences"]
    }
    assert kinds == {C: "newer", "D" * 22: "newer"}


def test_user_mistakes_exit_2_in_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_db = tmp_path / "nope.db"
    assert main(["reconcile", str(export), "--to", str(missing_db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no SQLite database" in err, err
    assert not missing_db.exists()
    db = tmp_path / "p.db"
    assert main(["replay", str(export), "--to", str(db), "--no-progress"]) == 0
    report = tmp_path / "no-such-folder" / "r.json"
    args = ["reconcile", str(export), "--to", str(db), "--report", str(report)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err, err
    assert main(["reconcile", str(tmp_path / "no-export"), "--to", str(db)]) == 2
