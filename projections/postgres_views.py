"""Typed views in the PostgreSQL projection: the Ion kinds of each field, and one view per
ledger table for its current state and one for its history (``projections/view_plan.py``).

Tables, in the projection's schema (created if missing):

* ``ledger_field_types`` — ``(ledger_table, field, ion_kind)``, every Ion kind seen for a
  top-level field, once; written in the transaction that writes the documents.
* ``qldb_cdc_views`` — the views qldb-cdc created (``view_schema``, ``view_name``,
  ``ledger_table``, ``kind``); a refresh drops exactly these (in whichever schema they are),
  never anything else.
* ``qldb_cdc_view_columns`` — each view's field columns: ``column_name``, ``field``,
  ``column_type`` (the logical type), ``ion_kinds`` (comma-separated), in order.

The views live in a schema of their own (default ``ledger``; ``ledger_views`` when the
projection's tables are in ``ledger``; ``?view_schema=`` chooses). Each logical type is read
from ``data`` (``jsonb``) as its PostgreSQL type: ``text``, ``bigint``, ``numeric`` (exact:
``jsonb`` numbers are ``numeric``), ``double precision`` (``nan``/``+inf``/``-inf`` strings
included), ``boolean``, ``timestamptz``, ``date``, ``bytea`` (from base64) and ``jsonb``. Each
expression checks the JSON type (and the text's form) first, so a value of another type reads as
NULL instead of failing the query; ``tx_time`` is the ``timestamptz`` column ``tx_time_utc``.
A ledger table with at most :data:`NARROW_FIELDS` view columns reads each field through
``data -> 'field'``: PostgreSQL computes only the columns a query uses (2-3x faster than one
``jsonb_to_record`` per row for a filter or an aggregate over a few columns,
``bench/bench_postgres_views.py``), at the price of detoasting a large document once per column
used. A wider table reads its fields from one ``jsonb_to_record(data)`` per row (a large
document is detoasted once, not once per column: ``SELECT *`` of 1,200 fields of a 3 MB
document takes 0.6 s instead of 28 s); field names longer than 63 bytes always through
``data -> 'field'``.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from core.column_types import ColumnType
from core.errors import ConfigError
from core.ion_kinds import IonKind
from projections.recorded_kinds import KindTriple, field_types_of
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

DEFAULT_VIEW_SCHEMA = "ledger"
"""The schema of the typed views unless ``?view_schema=`` says otherwise."""
FALLBACK_VIEW_SCHEMA = "ledger_views"
"""The views' schema when the projection's own tables are in ``ledger``."""
MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL cuts longer identifiers (NAMEDATALEN - 1)."""
NARROW_FIELDS = 32
"""A view of at most this many field columns reads each through ``data -> 'field'`` (only the
columns a query uses are computed); a wider one through one ``jsonb_to_record`` per row."""
VIEWS_LOCK_KEY = 0x716C6476
"""Advisory lock serialising concurrent refreshes of the views."""

OWN_OBJECTS = PROJECTION_OBJECTS | {"qldb_cdc_stage", "qldb_cdc_probe"}
"""The projection's own tables and views (and PostgreSQL's staging tables): no typed view takes
these names in their schema."""

_METADATA_SQL = {
    "document_id": "d.document_id",
    "version": "d.version",
    "tx_id": "d.tx_id",
    "tx_time": "d.tx_time_utc",
    "deleted": "d.deleted",
    "redacted": "d.redacted",
}

# Regular expressions inside sql.SQL templates: braces doubled.
_TIMESTAMP_PATTERN = r"^\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}"
_DATE_PATTERN = r"^\d{{4}}-\d{{2}}-\d{{2}}"


def view_schema_for(schema: str | None, chosen: str | None) -> str:
    """The schema of the views: ``chosen``, else ``ledger`` unless the tables are there."""
    if chosen is not None:
        return chosen
    return FALLBACK_VIEW_SCHEMA if schema == DEFAULT_VIEW_SCHEMA else DEFAULT_VIEW_SCHEMA


class ViewStatements:
    """The statements of the kinds record and of the views' bookkeeping in ``schema``."""

    def __init__(self, schema: str | None) -> None:
        """Compose them for the projection's ``schema`` (``None``: the search path)."""
        self.schema = schema

        def table(name: str) -> sql.Identifier:
            return sql.Identifier(name) if schema is None else sql.Identifier(schema, name)

        self.field_types = table("ledger_field_types")
        self.views = table("qldb_cdc_views")
        self.columns = table("qldb_cdc_view_columns")
        self.documents = table("documents")
        self.revisions = table("revisions")
        self.ddl = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (ledger_table text NOT NULL, field text NOT NULL,"
                " ion_kind text NOT NULL, PRIMARY KEY (ledger_table, field, ion_kind))"
            ).format(self.field_types),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (view_schema text NOT NULL, view_name text NOT NULL,"
                " ledger_table text NOT NULL, kind text NOT NULL,"
                " PRIMARY KEY (view_schema, view_name))"
            ).format(self.views),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (view_schema text NOT NULL, view_name text NOT NULL,"
                " position integer NOT NULL, column_name text NOT NULL, field text NOT NULL,"
                " column_type text NOT NULL, ion_kinds text NOT NULL,"
                " PRIMARY KEY (view_schema, view_name, position))"
            ).format(self.columns),
        ]
        self.insert_kinds = sql.SQL(
            "INSERT INTO {} (ledger_table, field, ion_kind)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
            " ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING"
        ).format(self.field_types)
        self.select_kinds = sql.SQL("SELECT ledger_table, field, ion_kind FROM {}").format(
            self.field_types
        )


def record_kinds(
    cur: psycopg.Cursor[tuple[object, ...]], statements: ViewStatements, kinds: list[KindTriple]
) -> None:
    """Insert the triples once each (the caller owns the transaction)."""
    tables, fields, names = zip(*sorted(kinds), strict=True)
    cur.execute(statements.insert_kinds, (list(tables), list(fields), list(names)))


def known_kinds(
    conn: psycopg.Connection[tuple[object, ...]], statements: ViewStatements
) -> set[KindTriple]:
    """Every recorded (ledger table, field, kind)."""
    with conn.transaction():
        rows = conn.execute(statements.select_kinds).fetchall()
    return {(str(t), str(f), str(k)) for t, f, k in rows}


def field_types(
    conn: psycopg.Connection[tuple[object, ...]], statements: ViewStatements
) -> dict[str, dict[str, frozenset[IonKind]]]:
    """ledger table -> field -> recorded kinds (kinds this version does not know are ignored)."""
    with conn.transaction(), conn.cursor() as cur:
        return _field_types_of(cur, statements)


def refresh(
    conn: psycopg.Connection[tuple[object, ...]],
    statements: ViewStatements,
    view_schema: str,
    mapping: ViewMapping,
    *,
    leave_out: Collection[str] = (),
) -> ViewsPlan:
    """Drop the views qldb-cdc created and create the planned ones in ``view_schema``, in one
    transaction (other refreshes wait on an advisory lock).

    Names of objects that qldb-cdc did not create are never taken: automatic names avoid them; a
    mapped name that clashes with one is a ConfigError, as is a view of ours that another
    object depends on (it cannot be dropped) or a schema that cannot be created.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (VIEWS_LOCK_KEY,))
        _create_schema(cur, view_schema)
        previous = previous_names(
            [
                (str(v), str(t), str(k))
                for v, t, k in cur.execute(
                    sql.SQL(
                        "SELECT view_name, ledger_table, kind FROM {} WHERE view_schema = %s"
                    ).format(statements.views),
                    (view_schema,),
                ).fetchall()
            ],
            [
                (str(v), str(c), str(f))
                for v, c, f in cur.execute(
                    sql.SQL(
                        "SELECT view_name, column_name, field FROM {} WHERE view_schema = %s"
                    ).format(statements.columns),
                    (view_schema,),
                ).fetchall()
            ],
        )
        for schema, name in cur.execute(
            sql.SQL("SELECT view_schema, view_name FROM {}").format(statements.views)
        ).fetchall():
            _drop(cur, str(schema), str(name))
        cur.execute(sql.SQL("DELETE FROM {}").format(statements.views))
        cur.execute(sql.SQL("DELETE FROM {}").format(statements.columns))
        naming = _naming(cur, view_schema, own=_same_schema(cur, statements.schema, view_schema))
        tables = [
            str(t)
            for (t,) in cur.execute(
                sql.SQL("SELECT DISTINCT ledger_table FROM {}").format(statements.documents)
            ).fetchall()
        ]
        kinds = _field_types_of(cur, statements)
        plan = plan_views(tables, kinds, mapping, naming, leave_out=leave_out, previous=previous)
        for view in plan.views:
            _create(cur, statements, view_schema, view)
    return plan


def _field_types_of(
    cur: psycopg.Cursor[tuple[object, ...]], statements: ViewStatements
) -> dict[str, dict[str, frozenset[IonKind]]]:
    rows = cur.execute(statements.select_kinds).fetchall()
    return field_types_of((str(t), str(f), str(k)) for t, f, k in rows)


def _create_schema(cur: psycopg.Cursor[tuple[object, ...]], view_schema: str) -> None:
    try:
        with cur.connection.transaction():
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(view_schema))
            )
    except pg_errors.InsufficientPrivilege as exc:
        msg = (
            f"PostgreSQL: no permission to create the view schema {view_schema!r}: create it "
            "(and grant CREATE on it), or choose another with ?view_schema=NAME"
        )
        raise ConfigError(msg) from exc


def _drop(cur: psycopg.Cursor[tuple[object, ...]], schema: str, name: str) -> None:
    try:
        with cur.connection.transaction():
            cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(schema, name)))
    except pg_errors.DependentObjectsStillExist as exc:
        msg = (
            f"PostgreSQL: other objects depend on the view {schema}.{name} that qldb-cdc "
            f"refreshes ({exc.diag.message_detail or 'see DROP VIEW'}): drop them first, or "
            "leave the table out (--view-mapping skip)"
        )
        msg = " ".join(msg.split())
        raise ConfigError(msg) from exc
    except pg_errors.WrongObjectType:
        pass  # a table the user made under that name after ours was dropped: not ours


def _same_schema(
    cur: psycopg.Cursor[tuple[object, ...]], schema: str | None, view_schema: str
) -> bool:
    if schema is not None:
        return schema == view_schema
    row = cur.execute("SELECT current_schema()").fetchone()
    return row is not None and row[0] == view_schema


def _naming(cur: psycopg.Cursor[tuple[object, ...]], view_schema: str, *, own: bool) -> Naming:
    """Reserve every relation and type name of ``view_schema`` (ours were just dropped), and
    the projection's own names when it shares the schema."""
    rows = cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s"
        " UNION SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        " WHERE n.nspname = %s",
        (view_schema, view_schema),
    ).fetchall()
    reserved = {str(name) for (name,) in rows}
    if own:
        reserved |= OWN_OBJECTS
    return Naming("PostgreSQL", reserved=frozenset(reserved), max_bytes=MAX_IDENTIFIER_BYTES)


def _create(
    cur: psycopg.Cursor[tuple[object, ...]],
    statements: ViewStatements,
    view_schema: str,
    view: ViewPlan,
) -> None:
    for name, kind, metadata, source, where in (
        (view.view, "current", CURRENT_COLUMNS, statements.documents, " AND NOT d.deleted"),
        (view.history_view, "history", HISTORY_COLUMNS, statements.revisions, ""),
    ):
        names = [*metadata, *(c.name for c in view.columns)]
        in_record = set(_record_fields(view.columns))
        exprs: list[sql.Composable] = [sql.SQL(_METADATA_SQL[m]) for m in metadata]
        exprs += [column_expression(c, in_record=c.field in in_record) for c in view.columns]
        source_sql: sql.Composable = sql.SQL("{} d").format(source)
        if in_record:
            # A wide table: one jsonb_to_record call per row reads every field from one
            # detoasted copy of ``data``; ``d.data -> 'field'`` per column would detoast a large
            # document once per column (seconds per row for wide documents near QLDB's 128 KB).
            source_sql = sql.SQL("{} CROSS JOIN LATERAL jsonb_to_record(d.data) AS r({})").format(
                source_sql,
                sql.SQL(", ").join(
                    sql.SQL("{} jsonb").format(sql.Identifier(f)) for f in sorted(in_record)
                ),
            )
        template = sql.SQL("CREATE VIEW {} ({}) AS SELECT {} FROM {} WHERE d.ledger_table = {}")
        statement = template.format(
            sql.Identifier(view_schema, name),
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
            sql.SQL(", ").join(exprs),
            source_sql,
            sql.Literal(view.ledger_table),
        ) + sql.SQL(where)
        try:
            with cur.connection.transaction():
                cur.execute(statement)
        except pg_errors.DuplicateTable as exc:
            msg = (
                f"PostgreSQL already has an object named {view_schema}.{name} that qldb-cdc did "
                "not create: rename it, or map the view to another name (--view-mapping)"
            )
            raise ConfigError(msg) from exc
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (view_schema, view_name, ledger_table, kind)"
                " VALUES (%s, %s, %s, %s)"
            ).format(statements.views),
            (view_schema, name, view.ledger_table, kind),
        )
        rows = [
            (view_schema, name, position, c.name, c.field, c.type.value, ",".join(sorted(c.kinds)))
            for position, c in enumerate(view.columns, start=len(metadata))
        ]
        if rows:
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {} (view_schema, view_name, position, column_name, field,"
                    " column_type, ion_kinds) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ).format(statements.columns),
                rows,
            )


def column_expression(column: ViewColumn, *, in_record: bool) -> sql.Composable:
    """The SQL expression reading ``column`` (see the module docstring): from the row's
    ``jsonb_to_record`` column ``r."<field>"`` when ``in_record``, else from ``d.data``."""
    if in_record:
        value: sql.Composable = sql.SQL("r.{}").format(sql.Identifier(column.field))
    else:
        value = sql.SQL("(d.data -> {})").format(sql.Literal(column.field))
    text = sql.SQL("({} #>> '{{}}')").format(value)
    template = _EXPRESSIONS[column.type]
    return sql.SQL(template).format(v=value, t=text)


def _record_fields(columns: Collection[ViewColumn]) -> list[str]:
    """The fields read through ``jsonb_to_record``: none for a table of at most
    :data:`NARROW_FIELDS` columns, else those whose names PostgreSQL does not cut."""
    if len(columns) <= NARROW_FIELDS:
        return []
    return [c.field for c in columns if len(c.field.encode("utf-8")) <= MAX_IDENTIFIER_BYTES]


_EXPRESSIONS: dict[ColumnType, str] = {
    ColumnType.TEXT: "{t}",
    ColumnType.BIGINT: (
        "CASE WHEN jsonb_typeof({v}) = 'number' THEN CASE WHEN {t} ~ '^-?[0-9]{{1,19}}$' THEN"
        " CASE WHEN {t}::numeric BETWEEN -9223372036854775808 AND 9223372036854775807"
        " THEN {t}::bigint END END END"
    ),
    ColumnType.NUMERIC: "CASE WHEN jsonb_typeof({v}) = 'number' THEN {t}::numeric END",
    ColumnType.DOUBLE: (
        "CASE WHEN jsonb_typeof({v}) = 'number' THEN"
        " CASE WHEN abs({t}::numeric) <= 1.7976931348623157e308 THEN {t}::double precision END"
        " WHEN jsonb_typeof({v}) = 'string' THEN CASE {t} WHEN 'nan' THEN 'NaN'::double precision"
        " WHEN '+inf' THEN 'Infinity'::double precision"
        " WHEN '-inf' THEN '-Infinity'::double precision END END"
    ),
    ColumnType.BOOLEAN: "CASE WHEN jsonb_typeof({v}) = 'boolean' THEN {t}::boolean END",
    ColumnType.TIMESTAMPTZ: (
        "CASE WHEN jsonb_typeof({v}) = 'string' THEN CASE WHEN {t} ~ '" + _TIMESTAMP_PATTERN + "'"
        # Fractions beyond microseconds are cut, not rounded as PostgreSQL's input would: the
        # same instant as tx_time_utc, the SQLite text, Parquet and DuckDB.
        " THEN regexp_replace({t}, '(\\.[0-9]{{6}})[0-9]+', '\\1')::timestamptz END END"
    ),
    ColumnType.DATE: (
        "CASE WHEN jsonb_typeof({v}) = 'string' THEN CASE WHEN {t} ~ '" + _DATE_PATTERN + "'"
        " THEN left({t}, 10)::date END END"
    ),
    ColumnType.BYTES: (
        "CASE WHEN jsonb_typeof({v}) = 'string' THEN"
        " CASE WHEN {t} ~ '^([A-Za-z0-9+/]{{4}})*([A-Za-z0-9+/]{{2}}==|[A-Za-z0-9+/]{{3}}=)?$'"
        " THEN decode({t}, 'base64') END END"
    ),
    ColumnType.JSON: "nullif({v}, 'null'::jsonb)",
}
"""One expression per type; ``{v}`` is the field's ``jsonb`` value, ``{t}`` its text."""
