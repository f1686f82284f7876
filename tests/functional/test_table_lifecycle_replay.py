"""Table lifecycle end to end: a simulated ledger that creates, drops, undrops and drops a table
again, replayed into SQLite and PostgreSQL (CLI, parallel workers, shuffled and repeated objects):
the lifecycle rows are the same every time and no document of the dropped table is lost."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from changes.table_lifecycle import ACTIVE, INACTIVE, LedgerTable
from consumers.cli import main
from exports.plan import plan_exports
from exports.store import LocalExportStore
from projections.memory import MemoryProjection
from projections.postgres import PostgresProjection
from projections.sqlite import SQLiteProjection
from replay.engine import ReplayOptions, replay_objects
from schemas.journal_export import ExportFormat
from schemas.partiql_statements import TableDdlKind
from simulation.config import SimulationConfig
from simulation.export_writer import write_export
from simulation.ledger import final_state
from tests.support import pg_server

CONFIG = SimulationConfig(documents=60, revisions=400, seed=11, table_lifecycle=True)
DROPPED = CONFIG.tables[-1]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifecycle-export")
    write_export(out, CONFIG, ExportFormat.ION_BINARY, blocks_per_object=25, split_exports=2)
    return out


def _check(tables: list[LedgerTable]) -> None:
    by_name = {t.table_name: t for t in tables}
    assert sorted(by_name) == sorted(CONFIG.tables)
    assert {n: t.status for n, t in by_name.items()} == {
        n: INACTIVE if n == DROPPED else ACTIVE for n in CONFIG.tables
    }
    assert by_name[DROPPED].last_event is TableDdlKind.DROPPED
    assert all(t.table_id for t in tables)  # every id is known from the documents


def _events(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT * FROM ledger_table_events ORDER BY 1, 2, 3").fetchall()


def test_cli_replay_records_lifecycle_and_keeps_dropped_data(
    export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "out.db"
    target = f"sqlite:///{db_path}"
    assert main(["replay", str(export_dir), "--to", target, "--no-progress"]) == 0
    assert f"table lifecycle: {len(CONFIG.tables) + 3} events" in capsys.readouterr().out
    projection = SQLiteProjection(db_path)
    _check(projection.ledger_tables())
    assert projection.dropped_tables() == [DROPPED]
    assert projection.active_tables() == sorted(set(CONFIG.tables) - {DROPPED})
    db = projection.connection
    kinds = [row[3] for row in _events(db) if row[4] == DROPPED or row[4] is None]
    assert kinds == ["created", "dropped", "undropped", "dropped"]
    # Nothing of the dropped table is deleted: its documents are all there.
    expected = sum(1 for (table, _doc) in final_state(CONFIG) if table == DROPPED)
    kept = db.execute("SELECT count(*) FROM documents WHERE ledger_table = ?", (DROPPED,))
    assert kept.fetchone()[0] == expected > 0
    # Filtering on request: the documents of active tables only, through the view.
    active_docs = db.execute(
        "SELECT count(*) FROM documents"
        " WHERE ledger_table IN (SELECT table_name FROM ledger_tables_active)"
    ).fetchone()[0]
    assert active_docs == len(final_state(CONFIG)) - expected
    before = _events(db)
    projection.close()

    # A second run (objects already done) and a two-worker run give the same rows.
    assert main(["replay", str(export_dir), "--to", target, "--no-progress"]) == 0
    other = tmp_path / "workers.db"
    assert (
        main(
            [
                "replay",
                str(export_dir),
                "--to",
                f"sqlite:///{other}",
                "--workers",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    with sqlite3.connect(db_path) as again, sqlite3.connect(other) as workers:
        assert _events(again) == before == _events(workers)
        assert (
            again.execute("SELECT * FROM ledger_tables ORDER BY 1").fetchall()
            == workers.execute("SELECT * FROM ledger_tables ORDER BY 1").fetchall()
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_and_repeated_objects_give_the_same_lifecycle(
    export_dir: Path, tmp_path: Path, seed: int
) -> None:
    store = LocalExportStore(export_dir)
    plan = plan_exports(store)
    objects = list(plan.objects)
    shuffled = objects + random.Random(seed).sample(objects, k=len(objects) // 2)
    random.Random(seed).shuffle(shuffled)
    in_order, sqlite = MemoryProjection(), SQLiteProjection(tmp_path / f"s{seed}.db")
    replay_objects(store, objects, [in_order], ReplayOptions())
    for obj in shuffled:  # one object at a time, in any order, some twice
        replay_objects(store, [obj], [sqlite], ReplayOptions(batch_size=7))
    _check(in_order.ledger_tables())
    assert sqlite.ledger_tables() == in_order.ledger_tables()
    sqlite.close()


def test_postgres_records_the_same_lifecycle(export_dir: Path) -> None:
    dsn = pg_server.require_dsn()
    schema = pg_server.fresh_schema(dsn, "lifecycle")
    assert main(["replay", str(export_dir), "--to", f"{dsn}?schema={schema}", "--no-progress"]) == 0
    projection = PostgresProjection(dsn, schema=schema)
    try:
        tables = projection.ledger_tables()
        _check(tables)
        memory = MemoryProjection()
        store = LocalExportStore(export_dir)
        objects = list(plan_exports(store).objects)
        replay_objects(store, objects, [memory], ReplayOptions())
        assert tables == memory.ledger_tables()
        assert projection.dropped_tables() == [DROPPED]
        # Shuffled objects applied again: idempotent, the same rows.
        random.Random(4).shuffle(objects)
        for obj in objects:
            replay_objects(store, [obj], [projection], ReplayOptions())
        assert projection.ledger_tables() == tables
    finally:
        projection.close()
