"""Table lifecycle in the SQLite projection: the tables and views of
``projections.table_lifecycle_sql``, written and read through one connection.

Guarantees: :func:`write` is idempotent and order-independent (events are
inserted once, identities keep their earliest sighting); nothing is ever deleted.
"""

from __future__ import annotations

import sqlite3

from changes.table_lifecycle import BlockLifecycle, LedgerTable, event_row, identity_row
from projections import table_lifecycle_sql as q

_NAMES = {
    "events": q.EVENTS,
    "ids": q.IDS,
    "resolved": q.RESOLVED,
    "tables": q.TABLES,
    "p": "?",
}
SCHEMA = (
    ";\n".join(
        [
            q.CREATE_EVENTS.format(**_NAMES),
            q.CREATE_IDS.format(**_NAMES),
            f"CREATE VIEW IF NOT EXISTS {q.RESOLVED} AS {q.RESOLVED_VIEW.format(**_NAMES)}",
            f"CREATE VIEW IF NOT EXISTS {q.TABLES} AS {q.TABLES_VIEW.format(**_NAMES)}",
            f"CREATE VIEW IF NOT EXISTS {q.ACTIVE_VIEW} AS {q.ACTIVE_SELECT.format(**_NAMES)}",
            f"CREATE VIEW IF NOT EXISTS {q.DROPPED_VIEW} AS {q.DROPPED_SELECT.format(**_NAMES)}",
        ]
    )
    + ";\n"
)
_INSERT_EVENT = q.INSERT_EVENT.format(**_NAMES)
_UPSERT_ID = q.UPSERT_ID.format(**_NAMES)
_SELECT_TABLES = q.SELECT_TABLES.format(**_NAMES)


def write(db: sqlite3.Connection, lifecycle: BlockLifecycle) -> None:
    """Insert ``lifecycle``'s events and identities (the caller owns the transaction)."""
    db.executemany(_INSERT_EVENT, [event_row(e) for e in lifecycle.events])
    db.executemany(_UPSERT_ID, [identity_row(i) for i in lifecycle.identities])


def tables(db: sqlite3.Connection) -> list[LedgerTable]:
    """Every table's lifecycle state, by name (the ``ledger_tables`` view)."""
    return [q.table_from_row(row) for row in db.execute(_SELECT_TABLES)]
