"""Table lifecycle in the PostgreSQL projection: the tables and views of
``projections.table_lifecycle_sql``, bound to the projection's schema.

Guarantees: the DDL is idempotent (``CREATE ... IF NOT EXISTS``, ``CREATE OR REPLACE VIEW``, run
under the projection's schema advisory lock); :func:`write` is idempotent and
order-independent; nothing is ever deleted.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from changes.table_lifecycle import BlockLifecycle, LedgerTable, event_row, identity_row
from projections import table_lifecycle_sql as q


class LifecycleStatements:
    """The lifecycle statements for tables in ``schema`` (``None``: the search path)."""

    def __init__(self, schema: str | None) -> None:
        """Compose every statement once."""

        def name(table: str) -> sql.Composable:
            return sql.Identifier(table) if schema is None else sql.Identifier(schema, table)

        names = {
            "events": name(q.EVENTS),
            "ids": name(q.IDS),
            "resolved": name(q.RESOLVED),
            "tables": name(q.TABLES),
            "p": sql.SQL("%s"),
        }

        def render(template: str) -> sql.Composed:
            return sql.SQL(template).format(**names)  # trusted templates of this package

        def view(view_name: str, template: str) -> sql.Composed:
            return sql.SQL("CREATE OR REPLACE VIEW {} AS ").format(name(view_name)) + render(
                template
            )

        self.ddl = [
            render(q.CREATE_EVENTS),
            render(q.CREATE_IDS),
            view(q.RESOLVED, q.RESOLVED_VIEW),
            view(q.TABLES, q.TABLES_VIEW),
            view(q.ACTIVE_VIEW, q.ACTIVE_SELECT),
            view(q.DROPPED_VIEW, q.DROPPED_SELECT),
        ]
        self.insert_event = render(q.INSERT_EVENT)
        self.upsert_id = render(q.UPSERT_ID)
        self.select_tables = render(q.SELECT_TABLES)


def write(
    conn: psycopg.Connection[tuple[object, ...]],
    statements: LifecycleStatements,
    lifecycle: BlockLifecycle,
) -> None:
    """Store ``lifecycle`` in one transaction (identities in key order: no deadlock cycles)."""
    with conn.transaction(), conn.cursor() as cur:
        events = sorted(event_row(e) for e in lifecycle.events)
        if events:
            cur.executemany(statements.insert_event, events)
        identities = sorted(identity_row(i) for i in lifecycle.identities)
        if identities:
            cur.executemany(statements.upsert_id, identities)


def tables(
    conn: psycopg.Connection[tuple[object, ...]], statements: LifecycleStatements
) -> list[LedgerTable]:
    """Every table's lifecycle state, by name (the ``ledger_tables`` view)."""
    with conn.transaction():
        rows = conn.execute(statements.select_tables).fetchall()
    return [q.table_from_row(tuple(row)) for row in rows]
