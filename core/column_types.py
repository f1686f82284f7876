"""The SQL column type of a document field, from the Ion kinds seen for it. Pure.

Every projection that builds typed views keeps the union of :class:`~core.ion_kinds.IonKind`
seen per (ledger table, top-level field); :func:`column_type` turns such a set into one
:class:`ColumnType`, and each dialect names it (``projections/view_plan.py``).

The rule (README "Typed views"): ``null`` says nothing about the type and is ignored; one kind
maps to its type; a few mixes widen without loss (``int`` with ``int_big`` or ``decimal`` is
``numeric``, ``string`` with ``symbol`` is ``text``, timestamps of different precisions with
each other or with strings are ``text`` (ISO-8601 text, as stored), ``blob`` with ``clob`` is
``bytes``,
``list`` with ``sexp`` is ``json``); every other mix is ``json``, the value exactly as stored,
so a view never rounds a number or fails on a row.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from core.ion_kinds import IonKind


class ColumnType(enum.StrEnum):
    """A column's logical type; each SQL dialect names it its own way."""

    TEXT = "text"
    BIGINT = "bigint"
    NUMERIC = "numeric"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TIMESTAMPTZ = "timestamptz"
    DATE = "date"
    BYTES = "bytes"
    JSON = "json"


_SINGLE: dict[IonKind, ColumnType] = {
    IonKind.BOOL: ColumnType.BOOLEAN,
    IonKind.INT: ColumnType.BIGINT,
    IonKind.INT_BIG: ColumnType.NUMERIC,
    IonKind.FLOAT: ColumnType.DOUBLE,
    IonKind.DECIMAL: ColumnType.NUMERIC,
    IonKind.TIMESTAMP: ColumnType.TIMESTAMPTZ,
    IonKind.DATE: ColumnType.DATE,
    IonKind.TIMESTAMP_COARSE: ColumnType.TEXT,
    IonKind.STRING: ColumnType.TEXT,
    IonKind.SYMBOL: ColumnType.TEXT,
    IonKind.BLOB: ColumnType.BYTES,
    IonKind.CLOB: ColumnType.BYTES,
    IonKind.STRUCT: ColumnType.JSON,
    IonKind.LIST: ColumnType.JSON,
    IonKind.SEXP: ColumnType.JSON,
}
_WIDENINGS: tuple[tuple[frozenset[IonKind], ColumnType], ...] = (
    (frozenset({IonKind.INT, IonKind.INT_BIG, IonKind.DECIMAL}), ColumnType.NUMERIC),
    (frozenset({IonKind.STRING, IonKind.SYMBOL}), ColumnType.TEXT),
    # Every one of these is a JSON string (timestamps as ISO-8601 text): text keeps it exactly.
    (
        frozenset(
            {
                IonKind.STRING,
                IonKind.SYMBOL,
                IonKind.TIMESTAMP,
                IonKind.DATE,
                IonKind.TIMESTAMP_COARSE,
            }
        ),
        ColumnType.TEXT,
    ),
    (frozenset({IonKind.BLOB, IonKind.CLOB}), ColumnType.BYTES),
    (frozenset({IonKind.LIST, IonKind.SEXP}), ColumnType.JSON),
)


def column_type(kinds: Iterable[IonKind]) -> ColumnType:
    """The column type for a field seen with ``kinds`` (see the module docstring).

    A field only ever seen as ``null`` (or with no kinds at all) is ``text``.
    """
    seen = frozenset(kinds) - {IonKind.NULL}
    if not seen:
        return ColumnType.TEXT
    if len(seen) == 1:
        return _SINGLE[next(iter(seen))]
    for family, widened in _WIDENINGS:
        if seen <= family:
            return widened
    return ColumnType.JSON
