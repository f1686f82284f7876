"""The pure side of ``qldb-cdc reconcile``: the expected state and the comparison rules."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from changes.reconcile import (
    DifferenceKind,
    DocState,
    ExpectedState,
    block_of,
    classify,
    compare,
)
from core.model import BlockAddress, Change, ChangeKind, DocKey
from tests.support.builders import STRAND, make_change


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    """In-order revisions of a few documents, some deleted, some versions redacted."""
    changes: list[Change] = []
    for doc in range(draw(st.integers(1, 4))):
        versions = draw(st.integers(1, 5))
        for v in range(versions):
            last = v == versions - 1
            deleted = last and draw(st.booleans())
            changes.append(
                make_change(f"d{doc}", v, kind=ChangeKind.DELETE if deleted else None, seq=v)
            )
            if not deleted and draw(st.booleans()):
                changes.append(make_change(f"d{doc}", v, kind=ChangeKind.REDACTION, seq=v + 50))
    return changes


def _state(changes: list[Change]) -> list[DocState]:
    expected = ExpectedState()
    expected.add_all(changes)
    return sorted(expected, key=lambda s: s.key)


@given(data=st.data(), changes=histories())
def test_any_permutation_or_duplication_gives_the_in_order_state(
    data: st.DataObject, changes: list[Change]
) -> None:
    extra = data.draw(st.lists(st.sampled_from(changes), max_size=len(changes)))
    delivered = data.draw(st.permutations(changes + extra))
    assert _state(delivered) == _state(changes)


def test_a_redaction_beats_the_unredacted_copy_and_a_later_version_beats_both() -> None:
    v1 = make_change("a", 1)
    redacted = make_change("a", 1, kind=ChangeKind.REDACTION)
    (state,) = _state([redacted, v1])
    assert (state.version, state.redacted, state.deleted) == (1, True, False)
    (state,) = _state([make_change("a", 2, kind=ChangeKind.DELETE), redacted, v1])
    assert (state.version, state.redacted, state.deleted) == (2, False, True)


def _doc(version: int = 3, **kw: object) -> DocState:
    base = DocState(DocKey("T", "a"), version, False, False, "h3", BlockAddress(STRAND, 10))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_classify_names_each_kind_of_difference() -> None:
    want = _doc()
    assert classify(want, _doc(), ahead=False) is None
    assert classify(want, _doc(2), ahead=False) is DifferenceKind.STALE
    assert classify(want, _doc(4), ahead=False) is DifferenceKind.NEWER
    assert classify(want, _doc(revision_hash="x"), ahead=False) is DifferenceKind.WRONG_HASH
    assert classify(want, _doc(deleted=True), ahead=False) is DifferenceKind.WRONG_DATA
    assert classify(want, _doc(redacted=True), ahead=False) is DifferenceKind.NEWER
    assert classify(_doc(redacted=True), _doc(), ahead=False) is DifferenceKind.STALE
    assert classify(None, _doc(), ahead=False) is DifferenceKind.EXTRA
    assert classify(None, _doc(), ahead=True) is DifferenceKind.NEWER


def test_compare_counts_every_document_once_and_newer_is_not_a_mismatch() -> None:
    changes = [make_change(f"d{i}", 1, seq=i) for i in range(6)]
    expected = ExpectedState()
    expected.add_all(changes)
    states = {s.key.doc_id: s for s in expected}
    actual = [
        states["d0"],
        states["d0"],  # listed twice: counted once
        replace(states["d1"], version=0),
        replace(states["d2"], revision_hash="other"),
        replace(states["d3"], version=9),
        DocState(DocKey("Person", "late"), 0, False, False, "h", BlockAddress(STRAND, 999)),
        DocState(DocKey("Other", "odd"), 0, False, False, "h", block_of("elsewhere", 1)),
        states["d4"],
    ]
    result = compare(expected, actual, keep_all=True, sample_size=1)
    person = result.tables["Person"]
    assert (person.expected, person.found) == (6, 6)
    got = {k: n for k, n in person.differences.items() if n}
    assert got == {
        DifferenceKind.MISSING: 1,
        DifferenceKind.STALE: 1,
        DifferenceKind.WRONG_HASH: 1,
        DifferenceKind.NEWER: 2,
    }
    assert result.tables["Other"].differences[DifferenceKind.EXTRA] == 1
    assert not result.matches
    assert result.all_differences is not None and len(result.all_differences) == 6
    assert [d.key.doc_id for d in result.samples[DifferenceKind.NEWER]] == ["d3"]

    only_newer = compare(expected, [replace(states["d5"], version=7), *expected])
    assert only_newer.matches
    assert only_newer.total(DifferenceKind.NEWER) == 1


def test_block_of_accepts_only_a_stored_address() -> None:
    assert block_of("s", 3) == BlockAddress("s", 3)
    assert block_of(None, 3) is None
    assert block_of("s", True) is None
    assert block_of("s", "3") is None


def test_compare_leaves_out_skipped_tables_on_both_sides() -> None:
    changes = [make_change(f"d{i}", 1, seq=i) for i in range(3)]
    changes += [make_change(f"g{i}", 1, table="Gone", seq=10 + i) for i in range(3)]
    expected = ExpectedState()
    expected.add_all(changes)
    states = {s.key.doc_id: s for s in expected}
    actual = [
        states["d0"],
        states["d1"],
        states["d2"],
        replace(states["g0"], revision_hash="other"),  # would be wrong_hash
        replace(states["g1"], version=0),  # would be stale
        DocState(DocKey("Gone", "new"), 0, False, False, "h", None),  # would be extra
        # g2 missing
    ]
    plain = compare(expected, actual)
    assert not plain.matches and plain.skipped == {}
    assert plain.tables["Gone"].mismatches == 4
    skipping = compare(expected, actual, keep_all=True, skip_tables={"Gone", "Never"})
    assert skipping.matches
    assert set(skipping.tables) == {"Person"}
    assert skipping.skipped == {"Gone": 3, "Never": 0}
    assert skipping.all_differences == []
