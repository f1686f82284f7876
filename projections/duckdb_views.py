"""DuckDB views over the S3 projection's JSON objects, typed from the recorded field kinds.
Pure (no I/O).

``read_json_auto`` guesses column types from a sample: on this layout it types every table's
``data`` like the first table's, drops fields the sample never saw and reads decimals as
``DOUBLE`` (issue found with DuckDB 2.0). :func:`build` declares every column instead, from the
kinds and numeric shapes the projection recorded (``_field_types/``), so nothing depends on
sampling. Per ledger table two views (names from :func:`projections.view_plan.plan_views`, as in
SQLite: DuckDB compares identifiers case-insensitively):

* ``"<table>"`` over ``<root>/<table segment>/current/*.json``: live documents (``document_id``,
  ``version``, ``tx_time``, then one column per top-level field);
* ``"<table>_history"`` over ``<root>/<table segment>/revisions/*/*.json``: every revision
  (``document_id``, ``version``, ``tx_id``, ``tx_time``, ``deleted``, ``redacted``, fields).

``root`` is ``s3://bucket/prefix`` (DuckDB's ``httpfs``) or a local copy of the objects.

Types: ``text`` -> ``VARCHAR``, ``bigint`` -> ``BIGINT``, ``numeric`` -> the exact
``DECIMAL(p, s)`` of the recorded shape (``projections/recorded_kinds.py``), or ``DOUBLE`` with a
warning when it needs more than 38 digits or no shape was recorded; ``double`` -> ``DOUBLE``
(``nan``, ``+inf``, ``-inf`` included), ``boolean`` -> ``BOOLEAN``, ``timestamptz`` ->
``TIMESTAMPTZ``, ``date`` -> ``DATE``, ``bytes`` -> ``BLOB`` (from base64), ``json`` ->
``JSON``. Columns that read exactly as declared (strings, 64-bit ints, decimals, booleans) are
declared with their type in ``read_json``; the others are read as ``VARCHAR``/``JSON`` and
converted with ``TRY_CAST`` (a value that does not convert is NULL, never a failing query), as
is every column whose type the mapping file chose.

DuckDB's struct keys ignore case: of fields whose names differ only in case, the first by name
gets a column and the others are left out with a warning.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from core.column_types import ColumnType
from projections import s3_keys
from projections.recorded_kinds import NumericShape, with_int_digits
from projections.view_plan import (
    FieldTypes,
    Naming,
    ViewColumn,
    ViewPlan,
    ViewsPlan,
    plan_views,
)
from schemas.view_mapping import ViewMapping

METADATA_TYPES = (
    ("ledgerTable", "VARCHAR"),
    ("documentId", "VARCHAR"),
    ("version", "BIGINT"),
    ("deleted", "BOOLEAN"),
    ("redacted", "BOOLEAN"),
    ("txId", "VARCHAR"),
    ("txTime", "VARCHAR"),
    ("revisionHash", "VARCHAR"),
    ("dataHash", "VARCHAR"),
    ("blockStrand", "VARCHAR"),
    ("blockSeq", "BIGINT"),
)
"""Every object's metadata keys and how they are read."""

_METADATA_SELECT = {
    "document_id": "documentId",
    "version": "version",
    "tx_id": "txId",
    "tx_time": "TRY_CAST(txTime AS TIMESTAMPTZ)",
    "deleted": "deleted",
    "redacted": "redacted",
}

_DECLARED = {
    ColumnType.TEXT: "VARCHAR",
    ColumnType.BIGINT: "BIGINT",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.JSON: "JSON",
}
"""Types read exactly as declared in ``read_json`` (when the kinds, not a mapping, chose them)."""


@dataclass(frozen=True, slots=True)
class DuckDbViews:
    """The views' SQL and what was left out."""

    plan: ViewsPlan
    statements: tuple[str, ...]
    warnings: tuple[str, ...]

    def text(self) -> str:
        """Every statement, each ending with ``;`` and a newline."""
        return "".join(f"{s};\n\n" for s in self.statements)


def build(
    tables: Iterable[str],
    field_types: FieldTypes,
    shapes: Mapping[str, Mapping[str, NumericShape]],
    mapping: ViewMapping,
    root: str,
    *,
    leave_out: Collection[str] = (),
) -> DuckDbViews:
    """The ``CREATE OR REPLACE VIEW`` statements of ``tables`` (see the module docstring)."""
    naming = Naming("DuckDB", fold_ascii_case=True)
    plan = plan_views(tables, field_types, mapping, naming, leave_out=leave_out)
    warnings = list(plan.warnings)
    statements: list[str] = []
    base = root.rstrip("/")
    for view in plan.views:
        columns = _struct_columns(view, warnings)
        table_shapes = shapes.get(view.ledger_table, {})
        folder = f"{base}/{s3_keys.table_segment(view.ledger_table)}"
        for name, metadata, glob, where in (
            (view.view, ("document_id", "version", "tx_time"), "current/*.json", "NOT deleted"),
            (
                view.history_view,
                ("document_id", "version", "tx_id", "tx_time", "deleted", "redacted"),
                "revisions/*/*.json",
                "",
            ),
        ):
            read = _read_json(f"{folder}/{glob}", columns, table_shapes)
            selected = [f"{_METADATA_SELECT[m]} AS {quote_identifier(m)}" for m in metadata]
            selected += [
                f"{_select(c, table_shapes)} AS {quote_identifier(c.name)}" for c in columns
            ]
            statement = (
                f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT "
                + ", ".join(selected)
                + f" FROM {read}"
                + (f" WHERE {where}" if where else "")
            )
            statements.append(statement)
        for column in columns:
            if column.type is ColumnType.NUMERIC and _exact_shape(column, table_shapes) is None:
                warnings.append(
                    f"ledger table {view.ledger_table!r} field {column.field!r}: no exact DuckDB "
                    "decimal (more than 38 digits, or no shape recorded): read as DOUBLE"
                )
    return DuckDbViews(plan, tuple(statements), tuple(warnings))


def _struct_columns(view: ViewPlan, warnings: list[str]) -> list[ViewColumn]:
    """The columns whose keys DuckDB can tell apart (struct keys ignore case)."""
    kept: dict[str, ViewColumn] = {}
    for column in sorted(view.columns, key=lambda c: c.field):
        key = column.field.casefold()
        if key in kept:
            warnings.append(
                f"ledger table {view.ledger_table!r}: field {column.field!r} left out of the "
                f"DuckDB views (DuckDB struct keys ignore case; {kept[key].field!r} kept)"
            )
            continue
        kept[key] = column
    return list(kept.values())


def _exact_shape(column: ViewColumn, shapes: Mapping[str, NumericShape]) -> NumericShape | None:
    """The shape of a numeric column that DuckDB holds exactly, else ``None``."""
    if column.type is not ColumnType.NUMERIC:
        return None
    shape = with_int_digits(shapes.get(column.field), column.kinds)
    return shape if shape is not None and shape.exact else None


def _read_type(column: ViewColumn, shapes: Mapping[str, NumericShape]) -> str:
    """How the field is read from the JSON (see the module docstring)."""
    shape = _exact_shape(column, shapes)
    if shape is not None:
        return f"DECIMAL({shape.precision}, {shape.scale})"
    if column.mapped:
        return "JSON"  # a chosen type may not be the values' own: convert with TRY_CAST
    return _DECLARED.get(column.type, "JSON")


_CONVERTED = {
    ColumnType.BIGINT: "TRY_CAST({text} AS BIGINT)",
    ColumnType.BOOLEAN: "TRY_CAST({text} AS BOOLEAN)",
    ColumnType.TIMESTAMPTZ: "TRY_CAST({text} AS TIMESTAMPTZ)",
    ColumnType.DATE: "TRY_CAST({text} AS DATE)",
    ColumnType.DOUBLE: "TRY_CAST(replace({text}, '+inf', 'inf') AS DOUBLE)",
    ColumnType.NUMERIC: "TRY_CAST(replace({text}, '+inf', 'inf') AS DOUBLE)",
    ColumnType.BYTES: "TRY(from_base64({text}))",
    ColumnType.TEXT: "{text}",
}
"""Columns read as ``JSON`` and converted: ``{text}`` is the value as text (a string unquoted)."""


def _select(column: ViewColumn, shapes: Mapping[str, NumericShape]) -> str:
    value = f"data.{quote_identifier(column.field)}"
    if _read_type(column, shapes) != "JSON" or column.type is ColumnType.JSON:
        return value
    return _CONVERTED[column.type].format(text=f"json_extract_string({value}, '$')")


def _read_json(glob: str, columns: list[ViewColumn], shapes: Mapping[str, NumericShape]) -> str:
    if columns:
        fields = ", ".join(f"{quote_identifier(c.field)} {_read_type(c, shapes)}" for c in columns)
        data_type = f"STRUCT({fields})"
    else:
        data_type = "JSON"
    declared = [*METADATA_TYPES, ("data", data_type)]
    spec = ", ".join(f"{quote_literal(k)}: {quote_literal(t)}" for k, t in declared)
    return f"read_json({quote_literal(glob)}, columns = {{{spec}}}, format = 'auto')"


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"
