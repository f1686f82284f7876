"""``qldb-cdc reconcile --skip-dropped`` end to end against SQLite.

GIVEN an export whose statements drop a table (a simulated ledger that creates, drops, undrops
and drops its last table again; hand-built exports with DROP TABLE, then UNDROP TABLE), replayed
into SQLite, WHEN the dropped table's documents differ in the target (deleted, altered, added)
and the target keeps no lifecycle record, THEN plain ``reconcile`` reports them (exit 1) and
``--skip-dropped`` leaves that table out (exit 0), naming it in the summary and the report,
while differences in the other tables are still reported. A table undropped after its DROP is
compared.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from consumers.cli import main
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export as write_simulated
from simulation.ledger import final_state
from tests.support.export_builder import TABLE_IDS, block, h, ts, write_export
from tests.support.replay_samples import B, C, sample_objects

CONFIG = SimulationConfig(documents=60, revisions=400, seed=11, table_lifecycle=True)
DROPPED = CONFIG.tables[-1]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("skip-dropped-export")
    write_simulated(out, CONFIG, ExportFormat.ION_BINARY, blocks_per_object=25, split_exports=2)
    return out


def _replay(export: Path, db: Path) -> None:
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0


def _reconcile(
    export: Path, db: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["reconcile", str(export), "--to", f"sqlite:///{db}", "--no-progress", *options])
    return code, capsys.readouterr().out


def _sql(db: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(statement, params).fetchall()


def _tamper_dropped_table(db: Path) -> tuple[int, int]:
    """Alter the dropped table's documents and forget the lifecycle; return (expected, kept)."""
    ids = [
        r[0]
        for r in _sql(
            db,
            "SELECT document_id FROM documents WHERE ledger_table = ? ORDER BY document_id",
            (DROPPED,),
        )
    ]
    expected = len(ids)
    assert expected == sum(1 for (table, _doc) in final_state(CONFIG) if table == DROPPED) > 3
    _sql(db, "DELETE FROM documents WHERE document_id = ?", (ids[0],))  # missing
    _sql(db, "UPDATE documents SET revision_hash = 'AAAA' WHERE document_id = ?", (ids[1],))
    _sql(db, "UPDATE documents SET version = version - 1 WHERE document_id = ?", (ids[2],))
    _sql(  # extra: a document the export never had, in the dropped table
        db,
        "INSERT INTO documents (ledger_table, document_id, version, deleted, redacted, data,"
        " tx_id, tx_time, block_strand, block_seq, revision_hash, data_hash)"
        " SELECT ledger_table, 'zzzzzzzzzzzzzzzzzzzzzz', version, deleted, redacted, data, tx_id,"
        " tx_time, block_strand, block_seq, revision_hash, data_hash FROM documents"
        " WHERE document_id = ?",
        (ids[3],),
    )
    # The target keeps no lifecycle: the decision must come from the export.
    _sql(db, "DELETE FROM ledger_table_events")
    _sql(db, "DELETE FROM ledger_table_ids")
    assert _sql(db, "SELECT count(*) FROM ledger_tables_dropped") == [(0,)]
    return expected, expected  # one deleted, one added


def test_skip_dropped_leaves_out_the_tables_the_export_drops(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    _replay(simulated, db)
    code, out = _reconcile(simulated, db, capsys, "--skip-dropped")
    assert code == 0, out
    expected, kept = _tamper_dropped_table(db)

    code, out = _reconcile(simulated, db, capsys)
    assert code == 1, out  # without the option the dropped table's differences count
    assert "DIFFERS from the export" in out
    assert "skipped" not in out
    for kind in ("missing", "extra", "stale", "wrong_hash"):
        assert f"  {kind}: {DROPPED}/" in out

    report = tmp_path / "r.json"
    code, out = _reconcile(simulated, db, capsys, "--skip-dropped", "--report", str(report))
    assert code == 0, out
    assert "matches the export" in out
    assert f"  skipped (dropped in the export): {DROPPED} ({kept} documents)" in out
    assert (
        f"skipped 1 tables dropped in the export (DROP TABLE), not compared: "
        f"{DROPPED} ({expected} documents)"
    ) in out
    assert f"\n  {DROPPED} " not in out  # no row of counts for the skipped table
    data = json.loads(report.read_text())
    assert data["matches"] is True and data["skip_dropped"] is True
    (skipped,) = data["skipped_tables"]
    assert skipped["table"] == DROPPED and skipped["documents"] == expected
    assert skipped["table_id"] and skipped["dropped_tx_id"] and skipped["dropped_tx_time"]
    (only,) = data["targets"]
    assert only["skipped_tables"] == [{"table": DROPPED, "documents": kept}]
    assert only["differences"] == []
    assert sorted(t["table"] for t in only["tables"]) == sorted(set(CONFIG.tables) - {DROPPED})


def test_skip_dropped_still_reports_the_other_tables(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.db"
    _replay(simulated, db)
    _tamper_dropped_table(db)
    other = CONFIG.tables[0]
    assert other != DROPPED
    (doc,) = _sql(db, "SELECT document_id FROM documents WHERE ledger_table = ? LIMIT 1", (other,))
    _sql(db, "DELETE FROM documents WHERE document_id = ?", doc)
    code, out = _reconcile(simulated, db, capsys, "--skip-dropped")
    assert code == 1, out
    assert f"  missing: {other}/{doc[0]}" in out
    assert f"{DROPPED}/" not in out


def _ddl(seq: int, statement: str) -> dict[str, object]:
    """A block holding one DDL statement and its hash-only system revision."""
    value = block(seq, [], system=1)
    value["transactionInfo"] = {
        "statements": [{"statement": statement, "startTime": ts(seq), "statementDigest": h(seq)}]
    }
    return value


@pytest.mark.parametrize(
    ("statements", "skipped"),
    [
        ([], False),
        (["DROP TABLE Vehicle"], True),
        (["DROP TABLE Vehicle", f'UNDROP TABLE "{TABLE_IDS["Vehicle"]}"'], False),
        (
            [
                'drop table "Vehicle"',
                f'UNDROP TABLE "{TABLE_IDS["Vehicle"]}"',
                "DROP TABLE Vehicle",
            ],
            True,
        ),
    ],
)
def test_only_a_table_the_export_ends_dropped_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], statements: list[str], skipped: bool
) -> None:
    objects = sample_objects()
    objects.append([_ddl(6 + i, s) for i, s in enumerate(statements)] or [block(6, [], system=1)])
    export = tmp_path / "e"
    write_export(export, objects)
    db = tmp_path / "p.db"
    _replay(export, db)
    _sql(db, "UPDATE documents SET revision_hash = 'AAAA' WHERE document_id = ?", (B,))  # Vehicle
    code, out = _reconcile(export, db, capsys, "--skip-dropped")
    if skipped:
        assert code == 0, out
        assert "not compared: Vehicle (1 documents)" in out
    else:
        assert code == 1, out
        assert f"  wrong_hash: Vehicle/{B}" in out
        assert "skipped: no table is dropped in the export" in out
    # Person is compared either way.
    _sql(db, "DELETE FROM documents WHERE document_id = ?", (C,))
    code, out = _reconcile(export, db, capsys, "--skip-dropped")
    assert code == 1, out
    assert f"  missing: Person/{C}" in out
