"""The Ion type of a document's top-level field, as seen when the revision was decoded.

A projection stores documents as JSON, which cannot tell a timestamp, a symbol or a blob from a
string, nor a decimal from a float. The decoder therefore notes, for each top-level field of a
revision's data, the :class:`IonKind` of its value (:attr:`core.model.Change.field_kinds`), and
projections keep the union of the kinds seen per (ledger table, field): the typed views are
built from that record alone. Union is commutative and idempotent, so the record is the same
for any order and duplication of the input. Pure.
"""

from __future__ import annotations

import enum


class IonKind(enum.StrEnum):
    """What a top-level field held in one revision; stored by its value (a short text)."""

    NULL = "null"
    """``null`` or a typed null: says the field exists, not its type."""
    BOOL = "bool"
    INT = "int"
    """An Ion ``int`` within signed 64 bits."""
    INT_BIG = "int_big"
    """An Ion ``int`` beyond signed 64 bits."""
    FLOAT = "float"
    DECIMAL = "decimal"
    TIMESTAMP = "timestamp"
    """An Ion ``timestamp`` with minute precision or finer (it has a time and an offset)."""
    DATE = "date"
    """An Ion ``timestamp`` with day precision (``2021-02-09``)."""
    TIMESTAMP_COARSE = "timestamp_coarse"
    """An Ion ``timestamp`` with year or month precision (``2021T``, ``2021-02T``)."""
    STRING = "string"
    SYMBOL = "symbol"
    BLOB = "blob"
    CLOB = "clob"
    STRUCT = "struct"
    LIST = "list"
    SEXP = "sexp"


FieldKinds = tuple[tuple[str, IonKind], ...]
"""(field name, kind) of each top-level field of one revision, in document order."""
