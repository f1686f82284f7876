"""The SQLite projection under the contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core import json_codec
from core.model import DocKey
from projections.sqlite import SQLiteProjection
from tests.support.projection_harness import CurrentRow, Harness, HistoryRow

NAME = "sqlite"


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    projection = SQLiteProjection(tmp_path / "contract.db")
    db = projection.connection

    def read_current() -> dict[DocKey, CurrentRow]:
        rows = db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time,"
            " revision_hash FROM documents"
        )
        return {
            DocKey(t, d): CurrentRow(
                v, bool(de), bool(r), None if j is None else json_codec.loads(j), tx, tt, h
            )
            for t, d, v, de, r, j, tx, tt, h in rows
        }

    def read_history() -> dict[tuple[DocKey, int], HistoryRow]:
        rows = db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time,"
            " revision_hash, data_hash FROM revisions"
        )
        return {
            (DocKey(t, d), v): HistoryRow(
                bool(de), bool(r), None if j is None else json_codec.loads(j), tx, tt, h, dh
            )
            for t, d, v, de, r, j, tx, tt, h, dh in rows
        }

    def reset() -> None:
        db.execute("DELETE FROM documents")
        db.execute("DELETE FROM revisions")

    try:
        yield Harness(projection, read_current, read_history, reset, max_examples=100)
    finally:
        projection.close()
