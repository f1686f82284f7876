"""Bring a SQLite projection written by an earlier version up to the current schema, and create
the indexes dashboards need (``projections/sqlite.py``).

* ``tx_time_utc`` (``documents`` and ``revisions``): the transaction time in UTC as the
  fixed-width text of :func:`core.tx_time.utc_text`, which sorts in time order and which
  SQLite's date functions read. A database without the column gets it, filled from ``tx_time``
  for every row, in one transaction (``BEGIN IMMEDIATE``: concurrent openers wait and then find
  it done).
* Indexes ``qldb_cdc_revisions_by_time (ledger_table, tx_time_utc)`` (changes per table and
  time range, "changes per day per table" without reading the rows) and
  ``qldb_cdc_documents_by_state (ledger_table, deleted, tx_time_utc)`` (live documents per
  table, their count and their last change).

Idempotent: running it on a current database changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from core.tx_time import utc_text

INDEXES = """
CREATE INDEX IF NOT EXISTS qldb_cdc_revisions_by_time ON revisions (ledger_table, tx_time_utc);
CREATE INDEX IF NOT EXISTS qldb_cdc_documents_by_state
    ON documents (ledger_table, deleted, tx_time_utc);
"""
INDEX_NAMES = ("qldb_cdc_revisions_by_time", "qldb_cdc_documents_by_state")
_TABLES = ("documents", "revisions")


def upgrade(db: sqlite3.Connection, rollback_after: Callable[[BaseException], None]) -> None:
    """Add and fill ``tx_time_utc`` where missing, then create the indexes (see the module).

    ``rollback_after(error)`` rolls back without ever replacing ``error``.
    """
    if not all(_has_column(db, table) for table in _TABLES):
        db.create_function("qldb_cdc_utc_text", 1, _utc_or_none, deterministic=True)
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in _TABLES:
                if not _has_column(db, table):
                    db.execute(f"ALTER TABLE {table} ADD COLUMN tx_time_utc TEXT")
                    db.execute(f"UPDATE {table} SET tx_time_utc = qldb_cdc_utc_text(tx_time)")
            db.execute("COMMIT")
        except BaseException as exc:
            rollback_after(exc)
            raise
    db.executescript(INDEXES)


def _has_column(db: sqlite3.Connection, table: str) -> bool:
    return any(row[1] == "tx_time_utc" for row in db.execute(f"PRAGMA table_info({table})"))


def _utc_or_none(text: object) -> str | None:
    return utc_text(text) if isinstance(text, str) else None
