"""Which field kinds a batch adds to a projection's record (``ledger_field_types``). Pure.

Every projection that builds typed views keeps the union of ``(ledger table, field, Ion
kind)`` over the changes it stored (``projections/base.py`` ``TypedViewProjection``). This
module picks the triples of a batch that are not recorded yet, so each is written once per
process, in the same transaction as the data.

Besides the Ion kinds, the record holds **numeric shape marks** for top-level decimals and
integers beyond 64 bits: ``digits:N`` (digits before the decimal point) and ``scale:N`` (digits
after it), each capped at :data:`SHAPE_CAP` (meaning "more than 38"). Their union over every
stored value gives the narrowest exact ``DECIMAL(p, s)`` (:func:`numeric_shapes`), which engines
without an unbounded exact decimal need (DuckDB, Athena). Readers that only want kinds ignore
them (they are not :class:`~core.ion_kinds.IonKind` values), so older records stay readable and
older versions read newer records.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.ion_kinds import FieldKinds, IonKind
from core.model import Change

KindTriple = tuple[str, str, str]
"""(ledger table, top-level field, :class:`~core.ion_kinds.IonKind` value or a shape mark)."""

MAX_EXACT_DIGITS = 38
"""The widest exact decimal of DuckDB and Athena: ``DECIMAL(38, s)``."""
SHAPE_CAP = MAX_EXACT_DIGITS + 1
"""A shape mark's number is at most this, which means "more than 38"."""
_SHAPED = frozenset({IonKind.DECIMAL, IonKind.INT_BIG})
INT64_DIGITS = 19
"""Digits of the widest 64-bit integer: the shape assumed for a field also seen as ``int``."""


@dataclass(frozen=True, slots=True)
class NumericShape:
    """The widest decimal seen in a field: ``digits`` before the point, ``scale`` after."""

    digits: int
    scale: int

    @property
    def precision(self) -> int:
        """Total digits of a ``DECIMAL(precision, scale)`` holding every value."""
        return max(1, self.digits + self.scale)

    @property
    def exact(self) -> bool:
        """Whether ``DECIMAL(precision, scale)`` fits in 38 digits."""
        return self.precision <= MAX_EXACT_DIGITS and self.scale < SHAPE_CAP


def shape_marks(value: Any) -> tuple[str, str] | None:
    """The ``digits:N`` and ``scale:N`` marks of a decimal or big integer, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        digits, scale = len(str(abs(value))), 0
    elif isinstance(value, Decimal):
        sign_digits_exponent = value.as_tuple()
        exponent = sign_digits_exponent.exponent
        if not isinstance(exponent, int):
            return None  # NaN or infinity: Ion decimals have none
        count = len(sign_digits_exponent.digits)
        digits, scale = max(0, count + exponent), max(0, -exponent)
    else:
        return None
    return f"digits:{min(digits, SHAPE_CAP)}", f"scale:{min(scale, SHAPE_CAP)}"


def numeric_shapes(
    triples: Iterable[KindTriple],
) -> dict[str, dict[str, NumericShape]]:
    """ledger table -> field -> the widest shape recorded (fields with shape marks only)."""
    widest: dict[tuple[str, str], list[int]] = {}
    for table, name, mark in triples:
        what, _, number = mark.partition(":")
        if what not in ("digits", "scale") or not number.isdigit():
            continue
        slot = widest.setdefault((table, name), [0, 0])
        index = 0 if what == "digits" else 1
        slot[index] = max(slot[index], min(int(number), SHAPE_CAP))
    found: dict[str, dict[str, NumericShape]] = {}
    for (table, name), (digits, scale) in widest.items():
        found.setdefault(table, {})[name] = NumericShape(digits, scale)
    return found


def with_int_digits(shape: NumericShape | None, kinds: Collection[IonKind]) -> NumericShape | None:
    """``shape`` widened to 64-bit integers when the field was also seen as ``int``; ``None``
    (no exact type known) when decimals or big integers were seen without shape marks."""
    if IonKind.INT not in kinds:
        return shape
    if shape is None:
        return None if _SHAPED & set(kinds) else NumericShape(INT64_DIGITS, 0)
    return NumericShape(max(shape.digits, INT64_DIGITS), shape.scale)


Signature = tuple[str, FieldKinds]
"""(ledger table, a change's ``field_kinds``)."""
ShapeKey = tuple[int, int]
"""(``adjusted()``, exponent) of a finite decimal: its shape marks depend on nothing else (it
has ``adjusted - exponent + 1`` digits)."""
_SHAPE_KEY_CAP = 2 * SHAPE_CAP
"""Decimals with an exponent or ``adjusted()`` beyond this get their marks each time (the
remembered shapes stay few whatever the input)."""
IDENTITY_CACHE_SIZE = 4096
"""Most ``field_kinds`` tuples :class:`KindRecord` recognises by identity; beyond that, by value
(slower, the same result)."""


class FieldShapes:
    """The decimal shapes recorded for one (ledger table, field), and the exponent of the last
    decimal seen there (a hint: the next one usually has the same, which ``same_quantum``
    tells without taking the decimal apart)."""

    __slots__ = ("exponent", "quantum", "recorded")

    def __init__(self) -> None:
        self.recorded: set[ShapeKey] = set()
        self.quantum: Decimal | None = None
        self.exponent = 0


Shaped = tuple[tuple[str, FieldShapes], ...]
"""The decimal and big-integer fields of a signature, each with its :class:`FieldShapes`."""


@dataclass(frozen=True, slots=True)
class PendingKinds:
    """What one batch adds: the triples to write, and the signatures and decimal shapes they
    complete (to be remembered with :meth:`KindRecord.commit` only once the triples are
    stored)."""

    triples: list[KindTriple]
    signatures: dict[Signature, Shaped]
    shapes: dict[FieldShapes, set[ShapeKey]] = field(default_factory=dict)


class KindRecord:
    """The triples a projection has recorded, and caches that make the common case cheap.

    Most revisions of a ledger table have the same fields with the same kinds as one seen
    before: their ``(table, field_kinds)`` *signature* is remembered once every triple of it is
    recorded, and such a revision then costs one lookup, by the identity of its ``field_kinds``
    tuple (``schemas.ion_values.plain_with_kinds`` gives documents of one shape one shared
    tuple), plus the shape marks of its decimal and big-integer fields, which depend on the
    values: a decimal of a shape already recorded for the field costs a few C calls and one
    set lookup. The triples found are exactly those the same changes would give without any
    cache (tests/unit/views/test_kind_record_caches.py). Not thread-safe.
    """

    def __init__(self, known: Iterable[KindTriple] = ()) -> None:
        """Start from the triples already recorded."""
        self.known: set[KindTriple] = {(t, f, str(k)) for t, f, k in known}
        self._covered: dict[Signature, Shaped] = {}
        # id(field_kinds) -> (that tuple, kept alive so the id stays its own; table -> shaped)
        self._by_identity: dict[int, tuple[FieldKinds, dict[str, Shaped]]] = {}
        self._fields: dict[tuple[str, str], FieldShapes] = {}

    def pending(self, changes: Iterable[Change], *, failed: Collection[int] = ()) -> PendingKinds:  # noqa: PLR0912 - the per-revision loop, inlined (replay hot path)
        """The triples of ``changes`` not recorded yet, each once, in first-seen order
        (``failed``: ``id()`` of changes not stored, left out)."""
        new: dict[KindTriple, None] = {}
        signatures: dict[Signature, Shaped] = {}
        shapes: dict[FieldShapes, set[ShapeKey]] = {}
        known, by_identity, cap = self.known, self._by_identity, _SHAPE_KEY_CAP
        # The signatures of this batch by identity (each entry keeps its tuple alive).
        local: dict[int, tuple[FieldKinds, dict[str, Shaped]]] = {}
        for change in changes:
            kinds = change.field_kinds
            if not kinds or (failed and id(change) in failed):
                continue
            table = change.key.table
            shaped: Shaped | None = None
            entry = by_identity.get(id(kinds))
            if entry is not None and entry[0] is kinds:
                shaped = entry[1].get(table)
            if shaped is None:
                shaped = self._signature(table, kinds, local, signatures, new)
            if not shaped or not isinstance(change.data, dict):
                continue
            data = change.data
            for name, state in shaped:
                value = data.get(name)
                if type(value) is Decimal:
                    quantum = state.quantum
                    if quantum is not None and value.same_quantum(quantum):
                        exponent = state.exponent
                    else:
                        exponent = value.as_tuple().exponent  # type: ignore[assignment]
                        if type(exponent) is int and -cap <= exponent <= cap:
                            state.quantum, state.exponent = value, exponent
                        else:
                            exponent = cap + 1  # NaN, infinity, huge: no key
                    adjusted = value.adjusted()
                    if -cap <= exponent <= cap and adjusted <= cap:
                        key = (adjusted, exponent)
                        if key in state.recorded:
                            continue
                        batch = shapes.get(state)
                        if batch is None:
                            batch = shapes[state] = set()
                        elif key in batch:
                            continue
                        batch.add(key)
                for mark in shape_marks(value) or ():
                    triple = (table, name, mark)
                    if triple not in known:
                        new[triple] = None
        return PendingKinds(list(new), signatures, shapes)

    def _signature(
        self,
        table: str,
        kinds: FieldKinds,
        local: dict[int, tuple[FieldKinds, dict[str, Shaped]]],
        signatures: dict[Signature, Shaped],
        new: dict[KindTriple, None],
    ) -> Shaped:
        """The shaped fields of ``(table, kinds)``, a signature not recognised by identity
        among those recorded: by identity among this batch's (``local``), else by value; its
        triples not known are added to ``new`` the first time it is seen."""
        entry = local.get(id(kinds))
        if entry is None or entry[0] is not kinds:
            entry = local[id(kinds)] = (kinds, {})
        tables = entry[1]
        found = tables.get(table)
        if found is not None:
            return found
        signature = (table, kinds)
        shaped = self._covered.get(signature)
        if shaped is None:
            shaped = signatures.get(signature)
        if shaped is None:
            fields = []
            known = self.known
            for name, kind in kinds:
                triple = (table, name, str(kind))
                if triple not in known:
                    new[triple] = None
                if kind in _SHAPED:
                    state = self._fields.get((table, name))
                    if state is None:
                        state = self._fields[table, name] = FieldShapes()
                    fields.append((name, state))
            shaped = tuple(fields)
            signatures[signature] = shaped
        tables[table] = shaped
        return shaped

    def commit(self, pending: PendingKinds) -> None:
        """Remember ``pending`` as recorded (call after its transaction committed)."""
        self.known.update(pending.triples)
        self._covered.update(pending.signatures)
        by_identity = self._by_identity
        for (table, kinds), shaped in pending.signatures.items():
            entry = by_identity.get(id(kinds))
            if entry is None or entry[0] is not kinds:
                if len(by_identity) >= IDENTITY_CACHE_SIZE:
                    continue
                entry = by_identity[id(kinds)] = (kinds, {})
            entry[1][table] = shaped
        for state, keys in pending.shapes.items():
            state.recorded.update(keys)


def field_types_of(triples: Iterable[KindTriple]) -> dict[str, dict[str, frozenset[IonKind]]]:
    """ledger table -> field -> the Ion kinds among ``triples``, as the SQL projections read
    their ``ledger_field_types``: a field recorded only with kinds this version does not know
    is kept, with no kinds (a text column); unlike :func:`kinds_of`."""
    found: dict[str, dict[str, set[IonKind]]] = {}
    for table, name, kind in triples:
        kinds = found.setdefault(str(table), {}).setdefault(str(name), set())
        if kind in IonKind._value2member_map_:
            kinds.add(IonKind(str(kind)))
    return {t: {f: frozenset(k) for f, k in fs.items()} for t, fs in found.items()}


def kinds_of(triples: Iterable[KindTriple]) -> dict[str, dict[str, frozenset[IonKind]]]:
    """ledger table -> field -> the Ion kinds among ``triples`` (shape marks and kinds this
    version does not know left out)."""
    found: dict[str, dict[str, set[IonKind]]] = {}
    for table, name, kind in triples:
        if kind in IonKind._value2member_map_:
            found.setdefault(table, {}).setdefault(name, set()).add(IonKind(kind))
    return {t: {f: frozenset(k) for f, k in fs.items()} for t, fs in found.items()}
