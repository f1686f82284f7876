"""Which typed views a projection gets, with which names and column types. Pure.

For each ledger table with documents, :func:`plan_views` plans two views: the current state
(live documents: ``document_id``, ``version``, ``tx_time``, then one column per top-level
field) and the history (every revision: ``document_id``, ``version``, ``tx_id``, ``tx_time``,
``deleted``, ``redacted``, then the same field columns), the equivalent of QLDB's
``history()``. Column types come from the Ion kinds the projection recorded
(:func:`core.column_types.column_type`) unless the mapping file says otherwise.

Naming guarantees (README "Typed views"):

* A view is named after its ledger table, the history view ``<table>_history``, a column after
  its field; the mapping file overrides any of them.
* Names never collide, in the dialect's own comparison (SQLite compares ASCII letters
  case-insensitively), with each other, with the dialect's reserved names (the projection's
  own tables and views, ``sqlite_*``) or, for columns, with the metadata columns. An automatic
  name that would collide gets the first free suffix ``_2``, ``_3``... (a name with a reserved
  prefix such as ``sqlite_`` is first prefixed with ``_``); names are claimed in a
  fixed order (mapped names, then current views by table name, then history views; within a
  view, mapped columns, then fields by name), so the result does not depend on input order.
* A name longer than the dialect allows (PostgreSQL: 63 bytes) is cut at a character boundary
  and ends with ``~`` and 8 hex digits of its SHA-256, so two long names stay apart.
* Names are **stable across refreshes**: the names a table's views and a field's column had
  (``previous``, read from the projection's record of its views) are claimed again before any
  automatic name, so a field that appears later (``NAME`` beside ``Name``) gets the suffix, never
  the name a saved query already reads.
* A name that cannot be an SQL identifier at all (empty, a NUL character, a lone surrogate) is
  left out with a warning: a table's views, or a field's column.
* At most :data:`MAX_VIEW_COLUMNS` field columns per view; the fields beyond (by name) are left
  out with a warning (the mapping file can pick which to keep).

A mapped name that is invalid or collides is a :class:`~core.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from core.column_types import ColumnType, column_type
from core.errors import ConfigError
from core.ion_kinds import IonKind
from schemas.view_mapping import TableMapping, ViewMapping

CURRENT_COLUMNS = ("document_id", "version", "tx_time")
"""Metadata columns of a current-state view, before the field columns."""
HISTORY_COLUMNS = ("document_id", "version", "tx_id", "tx_time", "deleted", "redacted")
"""Metadata columns of a history view, before the field columns."""
MAX_VIEW_COLUMNS = 1000
"""Field columns per view at most (SQLite allows 2000 columns, PostgreSQL 1664)."""
HISTORY_SUFFIX = "_history"

PROJECTION_OBJECTS = frozenset(
    {
        "documents",
        "revisions",
        "qldb_cdc_checkpoints",
        "ledger_table_events",
        "ledger_table_ids",
        "ledger_table_events_resolved",
        "ledger_tables",
        "ledger_tables_active",
        "ledger_tables_dropped",
        "ledger_field_types",
        "qldb_cdc_views",
        "qldb_cdc_view_columns",
        "qldb_cdc_revisions_by_time",
        "qldb_cdc_documents_by_state",
    }
)
"""The SQL projections' own tables, views and indexes: no typed view takes these names where
it shares their namespace (SQLite: any case)."""

FieldTypes = Mapping[str, Mapping[str, frozenset[IonKind]]]
"""ledger table -> field -> the Ion kinds recorded for it."""


@dataclass(frozen=True, slots=True)
class Naming:
    """How a dialect compares and limits identifiers.

    Attributes:
        dialect: ``sqlite`` or ``postgresql`` (for messages).
        reserved: names no view may take (compared with :meth:`key`).
        reserved_prefixes: prefixes no view name may start with (compared with :meth:`key`).
        fold_ascii_case: the dialect compares ASCII letters case-insensitively (SQLite).
        max_bytes: the longest identifier in UTF-8 bytes, or ``None``.
    """

    dialect: str
    reserved: frozenset[str] = frozenset()
    reserved_prefixes: tuple[str, ...] = ()
    fold_ascii_case: bool = False
    max_bytes: int | None = None

    def key(self, name: str) -> str:
        """The form in which the dialect compares ``name``."""
        if not self.fold_ascii_case:
            return name
        return name.translate(_ASCII_LOWER)

    def is_reserved(self, name: str) -> bool:
        """Whether a view may not be called ``name``."""
        key = self.key(name)
        return key in self.reserved or key.startswith(self.reserved_prefixes)

    def fits(self, name: str) -> bool:
        """Whether ``name`` is short enough."""
        return self.max_bytes is None or len(name.encode("utf-8")) <= self.max_bytes

    def shorten(self, name: str) -> str:
        """``name`` itself when it fits, else cut and suffixed with its hash (see module)."""
        if self.fits(name) or self.max_bytes is None:
            return name
        digest = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        budget = self.max_bytes - len(digest)
        cut = name.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
        return cut + digest


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def representable(name: str) -> bool:
    """Whether ``name`` can be an SQL identifier and an SQL string literal at all."""
    if not name or "\x00" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PreviousNames:
    """The names one ledger table's views had before this refresh."""

    view: str | None = None
    history_view: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    """field -> column name"""


@dataclass(frozen=True, slots=True)
class ViewColumn:
    """One field column: the document ``field`` read as ``type`` into column ``name``."""

    field: str
    name: str
    type: ColumnType
    kinds: frozenset[IonKind]
    mapped: bool = False


@dataclass(frozen=True, slots=True)
class ViewPlan:
    """The two views of one ledger table."""

    ledger_table: str
    view: str
    history_view: str
    columns: tuple[ViewColumn, ...]


@dataclass(frozen=True, slots=True)
class ViewsPlan:
    """Every view to create, and what was left out (with a one-line reason each)."""

    views: tuple[ViewPlan, ...]
    skipped_tables: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def plan_views(
    tables: Iterable[str],
    field_types: FieldTypes,
    mapping: ViewMapping,
    naming: Naming,
    *,
    leave_out: Collection[str] = (),
    previous: Mapping[str, PreviousNames] | None = None,
) -> ViewsPlan:
    """Plan the views of ``tables`` (see the module docstring).

    ``leave_out`` are tables that get no views (dropped tables, on request); mapped tables
    with ``skip`` get none either. Raises ConfigError for a mapped name that is not usable.
    """
    warnings: list[str] = []
    skipped: list[str] = []
    chosen: list[str] = []
    for table in sorted(set(tables)):
        if table in leave_out or mapping.table(table).skip:
            skipped.append(table)
        elif not representable(table):
            skipped.append(table)
            warnings.append(f"ledger table {table!r}: name cannot be an SQL identifier, no views")
        else:
            chosen.append(table)
    names = _Claims(naming, "view")
    for table in chosen:  # mapped names first: they must be exactly what the user wrote
        spec = mapping.table(table)
        for mapped in (spec.view, spec.history_view):
            if mapped is not None:
                names.claim_exact(mapped, f"mapping of ledger table {table!r}")
    before = previous or {}
    kept: dict[tuple[str, str], str] = {}
    for table in chosen:  # then the names the views had: saved queries keep working
        spec, old = mapping.table(table), before.get(table, PreviousNames())
        for which, mapped, name in (
            ("view", spec.view, old.view),
            ("history", spec.history_view, old.history_view),
        ):
            base = table if which == "view" else table + HISTORY_SUFFIX
            if (
                mapped is None
                and name is not None
                and automatic_form(base, name, naming)
                and names.claim_preferred(name)
            ):
                kept[table, which] = name
    current = {
        t: (
            str(mapping.table(t).view)
            if mapping.table(t).view is not None
            else kept.get((t, "view")) or names.claim_auto(t)
        )
        for t in chosen
    }
    history = {
        t: (
            str(mapping.table(t).history_view)
            if mapping.table(t).history_view is not None
            else kept.get((t, "history")) or names.claim_auto(t + HISTORY_SUFFIX)
        )
        for t in chosen
    }
    views = []
    for table in chosen:
        old_columns = before.get(table, PreviousNames()).columns
        columns = _plan_columns(
            table, field_types.get(table, {}), mapping, naming, warnings, previous=old_columns
        )
        views.append(ViewPlan(table, current[table], history[table], columns))
    return ViewsPlan(tuple(views), tuple(skipped), tuple(warnings))


def _plan_columns(
    table: str,
    fields: Mapping[str, frozenset[IonKind]],
    mapping: ViewMapping,
    naming: Naming,
    warnings: list[str],
    *,
    previous: Mapping[str, str] | None = None,
) -> tuple[ViewColumn, ...]:
    spec = mapping.table(table)
    names = _Claims(naming, "column", reserved=HISTORY_COLUMNS)
    columns: list[ViewColumn] = []
    mapped, automatic = select_fields(
        table, fields, spec, warnings, names="SQL identifiers", holder="views"
    )
    for name in mapped:
        chosen = spec.columns[name]
        if chosen.name is not None:
            names.claim_exact(chosen.name, f"mapping of {table!r} field {name!r}")
    kept: dict[str, str] = {}
    unnamed = [
        f
        for f in [*mapped, *automatic]
        if spec.columns.get(f) is None or spec.columns[f].name is None
    ]
    for name in unnamed:  # the names the columns had, before any new one
        old = (previous or {}).get(name)
        if old is not None and automatic_form(name, old, naming) and names.claim_preferred(old):
            kept[name] = old
    for name in [*mapped, *automatic]:
        kinds = fields.get(name, frozenset())
        chosen_column = spec.columns.get(name)
        column_name = (
            chosen_column.name
            if chosen_column is not None and chosen_column.name is not None
            else kept.get(name) or names.claim_auto(name)
        )
        type_ = (
            chosen_column.type
            if chosen_column is not None and chosen_column.type is not None
            else column_type(kinds)
        )
        columns.append(ViewColumn(name, column_name, type_, kinds, chosen_column is not None))
    by_name = {c.field: c for c in columns}
    return tuple(by_name[f] for f in sorted(by_name))


def automatic_form(base: str, name: str, naming: Naming) -> bool:
    """Whether ``name`` is one this plan could have given ``base`` by itself (``base``, a
    suffix ``_N``, the ``_`` of a reserved prefix, a cut name): only such names are kept across
    refreshes; a name from a mapping file that is gone again is not."""
    for stem in (base, "_" + base):
        if name in (stem, naming.shorten(stem)):
            return True
        if name.startswith(stem + "_") and name[len(stem) + 1 :].isdigit():
            return True
    return False


def previous_names(
    views: Iterable[tuple[str, str, str]], columns: Iterable[tuple[str, str, str]]
) -> dict[str, PreviousNames]:
    """ledger table -> the names its views had, from the rows a projection keeps of them:
    ``views`` as (view name, ledger table, ``current``/``history``), ``columns`` as (view name,
    column name, field); the current view's columns are the table's."""
    by_view: dict[str, dict[str, str]] = {}
    for view, column, name in columns:
        by_view.setdefault(view, {})[name] = column
    found: dict[str, PreviousNames] = {}
    for view, table, kind in views:
        old = found.get(table, PreviousNames())
        if kind == "current":
            found[table] = PreviousNames(view, old.history_view, by_view.get(view, {}))
        else:
            found[table] = PreviousNames(old.view, view, old.columns)
    return found


def select_fields(
    table: str,
    fields: Iterable[str],
    spec: TableMapping,
    warnings: list[str],
    *,
    names: str,
    holder: str,
) -> tuple[list[str], list[str]]:
    """The fields of ``table`` that get columns, by name: (mapped ones, automatic ones).

    Fields the mapping skips and names that cannot be names at all (warned: they "cannot be
    ``names``") are left out; automatic fields beyond :data:`MAX_VIEW_COLUMNS` columns too
    (warned, as left out of its ``holder``).
    """
    wanted = sorted(set(fields) | set(spec.columns))
    unusable = [f for f in wanted if not representable(f)]
    if unusable:
        warnings.append(
            f"ledger table {table!r}: {len(unusable)} field names cannot be {names} "
            f"(empty, NUL, lone surrogate), left out of its {holder}: {unusable[0]!r}..."
        )
    wanted = [f for f in wanted if representable(f) and not _skipped(spec.columns.get(f))]
    mapped = [f for f in wanted if f in spec.columns]
    automatic = [f for f in wanted if f not in spec.columns]
    room = MAX_VIEW_COLUMNS - len(mapped)
    if room < len(automatic):
        left = automatic[max(room, 0) :]
        warnings.append(
            f"ledger table {table!r}: {len(left)} fields beyond {MAX_VIEW_COLUMNS} columns left "
            f"out of its {holder} (first: {left[0]!r}); choose them in the mapping file"
        )
        automatic = automatic[: max(room, 0)]
    return mapped, automatic


def _skipped(spec: object) -> bool:
    return bool(getattr(spec, "skip", False))


class _Claims:
    """Names taken so far in one namespace, compared as the dialect compares them."""

    def __init__(self, naming: Naming, what: str, reserved: Iterable[str] = ()) -> None:
        self._naming = naming
        self._what = what
        self._taken = {naming.key(name) for name in reserved}

    def _free(self, name: str) -> bool:
        key = self._naming.key(name)
        if key in self._taken:
            return False
        return not (self._what == "view" and self._naming.is_reserved(name))

    def claim_exact(self, name: str, where: str) -> None:
        naming = self._naming
        if not representable(name) or not naming.fits(name):
            limit = "" if naming.max_bytes is None else f", at most {naming.max_bytes} bytes"
            msg = f"{where}: {self._what} name {name!r} is not a {naming.dialect} name{limit}"
            raise ConfigError(msg)
        if not self._free(name):
            msg = (
                f"{where}: {self._what} name {name!r} is already taken in {naming.dialect} "
                "(by another mapped name, a metadata column or the projection's own tables)"
            )
            raise ConfigError(msg)
        self._taken.add(naming.key(name))

    def claim_preferred(self, name: str) -> bool:
        """Take ``name`` if it is usable and free (a name kept from before); else False."""
        naming = self._naming
        if not representable(name) or not naming.fits(name) or not self._free(name):
            return False
        self._taken.add(naming.key(name))
        return True

    def claim_auto(self, name: str) -> str:
        naming = self._naming
        if self._what == "view" and naming.key(name).startswith(naming.reserved_prefixes):
            name = "_" + name  # no suffix can free a reserved prefix (``sqlite_*``)
        candidate = naming.shorten(name)
        number = 1
        # Each taken name blocks at most one candidate: this ends within len(taken) + 1 tries.
        while not self._free(candidate):
            number += 1
            candidate = naming.shorten(f"{name}_{number}")
        self._taken.add(naming.key(candidate))
        return candidate
