"""Typed views in the SQLite projection: the Ion kinds of each field, and one view per ledger
table for its current state and one for its history (``projections/view_plan.py``).

Tables (created if missing):

* ``ledger_field_types`` — ``(ledger_table, field, ion_kind)``, every Ion kind seen for a
  top-level field, once. Written in the transaction that writes the documents, so every stored
  value's kind is in it, whatever the order and duplication of the input.
* ``qldb_cdc_views`` — the views qldb-cdc created (``view_name``, ``ledger_table``, ``kind``
  ``current``/``history``); a refresh drops exactly these, never anything else.
* ``qldb_cdc_view_columns`` — each view's field columns: ``column_name``, ``field``,
  ``column_type`` (the logical type), ``ion_kinds`` (comma-separated), in order.

SQLite has no column types, so each logical type is read as the SQLite value that keeps it
(README "Typed views"): ``text``, ``timestamptz`` and ``date`` (ISO-8601 text), ``bytes``
(base64 text) and ``boolean`` (1/0) and ``bigint`` (integer) and ``double`` (real, or the text
``nan``/``+inf``/``-inf``) through ``json_extract``; ``numeric`` as the exact digits of the
JSON number (text: SQLite has no exact decimal), ``json`` as JSON text. A field name with a
double quote, a backslash or a control character is read through ``json_each`` instead (a
JSON path cannot name it), which gives numbers as SQLite reals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable

from core.column_types import ColumnType, column_type
from core.errors import ConfigError
from core.ion_kinds import IonKind
from projections.recorded_kinds import field_types_of
from projections.view_plan import (
    CURRENT_COLUMNS,
    HISTORY_COLUMNS,
    PROJECTION_OBJECTS,
    Naming,
    ViewColumn,
    ViewPlan,
    ViewsPlan,
    plan_views,
    previous_names,
)
from schemas.view_mapping import ViewMapping

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_field_types (
    ledger_table TEXT NOT NULL,
    field        TEXT NOT NULL,
    ion_kind     TEXT NOT NULL,
    PRIMARY KEY (ledger_table, field, ion_kind)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS qldb_cdc_views (
    view_name    TEXT NOT NULL PRIMARY KEY,
    ledger_table TEXT NOT NULL,
    kind         TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qldb_cdc_view_columns (
    view_name    TEXT NOT NULL,
    position     INTEGER NOT NULL,
    column_name  TEXT NOT NULL,
    field        TEXT NOT NULL,
    column_type  TEXT NOT NULL,
    ion_kinds    TEXT NOT NULL,
    PRIMARY KEY (view_name, position));
"""


_INSERT_KIND = (
    "INSERT OR IGNORE INTO ledger_field_types (ledger_table, field, ion_kind) VALUES (?, ?, ?)"
)
_SIMPLE_PATH_FORBIDDEN = frozenset('"\\') | {chr(c) for c in range(0x20)} | {"\x7f"}


def record_kinds(db: sqlite3.Connection, kinds: Iterable[tuple[str, str, str]]) -> None:
    """Insert (ledger table, field, kind) triples once each (the caller owns the transaction)."""
    db.executemany(_INSERT_KIND, kinds)


def known_kinds(db: sqlite3.Connection) -> set[tuple[str, str, str]]:
    """Every recorded (ledger table, field, kind)."""
    return {
        (table, name, kind)
        for table, name, kind in db.execute(
            "SELECT ledger_table, field, ion_kind FROM ledger_field_types"
        )
    }


def field_types(db: sqlite3.Connection) -> dict[str, dict[str, frozenset[IonKind]]]:
    """ledger table -> field -> recorded kinds (kinds this version does not know are ignored)."""
    return field_types_of(
        db.execute("SELECT ledger_table, field, ion_kind FROM ledger_field_types")
    )


def refresh(
    db: sqlite3.Connection, mapping: ViewMapping, *, leave_out: Collection[str] = ()
) -> ViewsPlan:
    """Drop the views qldb-cdc created and create the planned ones, in one transaction.

    The caller owns the transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``). Names of objects that
    qldb-cdc did not create are never taken: automatic names avoid them; a mapped name that
    clashes with one is a ConfigError.
    """
    previous = previous_names(
        db.execute("SELECT view_name, ledger_table, kind FROM qldb_cdc_views").fetchall(),
        db.execute("SELECT view_name, column_name, field FROM qldb_cdc_view_columns").fetchall(),
    )
    for (name,) in db.execute("SELECT view_name FROM qldb_cdc_views").fetchall():
        db.execute(f"DROP VIEW IF EXISTS {quote_identifier(name)}")
    db.execute("DELETE FROM qldb_cdc_views")
    db.execute("DELETE FROM qldb_cdc_view_columns")
    naming = _naming(db)
    tables = [t for (t,) in db.execute("SELECT DISTINCT ledger_table FROM documents")]
    plan = plan_views(
        tables, field_types(db), mapping, naming, leave_out=leave_out, previous=previous
    )
    for view in plan.views:
        _create(db, view)
    return plan


def _naming(db: sqlite3.Connection) -> Naming:
    naming = Naming("SQLite", reserved_prefixes=("sqlite_",), fold_ascii_case=True)
    existing = {
        naming.key(name)
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE name IS NOT NULL")
    }
    return Naming(
        "SQLite",
        reserved=frozenset({naming.key(n) for n in PROJECTION_OBJECTS} | existing),
        reserved_prefixes=("sqlite_",),
        fold_ascii_case=True,
    )


def _create(db: sqlite3.Connection, view: ViewPlan) -> None:
    table = quote_literal(view.ledger_table)
    for name, kind, metadata, source, where in (
        (view.view, "current", CURRENT_COLUMNS, "documents", "AND deleted = 0"),
        (view.history_view, "history", HISTORY_COLUMNS, "revisions", ""),
    ):
        names = [*metadata, *(c.name for c in view.columns)]
        exprs = [*metadata, *(column_expression(c) for c in view.columns)]
        statement = (
            f"CREATE VIEW {quote_identifier(name)} "
            f"({', '.join(quote_identifier(n) for n in names)}) AS SELECT {', '.join(exprs)} "
            f"FROM {source} WHERE ledger_table = {table} {where}"
        )
        try:
            db.execute(statement)
        except sqlite3.OperationalError as exc:
            if "already exists" in str(exc):
                msg = (
                    f"SQLite already has an object named {name!r} that qldb-cdc did not "
                    "create: rename it, or map the view to another name (--view-mapping)"
                )
                raise ConfigError(msg) from exc
            raise
        db.execute(
            "INSERT INTO qldb_cdc_views (view_name, ledger_table, kind) VALUES (?, ?, ?)",
            (name, view.ledger_table, kind),
        )
        db.executemany(
            "INSERT INTO qldb_cdc_view_columns (view_name, position, column_name, field, "
            "column_type, ion_kinds) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (name, position, c.name, c.field, c.type.value, ",".join(sorted(c.kinds)))
                for position, c in enumerate(view.columns, start=len(metadata))
            ],
        )


def column_expression(column: ViewColumn) -> str:
    """The SQL expression reading ``column`` from a row's ``data`` (see the module docstring).

    A type the mapping file chose (not the kinds' own) is checked against each value's JSON
    type first (``json_type``): a value that does not have it reads as NULL, as in PostgreSQL.
    """
    name = column.field
    if _SIMPLE_PATH_FORBIDDEN.isdisjoint(name):
        path = quote_literal(f'$."{name}"')
        if column.type in (ColumnType.NUMERIC, ColumnType.JSON):
            plain = f"nullif(data -> {path}, 'null')"
        else:
            plain = f"json_extract(data, {path})"
        if column.type is column_type(column.kinds) or column.type is ColumnType.JSON:
            return plain
        if column.type is ColumnType.TEXT:  # any value as text, as PostgreSQL's ->> gives it
            kind = f"json_type(data, {path})"
            return f"CASE WHEN {kind} = 'text' THEN {plain} ELSE nullif(data -> {path}, 'null') END"
        check = _MAPPED_CHECKS[column.type].format(t=f"json_type(data, {path})", v=plain)
        value = f"substr({plain}, 1, 10)" if column.type is ColumnType.DATE else plain
        return f"CASE WHEN {check} THEN {value} END"
    key = quote_literal(name)
    return f"(SELECT value FROM json_each(data) WHERE key = {key} LIMIT 1)"


_ISO_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_MAPPED_CHECKS = {
    ColumnType.BIGINT: "{t} = 'integer'",
    ColumnType.NUMERIC: "{t} IN ('integer', 'real')",
    ColumnType.DOUBLE: "{t} IN ('integer', 'real')",
    ColumnType.BOOLEAN: "{t} IN ('true', 'false')",
    ColumnType.TIMESTAMPTZ: "{t} = 'text' AND {v} GLOB '" + _ISO_DAY + "T[0-9][0-9]:[0-9][0-9]*'",
    ColumnType.DATE: "{t} = 'text' AND {v} GLOB '" + _ISO_DAY + "*'",
    ColumnType.BYTES: "{t} = 'text'",
}
"""For a mapped type: the values that have it (``{t}`` the JSON type, ``{v}`` the value)."""


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
