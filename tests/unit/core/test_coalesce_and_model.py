import random

from hypothesis import given
from hypothesis import strategies as st

from changes.coalesce import coalesce
from core.model import ChangeKind, DocKey
from tests.support.builders import history, make_change


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
