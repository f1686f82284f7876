import random

from hypothesis import given
from hypothesis import strategies as st

from changes.coalesce import coalesce
from core.model import Change, ChangeKind, DocKey
from tests.support.builders import history, make_change, make_notice


def test_latest_wins_and_redaction_beats_equal_version() -> None:
    changes = history("a", 3) + [make_change("a", 2, kind=ChangeKind.REDACTION)]
    batch = coalesce(reversed(changes))
    winner = batch.latest[DocKey("Person", "a")]
    assert (winner.version, winner.kind) == (2, ChangeKind.REDACTION)
    assert batch.received == 4
    assert batch.superseded == 3
    assert len(batch.revisions) == 3
    assert batch.revisions[(DocKey("Person", "a"), 2)].is_redacted


def test_supersedes_is_a_strict_order() -> None:
    v1, v2 = make_change("a", 1), make_change("a", 2)
    red = make_change("a", 2, kind=ChangeKind.REDACTION)
    assert v2.supersedes(v1) and not v1.supersedes(v2)
    assert red.supersedes(v2) and not v2.supersedes(red)
    assert not v2.supersedes(v2) and not red.supersedes(red)


@given(st.integers(1, 6), st.integers(0, 10_000), st.integers(0, 6))
def test_coalesce_is_order_and_duplicate_independent(n: int, seed: int, dups: int) -> None:
    changes = history("a", n, delete_last=True) + history("b", n)
    rng = random.Random(seed)
    shuffled = changes + [rng.choice(changes) for _ in range(dups)]
    rng.shuffle(shuffled)
    a, b = coalesce(changes), coalesce(shuffled)
    assert a.latest == b.latest
    assert a.revisions == b.revisions


def _fold(copies: list[Change]) -> Change | None:
    stored: Change | None = None
    for copy in copies:
        merged = copy.history_copy(stored)
        if merged is not None:
            stored = merged
    return stored


COPIES = {
    "original": make_change("a", 1),
    "notice": make_notice("a", 1),
    "export_redaction": make_change("a", 1, kind=ChangeKind.REDACTION),
}


@given(st.lists(st.sampled_from(sorted(COPIES)), min_size=1, max_size=8))
def test_history_copy_is_a_merge_of_the_copies(names: list[str]) -> None:
    """Any order and duplication of a revision's copies stores the same row: redacted as soon as
    one copy is, with the revision's own metadata as soon as one copy has it."""
    got = _fold([COPIES[name] for name in names])
    want = _fold([COPIES[name] for name in sorted(set(names), key=list(COPIES).index)])
    assert got == want
    assert got is not None
    assert got.is_redacted == (set(names) != {"original"})
    assert got.is_redaction_notice == (set(names) == {"notice"})
    if "original" in names or "export_redaction" in names:
        assert (got.tx_id, got.revision_hash) == (
            COPIES["original"].tx_id,
            COPIES["original"].revision_hash,
        )
    assert got.data_hash == (
        COPIES["export_redaction"].data_hash if "export_redaction" in names else None
    )
    assert got.data is None or set(names) == {"original"}


def test_a_notice_is_only_a_redaction_without_revision_hash() -> None:
    assert make_notice("a", 0).is_redaction_notice
    assert not make_change("a", 0, kind=ChangeKind.REDACTION).is_redaction_notice
    assert not make_change("a", 0).is_redaction_notice
