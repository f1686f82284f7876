"""SQL of the table lifecycle, shared by the SQLite and PostgreSQL projections.

Tables (created if missing):

* ``ledger_table_events``: every lifecycle statement once, PK ``(block_strand, block_seq,
  statement_index)``: ``kind`` (``created``, ``dropped``, ``undropped``), ``table_name`` (CREATE,
  DROP), ``table_id`` (UNDROP), ``tx_id``, ``tx_time``. Inserted with ``ON CONFLICT DO NOTHING``.
* ``ledger_table_ids``: table id -> name as seen in ``transactionInfo.documents``, with the first
  block that showed it (a later sighting only moves it earlier).

Views (the state is computed, never stored, so any order or duplication of the input gives the
same rows; nothing is deleted on DROP, the documents of a dropped table stay):

* ``ledger_tables``: one row per table name: ``table_name``, ``table_id``, ``status``
  (``ACTIVE``/``INACTIVE``), ``last_event``, ``last_tx_id``, ``last_tx_time``,
  ``last_block_strand``, ``last_block_seq``. Same semantics as ``changes.table_lifecycle.fold``.
* ``ledger_tables_active`` / ``ledger_tables_dropped``: its rows by status, for views and
  reconcile that leave dropped tables out (``WHERE ledger_table IN (SELECT table_name FROM
  ledger_tables_active)``, or ``NOT IN ledger_tables_dropped`` to keep tables never seen in DDL).

Templates use ``{events}``, ``{ids}``, ``{resolved}``, ``{tables}``: each projection fills in its
(quoted, schema-qualified) names.
"""

from __future__ import annotations

from changes.table_lifecycle import LedgerTable
from schemas.partiql_statements import TableDdlKind

EVENTS = "ledger_table_events"
IDS = "ledger_table_ids"
RESOLVED = "ledger_table_events_resolved"
TABLES = "ledger_tables"
ACTIVE_VIEW = "ledger_tables_active"
DROPPED_VIEW = "ledger_tables_dropped"

CREATE_EVENTS = """CREATE TABLE IF NOT EXISTS {events} (
    block_strand    TEXT    NOT NULL,
    block_seq       BIGINT  NOT NULL,
    statement_index BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    table_name      TEXT,
    table_id        TEXT,
    tx_id           TEXT    NOT NULL,
    tx_time         TEXT    NOT NULL,
    PRIMARY KEY (block_strand, block_seq, statement_index))"""

CREATE_IDS = """CREATE TABLE IF NOT EXISTS {ids} (
    table_id           TEXT   NOT NULL PRIMARY KEY,
    table_name         TEXT   NOT NULL,
    first_block_strand TEXT   NOT NULL,
    first_block_seq    BIGINT NOT NULL)"""

RESOLVED_VIEW = """SELECT e.block_strand, e.block_seq, e.statement_index, e.kind,
    COALESCE(e.table_name, i.table_name) AS table_name, e.table_id, e.tx_id, e.tx_time
FROM {events} e LEFT JOIN {ids} i ON e.table_name IS NULL AND i.table_id = e.table_id"""

TABLES_VIEW = """WITH latest AS (
    SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.table_name
        ORDER BY r.block_strand DESC, r.block_seq DESC, r.statement_index DESC) AS rn
    FROM {resolved} r WHERE r.table_name IS NOT NULL),
newest_id AS (
    SELECT i.table_name, i.table_id, ROW_NUMBER() OVER (PARTITION BY i.table_name
        ORDER BY i.first_block_strand DESC, i.first_block_seq DESC, i.table_id DESC) AS rn
    FROM {ids} i),
names AS (SELECT table_name FROM latest UNION SELECT table_name FROM {ids})
SELECT n.table_name AS table_name,
    COALESCE(l.table_id, d.table_id) AS table_id,
    CASE WHEN l.kind = 'dropped' THEN 'INACTIVE' ELSE 'ACTIVE' END AS status,
    l.kind AS last_event, l.tx_id AS last_tx_id, l.tx_time AS last_tx_time,
    l.block_strand AS last_block_strand, l.block_seq AS last_block_seq
FROM names n
LEFT JOIN latest l ON l.table_name = n.table_name AND l.rn = 1
LEFT JOIN newest_id d ON d.table_name = n.table_name AND d.rn = 1"""

INSERT_EVENT = (
    "INSERT INTO {events} (block_strand, block_seq, statement_index, kind, table_name, table_id,"
    " tx_id, tx_time) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING"
)
"""``{p}`` is the driver's parameter marker; the row is ``changes.table_lifecycle.event_row``."""
UPSERT_ID = (
    "INSERT INTO {ids} AS i (table_id, table_name, first_block_strand, first_block_seq)"
    " VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (table_id) DO UPDATE SET"
    " table_name = excluded.table_name, first_block_strand = excluded.first_block_strand,"
    " first_block_seq = excluded.first_block_seq"
    " WHERE (excluded.first_block_strand, excluded.first_block_seq, excluded.table_name)"
    " < (i.first_block_strand, i.first_block_seq, i.table_name)"
)
"""The earliest sighting of an id wins (then the smaller name): order-independent."""

ACTIVE_SELECT = "SELECT * FROM {tables} WHERE status = 'ACTIVE'"
DROPPED_SELECT = "SELECT * FROM {tables} WHERE status = 'INACTIVE'"

SELECT_TABLES = (
    "SELECT table_name, table_id, status, last_event, last_tx_id, last_tx_time"
    " FROM {tables} ORDER BY table_name"
)
"""Column order of ``changes.table_lifecycle.LedgerTable``."""


def table_from_row(row: tuple[object, ...]) -> LedgerTable:
    """A row of :data:`SELECT_TABLES` as a value."""
    name, table_id, status, last_event, tx_id, tx_time = row
    return LedgerTable(
        table_name=str(name),
        table_id=None if table_id is None else str(table_id),
        status=str(status),
        last_event=None if last_event is None else TableDdlKind(str(last_event)),
        last_tx_id=None if tx_id is None else str(tx_id),
        last_tx_time=None if tx_time is None else str(tx_time),
    )
