"""core.retry: the one retry primitive, driven by a fake sleep and a fake jitter source."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PoisonError, RetryableError, StorageError, ThrottledError
from core.retry import Backoff, Retry, retryable


@dataclass
class Clock:
    """A fake clock: ``sleep`` advances it and records each wait."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Extremes:
    """A jitter source that answers the bounds it is asked about, in turn (low, high, ...)."""

    calls: list[tuple[float, float]] = field(default_factory=list)

    def uniform(self, a: float, b: float, /) -> float:
        self.calls.append((a, b))
        return a if len(self.calls) % 2 else b


def failing(errors: list[Exception]) -> tuple[list[int], Callable[[], str]]:
    """An operation raising ``errors`` in turn, then returning ``"done"``; and its call count."""
    calls = [0]

    def operation() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return "done"

    return calls, operation


def test_deterministic_waits_double_up_to_the_cap() -> None:
    clock = Clock()
    retry = Retry(Backoff(attempts=6, base_seconds=0.5, cap_seconds=3.0), clock.sleep)
    errors: list[Exception] = [RetryableError(str(n)) for n in range(5)]
    calls, operation = failing(errors)
    assert retry.run(operation) == "done"
    assert calls == [6]
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert clock.now == sum(clock.sleeps)


def test_full_jitter_draws_between_zero_and_each_ceiling() -> None:
    clock, rng = Clock(), Extremes()
    retry = Retry(Backoff(attempts=4, base_seconds=1.0, cap_seconds=2.5), clock.sleep, rng)
    with pytest.raises(ThrottledError, match="3"):
        retry.run(failing([ThrottledError(str(n)) for n in range(4)])[1])
    assert rng.calls == [(0.0, 1.0), (0.0, 2.0), (0.0, 2.5)]
    assert clock.sleeps == [0.0, 2.0, 0.0]


def test_a_jitter_source_out_of_range_is_clamped_to_the_ceiling() -> None:
    class Wild:
        def __init__(self) -> None:
            self.answers = [-1.0, 99.0]

        def uniform(self, a: float, b: float, /) -> float:
            return self.answers.pop(0)

    retry = Retry(Backoff(3, 1.0, 10.0), lambda _s: None, Wild())
    assert [retry.wait(1), retry.wait(2)] == [0.0, 2.0]


@given(
    attempts=st.integers(1, 12),
    base=st.floats(0, 5, allow_nan=False),
    cap=st.floats(0, 60, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_waits_stay_within_bounds_and_there_is_one_fewer_than_tries(
    attempts: int, base: float, cap: float, seed: int
) -> None:
    clock = Clock()
    backoff = Backoff(attempts, base, cap)
    retry = Retry(backoff, clock.sleep, random.Random(seed))
    calls, operation = failing([RetryableError(str(n)) for n in range(attempts)])
    with pytest.raises(RetryableError, match=str(attempts - 1)):
        retry.run(operation)
    assert calls == [attempts]
    assert len(clock.sleeps) == attempts - 1
    for failures, wait in enumerate(clock.sleeps, start=1):
        assert 0.0 <= wait <= min(cap, base * 2 ** (failures - 1)) <= cap


def test_the_last_error_is_raised_as_it_is() -> None:
    errors: list[Exception] = [RetryableError("first"), ThrottledError("last")]
    last = errors[-1]
    with pytest.raises(ThrottledError) as info:
        Retry(Backoff(2, 0.0, 0.0), lambda _s: None).run(failing(errors)[1])
    assert info.value is last


@pytest.mark.parametrize("error", [PoisonError("bad"), ValueError("bug"), KeyError("k")])
def test_errors_that_are_not_retryable_pass_through_at_once(error: Exception) -> None:
    clock = Clock()
    calls, operation = failing([error])
    with pytest.raises(type(error)) as info:
        Retry(Backoff(5, 1.0, 1.0), clock.sleep).run(operation)
    assert info.value is error
    assert calls == [1]
    assert clock.sleeps == []


def test_retry_if_decides_what_is_retried() -> None:
    """Replay's rule: a full disk is retryable by a re-run, never backed off in place."""
    clock = Clock()
    calls, operation = failing([StorageError("disk full")])

    def not_storage(exc: Exception) -> bool:
        return retryable(exc) and not isinstance(exc, StorageError)

    with pytest.raises(StorageError):
        Retry(Backoff(5, 1.0, 1.0), clock.sleep).run(operation, retry_if=not_storage)
    assert (calls, clock.sleeps) == ([1], [])


def test_attempts_sleep_between_tries_only() -> None:
    clock = Clock()
    retry = Retry(Backoff(attempts=3, base_seconds=1.0, cap_seconds=10.0), clock.sleep)
    seen = []
    for attempt in retry.attempts():
        seen.append((attempt, list(clock.sleeps)))
    assert seen == [(1, []), (2, [1.0]), (3, [1.0, 2.0])]
    assert clock.sleeps == [1.0, 2.0]  # nothing after the last try


def test_breaking_out_of_attempts_stops_sleeping() -> None:
    clock = Clock()
    for attempt in Retry(Backoff(5, 1.0, 1.0), clock.sleep).attempts():
        if attempt == 2:
            break
    assert clock.sleeps == [1.0]


def test_a_single_attempt_never_sleeps() -> None:
    clock = Clock()
    with pytest.raises(RetryableError):
        Retry(Backoff(1, 5.0, 5.0), clock.sleep).run(failing([RetryableError("x")])[1])
    assert clock.sleeps == []


def test_huge_failure_counts_stay_at_the_cap() -> None:
    backoff = Backoff(attempts=5000, base_seconds=3.0, cap_seconds=7.0)
    assert backoff.delay(5000) == 7.0
    assert Backoff(attempts=5, base_seconds=1e300, cap_seconds=1e308).delay(4000) == 1e308


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "match"),
    [(0, 1.0, 1.0, "attempts"), (1, -1.0, 1.0, "negative"), (1, 1.0, math.nan, "negative")],
)
def test_nonsense_is_rejected(attempts: int, base: float, cap: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Backoff(attempts, base, cap)


def test_delay_counts_failures_from_one() -> None:
    with pytest.raises(ValueError, match="failures"):
        Backoff().delay(0)
