"""Athena / Glue ``CREATE EXTERNAL TABLE`` statements for the S3 projection. Pure (no I/O).

From the Ion kinds the S3 projection recorded (``_field_types/``), the mapping file and the
bucket and prefix, :func:`build` plans two tables per ledger table (README "S3 / Athena"):

* ``<table>``: ``LOCATION 's3://bucket/prefix/<table segment>/current/'``, one row per
  document, its current state (tombstones included: ``WHERE NOT deleted``);
* ``<table>_history`` (the current table's name and ``_history``): ``LOCATION
  '.../<table segment>/revisions/'``, one row per revision. Its objects are one level down
  (``revisions/<docId>/<version>.json``); Athena reads every object under a non-partitioned
  table's location (AWS: "Athena reads all data stored in the Amazon S3 folder that you
  specify"), sub-prefixes included.

Both read the object body with the OpenX JSON SerDe: the metadata fields as snake_case columns
(``ledger_table``, ``document_id``, ``version bigint``, ``deleted boolean``...) and ``data`` as
a ``struct<...>`` of the typed top-level fields (``string`` when no field was recorded).

Types (:data:`HIVE_TYPES`): ``bigint``, ``double``, ``boolean`` and ``date`` as such; ``numeric``
is the exact ``decimal(p,s)`` of its recorded shape (``projections/recorded_kinds.py``: the
widest integer part and scale seen) when that fits 38 digits, else ``string`` (the exact
digits: the OpenX SerDe keeps a JSON number's text), ``timestamptz`` is ``string`` (ISO-8601
with its offset, which the SerDe's timestamp parser does not take:
``from_iso8601_timestamp(...)``),
``bytes`` is ``string`` (base64: ``from_base64(...)``), ``json`` and ``text`` are ``string``.

Names. Glue names hold lowercase letters, digits and ``_`` only, and Athena compares names
case-insensitively; :func:`athena_name` lowercases ASCII letters and turns every other
character into ``_`` (``First Name`` -> ``first_name``, ``Prénom`` -> ``pr_nom``). A name that
collides with one taken (the metadata columns, another field, another table) gets the first
free suffix ``_2``, ``_3``...; a name over 255 bytes is cut and ends with ``_`` and 8 hex
digits of its hash. Names are claimed in a fixed order (mapped names; current tables, then
history tables; in a table, mapped columns, then fields; names that already are Glue names
before the others, then by name), so the result does not depend on the input's order.

The SerDe reads JSON keys case-sensitively (``'case.insensitive'='false'``: otherwise ``Name``
and ``name`` are a duplicate key) and every column whose name is not its key gets a
``'mapping.<column>'='<key>'`` property. The SerDe applies mappings at every level of
nesting, so a table's metadata columns and ``data``'s fields share one namespace.
Identifiers are quoted with backticks, literals with single quotes (``\\``, ``'`` and control
characters escaped). A name that cannot be a name at all (empty, NUL, lone surrogate) is left
out with a warning; a mapped name must already be a Glue name (ASCII letters are lowercased)
and must not collide, else :class:`~core.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from core.column_types import ColumnType, column_type
from core.errors import ConfigError
from core.ion_kinds import IonKind
from projections import s3_keys
from projections.recorded_kinds import NumericShape, with_int_digits
from projections.view_plan import FieldTypes, Naming, representable, select_fields
from schemas.view_mapping import ViewMapping

SERDE = "org.openx.data.jsonserde.JsonSerDe"
MAX_NAME_BYTES = 255
"""Glue's longest table or column name."""
MAX_TYPE_CHARS = 131_072
"""Glue's longest column type text (the ``data`` struct's)."""
HISTORY_SUFFIX = "_history"

METADATA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ledger_table", "ledgerTable", "string"),
    ("document_id", "documentId", "string"),
    ("version", "version", "bigint"),
    ("deleted", "deleted", "boolean"),
    ("redacted", "redacted", "boolean"),
    ("tx_id", "txId", "string"),
    ("tx_time", "txTime", "string"),
    ("revision_hash", "revisionHash", "string"),
    ("data_hash", "dataHash", "string"),
    ("block_strand", "blockStrand", "string"),
    ("block_seq", "blockSeq", "bigint"),
)
"""(column, key of the object body, Hive type) of the metadata columns, in order."""
DATA_COLUMN = "data"

HIVE_TYPES: Mapping[ColumnType, str] = {
    ColumnType.TEXT: "string",
    ColumnType.BIGINT: "bigint",
    ColumnType.NUMERIC: "string",
    ColumnType.DOUBLE: "double",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.TIMESTAMPTZ: "string",
    ColumnType.DATE: "date",
    ColumnType.BYTES: "string",
    ColumnType.JSON: "string",
}
"""The Hive type of each logical column type (see the module docstring)."""

NAMING = Naming("Athena", fold_ascii_case=True, max_bytes=MAX_NAME_BYTES)
_GLUE_NAME = re.compile(r"[a-z0-9_]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class DdlColumn:
    """One field of ``data``: JSON key ``field`` read as ``hive_type`` into ``name``."""

    field: str
    name: str
    type: ColumnType
    kinds: frozenset[IonKind]
    mapped: bool = False
    shape: NumericShape | None = None

    @property
    def hive_type(self) -> str:
        """The column's Hive type: an exact ``decimal(p,s)`` for a numeric field whose recorded
        shape fits 38 digits, else from ``HIVE_TYPES``."""
        if self.type is ColumnType.NUMERIC and self.shape is not None and self.shape.exact:
            return f"decimal({self.shape.precision},{self.shape.scale})"
        return HIVE_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class DdlTable:
    """The two Athena tables of one ledger table."""

    ledger_table: str
    table: str
    history_table: str
    columns: tuple[DdlColumn, ...]
    current_location: str
    history_location: str

    def statements(self) -> tuple[str, str]:
        """The ``CREATE EXTERNAL TABLE`` statements: current state, then history."""
        return (
            _create(self, self.table, self.current_location, "current state"),
            _create(self, self.history_table, self.history_location, "every revision"),
        )


@dataclass(frozen=True, slots=True)
class AthenaDdl:
    """Every table planned, what was left out and why (one line each)."""

    location: str
    tables: tuple[DdlTable, ...]
    skipped_tables: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def statements(self) -> list[str]:
        """Every statement, in table order."""
        return [s for table in self.tables for s in table.statements()]

    def text(self) -> str:
        """The DDL as printed by ``qldb-cdc views``: a comment header, then the statements,
        separated by blank lines (Athena runs one statement per query)."""
        header = (
            f"-- Athena DDL for the qldb-cdc S3 projection {_one_line(self.location)}\n"
            "-- Run each statement on its own, in the Glue database of your choice.\n"
            "-- IF NOT EXISTS keeps an existing table as it is: to pick up new fields,\n"
            "-- DROP TABLE it first (an external table; the objects in S3 stay).\n"
        )
        return header + "".join(f"\n{statement}\n" for statement in self.statements())


def athena_name(name: str) -> str:
    """``name`` as a Glue name: ASCII letters lowercased, every character outside
    ``a-z 0-9 _`` replaced by ``_`` (not shortened; see :func:`build`)."""
    lowered = name.translate(_ASCII_LOWER)
    return "".join(c if c in _GLUE_CHARS else "_" for c in lowered)


_GLUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def quote_identifier(name: str) -> str:
    """``name`` between backticks, a backtick doubled."""
    return "`" + name.replace("`", "``") + "`"


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted Hive string literal (``\\``, ``'``, control characters
    escaped; other characters as they are)."""
    out = []
    for char in text:
        if char in _LITERAL_ESCAPES:
            out.append(_LITERAL_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


_LITERAL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def location(bucket: str, prefix: str, table: str, folder: str) -> str:
    """``s3://bucket/prefix/<table segment>/<folder>/`` (``folder``: current, revisions).

    Raises:
        UnstorableChangeError: ``table`` has no key segment (empty, lone surrogate).
    """
    root = f"{bucket}/{prefix.strip('/')}" if prefix.strip("/") else bucket
    return f"s3://{root}/{s3_keys.table_segment(table)}/{folder}/"


def build(
    tables: Iterable[str],
    field_types: FieldTypes,
    mapping: ViewMapping,
    bucket: str,
    prefix: str,
    *,
    leave_out: Collection[str] = (),
    shapes: Mapping[str, Mapping[str, NumericShape]] | None = None,
) -> AthenaDdl:
    """Plan the Athena tables of ``tables`` (see the module docstring).

    ``leave_out`` tables, and mapped tables with ``skip``, get none. ``shapes`` are the
    recorded numeric shapes (``projections/recorded_kinds.py``): a numeric field whose values
    fit ``decimal(38, s)`` gets that exact type, others stay ``string``.

    Raises:
        ConfigError: a mapped name is not a Glue name, or collides.
    """
    warnings: list[str] = []
    skipped: list[str] = []
    chosen: list[str] = []
    for table in sorted(set(tables) | set(field_types)):
        if table in leave_out or mapping.table(table).skip:
            skipped.append(table)
        elif not representable(table):
            skipped.append(table)
            warnings.append(f"ledger table {table!r}: its name cannot be an Athena name, no tables")
        else:
            chosen.append(table)
    names = _Names()
    for table in chosen:
        spec = mapping.table(table)
        for mapped in (spec.view, spec.history_view):
            if mapped is not None:
                names.claim_exact(mapped, f"mapping of ledger table {table!r}")
    current = {
        t: names.claim_auto(t) if mapping.table(t).view is None else _glue(mapping.table(t).view)
        for t in sorted(chosen, key=_own_name_first)
    }
    history = {
        t: (
            names.claim_auto(current[t] + HISTORY_SUFFIX)
            if mapping.table(t).history_view is None
            else _glue(mapping.table(t).history_view)
        )
        for t in sorted(chosen, key=_own_name_first)
    }
    planned = []
    root = f"s3://{bucket}/{prefix.strip('/')}" if prefix.strip("/") else f"s3://{bucket}"
    for table in chosen:
        columns = _plan_columns(
            table, field_types.get(table, {}), (shapes or {}).get(table, {}), mapping, warnings
        )
        planned.append(
            DdlTable(
                table,
                current[table],
                history[table],
                columns,
                location(bucket, prefix, table, "current"),
                location(bucket, prefix, table, "revisions"),
            )
        )
    return AthenaDdl(root, tuple(planned), tuple(skipped), tuple(warnings))


def _plan_columns(
    table: str,
    fields: Mapping[str, frozenset[IonKind]],
    shapes: Mapping[str, NumericShape],
    mapping: ViewMapping,
    warnings: list[str],
) -> tuple[DdlColumn, ...]:
    spec = mapping.table(table)
    names = _Names(reserved=[c for c, _, _ in METADATA_COLUMNS] + [DATA_COLUMN])
    mapped, automatic = select_fields(
        table, fields, spec, warnings, names="Athena names", holder="tables"
    )
    for name in mapped:
        chosen = spec.columns[name]
        if chosen.name is not None:
            names.claim_exact(chosen.name, f"mapping of {table!r} field {name!r}")
    columns: list[DdlColumn] = []
    # A field that is already a Glue name claims it first (no mapping needed), then the rest.
    for name in [*mapped, *sorted(automatic, key=_own_name_first)]:
        kinds = fields.get(name, frozenset())
        choice = spec.columns.get(name)
        column_name = (
            _glue(choice.name)
            if choice is not None and choice.name is not None
            else names.claim_auto(name)
        )
        type_ = (
            choice.type if choice is not None and choice.type is not None else column_type(kinds)
        )
        shape = with_int_digits(shapes.get(name), kinds)
        columns.append(DdlColumn(name, column_name, type_, kinds, choice is not None, shape))
    ordered = sorted(columns, key=lambda c: c.field)
    kept = len(ordered)
    while kept and len(_struct_type(ordered[:kept])) > MAX_TYPE_CHARS:
        kept -= 1
    if kept < len(ordered):
        warnings.append(
            f"ledger table {table!r}: {len(ordered) - kept} fields from {ordered[kept].field!r} "
            f"on left out: the data struct's type would be longer than Glue's {MAX_TYPE_CHARS} "
            "characters; choose them in the mapping file"
        )
    return tuple(ordered[:kept])


def _own_name_first(name: str) -> tuple[bool, str]:
    return (athena_name(name) != name, name)


def _glue(name: str | None) -> str:
    return str(name).translate(_ASCII_LOWER)


class _Names:
    """Names taken so far in one namespace (Athena compares them case-insensitively)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken = {NAMING.key(name) for name in reserved}

    def claim_exact(self, name: str, where: str) -> None:
        glue = _glue(name)
        if not _GLUE_NAME.fullmatch(glue) or not NAMING.fits(glue):
            msg = (
                f"{where}: {name!r} is not an Athena name (lowercase letters, digits and _, "
                f"at most {MAX_NAME_BYTES} characters)"
            )
            raise ConfigError(msg)
        if NAMING.key(glue) in self._taken:
            msg = f"{where}: Athena name {name!r} is already taken (a mapped name or a column)"
            raise ConfigError(msg)
        self._taken.add(NAMING.key(glue))

    def claim_auto(self, name: str) -> str:
        base = athena_name(name)
        candidate = _shorten(base, "")
        number = 1
        # Each taken name blocks at most one candidate: this ends within len(taken) + 1 tries.
        while NAMING.key(candidate) in self._taken:
            number += 1
            candidate = _shorten(base, f"_{number}")
        self._taken.add(NAMING.key(candidate))
        return candidate


def _shorten(base: str, suffix: str) -> str:
    if len(base) + len(suffix) <= MAX_NAME_BYTES:
        return base + suffix
    digest = "_" + hashlib.sha256(base.encode("ascii")).hexdigest()[:8]
    return base[: MAX_NAME_BYTES - len(digest) - len(suffix)] + digest + suffix


def _struct_type(columns: Iterable[DdlColumn]) -> str:
    return "struct<" + ",".join(f"{quote_identifier(c.name)}:{c.hive_type}" for c in columns) + ">"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _create(table: DdlTable, name: str, where: str, what: str) -> str:
    data_type = _struct_type(table.columns) if table.columns else "string"
    lines = [f"  {quote_identifier(c)} {t}," for c, _, t in METADATA_COLUMNS]
    lines.append(f"  {quote_identifier(DATA_COLUMN)} {data_type}")
    properties = [("case.insensitive", "false")]
    properties += [(f"mapping.{c}", key) for c, key, _ in METADATA_COLUMNS if c != key]
    properties += [(f"mapping.{c.name}", c.field) for c in table.columns if c.name != c.field]
    comment = f"qldb-cdc: ledger table {table.ledger_table}, {what}"
    return "\n".join(
        [
            f"CREATE EXTERNAL TABLE IF NOT EXISTS {quote_identifier(name)} (",
            *lines,
            ")",
            f"COMMENT {quote_literal(comment)}",
            f"ROW FORMAT SERDE {quote_literal(SERDE)}",
            "WITH SERDEPROPERTIES (",
            ",\n".join(f"  {quote_literal(k)} = {quote_literal(v)}" for k, v in properties),
            ")",
            f"LOCATION {quote_literal(where)};",
        ]
    )
