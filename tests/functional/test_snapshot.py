"""``qldb-cdc snapshot``: typed Parquet per ledger table from SQLite and PostgreSQL, exact
decimals, atomic replacement, interrupted runs, mistakes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from amazon.ion.core import Timestamp, TimestampPrecision
from psycopg import sql

from consumers.cli import main
from core.ion_kinds import IonKind
from projections.sqlite import SQLiteProjection
from replay import snapshot as snapshot_module
from schemas.view_mapping import NO_MAPPING
from tests.support import export_builder as eb
from tests.support import pg_server
from tests.support.builders import make_change
from tests.support.views_exports import write_views_export

PRICES = [Decimal("235934168.76"), Decimal("0.10"), Decimal("12345678901234567890.125")]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = write_views_export(tmp_path / "src")
    extra = [eb.Rev("Price", f"p{i}", 0, {"Price": price}) for i, price in enumerate(PRICES)]
    nanos = Timestamp(
        2021, 2, 9, 2, 16, 6, None, None, TimestampPrecision.SECOND, None, Decimal("0.123456789")
    )
    extra.append(eb.Rev("Clock", "c1", 0, {"at": nanos}))  # 9 digits: Arrow cannot cast it
    eb.write_export(tmp_path / "src2", [[eb.block(1, extra)]], export_id="9ZkGjpvZQsB2Xw1Pj0C3Fz")
    return root


def replay_both(export: Path, uri: str) -> None:
    for source in (export, export.parent / "src2"):
        assert main(["replay", str(source), "--to", uri, "--no-progress", "--no-views"]) == 0


def table(path: Path) -> list[dict[str, Any]]:
    return list(pq.read_table(path).to_pylist())


def check_snapshot(dest: Path) -> None:
    [person] = table(dest / "Person" / "current.parquet")
    assert person["document_id"] == "d1" and person["version"] == 1
    assert person["tx_time"].tzinfo is not None
    assert (person["name"], person["sym"], person["count"]) == ("p1", "s1", 10)
    assert person["huge"] == Decimal(2**70 + 1)
    assert str(person["amount"]) == "1.50" and person["ratio"] == 0.25 and person["ok"] is False
    assert person["at"] == dt.datetime(2021, 2, 9, 2, 16, 6, 240000, tzinfo=dt.UTC)
    assert person["day"] == dt.date(2021, 2, 9) and person["photo"] == b"\x00\x01\xff"
    assert json.loads(person["address"]) == {"city": "Tacoma", "zip": "98402"}
    assert person['odd "name"'] == "quoted" and person["é ü"] == "unicode"
    assert person["Version_2"] == "a field named like a metadata column"
    history = table(dest / "Person" / "history.parquet")
    assert [(r["document_id"], r["version"], r["deleted"]) for r in history] == [
        ("d1", 0, False),
        ("d1", 1, False),
        ("d2", 0, False),
        ("d2", 1, True),
    ]
    prices = pq.read_table(dest / "Price" / "current.parquet")
    assert str(prices.schema.field("Price").type) == "decimal128(23, 3)"
    assert sum(prices.column("Price").to_pylist()) == sum(PRICES)  # exact
    [clock] = table(dest / "Clock" / "current.parquet")
    assert clock["at"] == dt.datetime(2021, 2, 9, 2, 16, 6, 123456, tzinfo=dt.UTC)
    mixed = table(dest / "Mixed" / "current.parquet")
    assert [r["v"] for r in mixed] == ["1", '"one"']  # int and string: the JSON text
    manifest = json.loads((dest / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "qldb-cdc snapshot 1"
    by_table = {t["ledgerTable"]: t["rows"] for t in manifest["tables"]}
    assert by_table["Person"] == {"current": 1, "history": 4}


def test_a_sqlite_projection_snapshots_typed_and_exact(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    replay_both(export, f"sqlite:///{db}")
    dest = tmp_path / "snap"
    capsys.readouterr()
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(dest), "--history"]) == 0
    assert "snapshot: 5 ledger tables" in capsys.readouterr().out
    check_snapshot(dest)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_a_rerun_replaces_the_snapshot_whole_and_an_interrupted_one_changes_nothing(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "l.db"
    replay_both(export, f"sqlite:///{db}")
    dest = tmp_path / "snap"
    args = ["snapshot", "--from", f"sqlite:///{db}", "--to", str(dest), "--no-progress"]
    assert main(args) == 0
    first = (dest / "_manifest.json").read_text(encoding="utf-8")
    assert not (dest / "Person" / "history.parquet").exists()

    calls = {"n": 0}
    real_write = snapshot_module._TableFile.write

    def interrupted(self: Any, pq_: Any, path: Path, rows: Iterator[Any]) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_write(self, pq_, path, rows)

    monkeypatch.setattr(snapshot_module._TableFile, "write", interrupted)
    source = SQLiteProjection(db)
    with pytest.raises(KeyboardInterrupt):
        snapshot_module.write_snapshot(source, dest, NO_MAPPING, history=True)
    source.close()
    assert (dest / "_manifest.json").read_text(encoding="utf-8") == first  # untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    assert main([*args, "--history"]) == 0
    assert (dest / "Person" / "history.parquet").exists()
    check_snapshot(dest)


def test_snapshot_mistakes_are_exit_2_in_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(tmp_path / "s")]) == 2
    assert "no SQLite database" in capsys.readouterr().err and not db.exists()
    replay_both(export, f"sqlite:///{db}")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    capsys.readouterr()
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a qldb-cdc snapshot" in err
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"
    nowhere = tmp_path / "no" / "snap"
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(nowhere)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["snapshot", "--from", "s3://bucket/p", "--to", str(tmp_path / "s")]) == 2
    assert "only SQLite and PostgreSQL" in capsys.readouterr().err


@pytest.fixture
def pg_uri() -> Iterator[str]:
    dsn = pg_server.require_dsn()
    schema = pg_server.fresh_schema(dsn, "snap")
    yield f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&view_schema={schema}_v"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (schema + "_v", schema):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_a_postgres_projection_snapshots_like_sqlite(
    export: Path, tmp_path: Path, pg_uri: str
) -> None:
    replay_both(export, pg_uri)
    dest = tmp_path / "pg"
    assert main(["snapshot", "--from", pg_uri, "--to", str(dest), "--history"]) == 0
    check_snapshot(dest)


def test_an_export_is_replayed_into_a_temporary_database_and_snapshot(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "from-export"
    assert main(["snapshot", "--export", str(export), "--to", str(dest), "--history"]) == 0
    assert "replaying" in capsys.readouterr().out
    [person] = table(dest / "Person" / "current.parquet")
    assert person["document_id"] == "d1" and str(person["amount"]) == "1.50"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # cleaned up
    assert main(["snapshot", "--export", str(tmp_path / "missing"), "--to", str(dest)]) == 2
    assert (dest / "_manifest.json").is_file()  # the failed run left the snapshot as it was


def test_what_an_attacker_tried_is_refused_in_one_line_or_handled(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    replay_both(export, f"sqlite:///{db}")
    # A folder of another tool that happens to hold a _manifest.json is never replaced.
    other = tmp_path / "other"
    other.mkdir()
    (other / "_manifest.json").write_text('{"tool": "other"}', encoding="utf-8")
    (other / "thesis.docx").write_text("important", encoding="utf-8")
    capsys.readouterr()
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(other)]) == 2
    assert "is not a qldb-cdc snapshot" in capsys.readouterr().err
    assert (other / "thesis.docx").read_text(encoding="utf-8") == "important"
    # Another destination's staging folder (same stem) is left alone.
    theirs = tmp_path / ".qldb-cdc-snapshot-a.b.0123456789ab"
    theirs.mkdir()
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(tmp_path / "a")]) == 0
    assert theirs.is_dir()
    # A file that is not SQLite, and a SQLite file that is not a projection: one line, exit 2,
    # and the file is not touched.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x01not sqlite" * 500)
    unrelated = tmp_path / "unrelated.db"
    with sqlite3.connect(unrelated) as conn:
        conn.execute("CREATE TABLE mine (x)")
    before = unrelated.read_bytes()
    for source, words in ((garbage, "is not a SQLite database"), (unrelated, "not a qldb-cdc")):
        capsys.readouterr()
        args = ["snapshot", "--from", f"sqlite:///{source}", "--to", str(tmp_path / "s")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err
    assert unrelated.read_bytes() == before
    assert main(["views", "--to", f"sqlite:///{garbage}"]) == 2


def test_fields_left_out_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src", large=True)
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(tmp_path / "s")]) == 0
    assert "fields beyond 1000 columns" in capsys.readouterr().err


def test_the_snapshot_reads_one_state_while_others_write(export: Path, tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    replay_both(export, f"sqlite:///{db}")
    source = SQLiteProjection(db, read_only=True)
    writer = SQLiteProjection(db)
    with source.consistent_read():
        records = source.field_records()
        wider = make_change("p9", 0, table="Price", data={"Price": Decimal("1.123456789")})
        wider = dataclasses.replace(wider, field_kinds=(("Price", IonKind.DECIMAL),))
        writer.apply([wider])  # committed by another connection meanwhile
        rows = list(source.iter_rows("Price", history=False))
        assert source.field_records() == records
    assert {r.document_id for r in rows} == {"p0", "p1", "p2"}
    assert "p9" in {r.document_id for r in source.iter_rows("Price", history=False)}
    writer.close()
    source.close()


def test_tables_that_differ_only_in_case_get_folders_apart(tmp_path: Path) -> None:
    blocks = [eb.block(1, [eb.Rev("Person", "a", 0, {"x": 1}), eb.Rev("person", "b", 0, {"x": 2})])]
    eb.write_export(tmp_path / "src", [blocks])
    db = tmp_path / "l.db"
    assert main(["replay", str(tmp_path / "src"), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(tmp_path / "s")]) == 0
    folders = sorted(p.name for p in (tmp_path / "s").iterdir() if p.is_dir())
    assert folders == ["Person", "person~2"]  # one folder each on a case-insensitive disk too
    manifest = json.loads((tmp_path / "s" / "_manifest.json").read_text(encoding="utf-8"))
    assert {t["ledgerTable"]: t["folder"] for t in manifest["tables"]} == {
        "Person": "Person",
        "person": "person~2",
    }
