"""``KindRecord``'s caches (signatures by identity and by value, recorded decimal shapes) give
exactly the triples of the uncached rule, in the same order, over any sequence of batches,
committed or not (hypothesis)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ion_kinds import FieldKinds, IonKind
from core.model import Change
from projections import recorded_kinds
from projections.recorded_kinds import KindRecord, KindTriple, shape_marks
from tests.support.builders import make_change

_SHAPED = (IonKind.DECIMAL, IonKind.INT_BIG)


def uncached_pending(known: set[KindTriple], changes: list[Change]) -> list[KindTriple]:
    """The rule without any cache: every change's (table, field, kind) triples, then the shape
    marks of its decimal and big-integer fields, those not in ``known``, first seen first."""
    new: dict[KindTriple, None] = {}
    for change in changes:
        table = change.key.table
        for name, kind in change.field_kinds:
            if (table, name, str(kind)) not in known:
                new[table, name, str(kind)] = None
        data = change.data
        for name, kind in change.field_kinds:
            if kind in _SHAPED and isinstance(data, dict):
                for mark in shape_marks(data.get(name)) or ():
                    if (table, name, mark) not in known:
                        new[table, name, mark] = None
    return list(new)


_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-999, max_value=999),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(int(d.as_tuple().exponent)) < 120
    ),
    st.sampled_from([Decimal("0"), Decimal("-0.00"), Decimal("1E+5"), Decimal("1E-90")]),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity")]),
)
_values: dict[IonKind, st.SearchStrategy[Any]] = {
    IonKind.DECIMAL: _decimals,
    IonKind.INT_BIG: st.integers(2**63, 2**200) | st.integers(max_value=-(2**63) - 1),
    IonKind.INT: st.integers(-(2**63), 2**63 - 1),
    IonKind.STRING: st.text(max_size=3),
}
_kinds = st.sampled_from([*_values, IonKind.NULL])


@st.composite
def _changes(draw: st.DrawFn, shapes: list[FieldKinds]) -> Change:
    """A change of one of ``shapes`` (a shared tuple, or an equal copy of it), values to match;
    sometimes the value of a decimal field is not a decimal (a wrong or missing value)."""
    kinds = draw(st.sampled_from(shapes))
    if draw(st.booleans()):
        kinds = tuple(list(kinds))  # noqa: C414 - equal, not identical: found by value
    data: dict[str, Any] = {}
    for name, kind in kinds:
        strategy = _values.get(kind, st.none())
        data[name] = draw(strategy | st.just("1.5")) if kind in _SHAPED else draw(strategy)
    table = draw(st.sampled_from(["T", "U"]))
    change = make_change("d", 1, table=table, data=data)
    return dataclasses.replace(change, field_kinds=kinds)


@st.composite
def _batches(draw: st.DrawFn) -> list[tuple[list[Change], bool, list[int]]]:
    """Batches of changes, each committed or not, with some changes failed."""
    names = st.sampled_from(["a", "b", "c", "d"])
    shapes = draw(
        st.lists(
            st.lists(
                st.tuples(names, _kinds), min_size=1, max_size=4, unique_by=lambda f: f[0]
            ).map(tuple),
            min_size=1,
            max_size=4,
        )
    )
    out = []
    for _ in range(draw(st.integers(1, 5))):
        changes = draw(st.lists(_changes(shapes), max_size=12))
        failed = draw(st.lists(st.integers(0, max(0, len(changes) - 1)), max_size=2))
        out.append((changes, draw(st.booleans()), failed if changes else []))
    return out


@pytest.mark.parametrize("identity_cache", [recorded_kinds.IDENTITY_CACHE_SIZE, 1, 0])
@settings(max_examples=150, deadline=None)
@given(batches=_batches(), start=st.booleans())
def test_cached_pending_is_the_uncached_rule_over_batches_committed_or_not(
    batches: list[tuple[list[Change], bool, list[int]]],
    start: bool,
    identity_cache: int,
) -> None:
    full = recorded_kinds.IDENTITY_CACHE_SIZE
    recorded_kinds.IDENTITY_CACHE_SIZE = identity_cache
    try:
        _check_batches(batches, start)
    finally:
        recorded_kinds.IDENTITY_CACHE_SIZE = full


def _check_batches(batches: list[tuple[list[Change], bool, list[int]]], start: bool) -> None:
    known: set[KindTriple] = {("T", "a", "int"), ("T", "a", "digits:3")} if start else set()
    record = KindRecord(known)
    recorded = set(known)
    for changes, committed, failed_at in batches:
        failed = {id(changes[i]) for i in failed_at}
        stored = [c for c in changes if id(c) not in failed]
        pending = record.pending(changes, failed=failed)
        assert pending.triples == uncached_pending(recorded, stored)
        if committed:
            record.commit(pending)
            recorded.update(pending.triples)
    assert record.known == recorded


def test_a_decimal_shape_is_trusted_only_after_commit() -> None:
    kinds: FieldKinds = (("p", IonKind.DECIMAL),)
    first = dataclasses.replace(make_change("d", 0, data={"p": Decimal("1.25")}), field_kinds=kinds)
    same_shape = dataclasses.replace(first, data={"p": Decimal("7.50")})
    record = KindRecord()
    pending = record.pending([first])
    assert ("Person", "p", "digits:1") in pending.triples
    assert record.pending([same_shape]).triples == pending.triples  # not committed: again
    record.commit(pending)
    assert record.pending([same_shape]).triples == []
    assert record.pending([dataclasses.replace(first, data={"p": Decimal("17.5")})]).triples == [
        ("Person", "p", "digits:2"),
        ("Person", "p", "scale:1"),
    ]
