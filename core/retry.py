"""The one retry primitive: bounded attempts with exponential backoff and optional full jitter.

Pure: this module never reads a clock, sleeps or draws randomness by itself. The edges pass
``sleep`` (``time.sleep``, ``runtime.interrupts.sleep``, a recorder in tests) and, for full
jitter, ``rng`` (a ``random.Random``).

Guarantees of :class:`Retry` (with ``n = backoff.attempts``, at least 1):

* At most ``n`` tries, and exactly ``n - 1`` sleeps when every try fails: never a sleep before
  the first try nor after the last.
* The wait after failed try ``k`` (1-based) has the ceiling ``min(cap, base * 2**(k - 1))``.
  Without ``rng`` the wait is the ceiling itself (deterministic); with ``rng`` it is full jitter,
  ``rng.uniform(0, ceiling)``, so it never exceeds the ceiling.
* :meth:`Retry.run` retries only the errors ``retry_if`` accepts (by default
  :class:`~core.errors.RetryableError`); any other exception passes through at once, untouched.
  When the tries run out, the last error is raised as it is.

Loops that make partial progress (some items of a batch succeed, only the rest is tried again)
use :meth:`Retry.attempts` instead of :meth:`Retry.run`: the same schedule, with the loop body
deciding what a failure is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from core.errors import RetryableError

T = TypeVar("T")

_MAX_EXPONENT = 1000
"""Beyond this the ceiling is the cap anyway; bounding it keeps ``2.0 ** k`` finite."""


class Uniform(Protocol):
    """A jitter source: ``random.Random`` fits (seed it in tests)."""

    def uniform(self, a: float, b: float, /) -> float:
        """A number between ``a`` and ``b``."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """How many tries and how long to wait between them.

    Attributes:
        attempts: total tries including the first (at least 1).
        base_seconds: ceiling of the wait after the first failure; doubles after each failure.
        cap_seconds: largest ceiling of any single wait.

    Raises:
        ValueError: ``attempts`` below 1, or a negative or NaN delay.
    """

    attempts: int = 5
    base_seconds: float = 0.2
    cap_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"attempts must be at least 1, got {self.attempts}"
            raise ValueError(msg)
        if not (self.base_seconds >= 0 and self.cap_seconds >= 0):  # NaN fails both
            msg = "backoff delays must not be negative"
            raise ValueError(msg)

    def delay(self, failures: int) -> float:
        """Ceiling of the wait after ``failures`` failed tries (1-based): the jitter-free wait."""
        if failures < 1:
            msg = f"failures must be at least 1, got {failures}"
            raise ValueError(msg)
        ceiling = self.base_seconds * 2.0 ** min(failures - 1, _MAX_EXPONENT)
        return float(min(self.cap_seconds, ceiling)) if math.isfinite(ceiling) else self.cap_seconds


def retryable(exc: Exception) -> bool:
    """The default ``retry_if`` of :meth:`Retry.run`: a :class:`RetryableError`."""
    return isinstance(exc, RetryableError)


@dataclass(frozen=True, slots=True)
class Retry:
    """A :class:`Backoff` schedule bound to a ``sleep`` and, for full jitter, an ``rng``.

    Attributes:
        backoff: attempts and delays.
        sleep: called with each wait in seconds.
        rng: jitter source; ``None`` waits the full ceiling each time (deterministic).
    """

    backoff: Backoff
    sleep: Callable[[float], None]
    rng: Uniform | None = None

    def wait(self, failures: int) -> float:
        """The wait after ``failures`` failed tries: the ceiling, or full jitter below it."""
        ceiling = self.backoff.delay(failures)
        if self.rng is None:
            return ceiling
        return min(ceiling, max(0.0, self.rng.uniform(0.0, ceiling)))

    def attempts(self) -> Iterator[int]:
        """Yield the try numbers ``1..attempts``, sleeping the backoff before each try but the
        first. Break out of the loop on success; a loop that ends by itself ran out of tries."""
        for attempt in range(1, self.backoff.attempts + 1):
            if attempt > 1:
                self.sleep(self.wait(attempt - 1))
            yield attempt

    def run(
        self, operation: Callable[[], T], *, retry_if: Callable[[Exception], bool] = retryable
    ) -> T:
        """Call ``operation`` until it returns, retrying the errors ``retry_if`` accepts.

        Raises:
            Exception: whatever ``operation`` raised last once the tries ran out, or at once
                what ``retry_if`` rejects.
        """
        for attempt in self.attempts():
            try:
                return operation()
            except Exception as exc:
                if attempt == self.backoff.attempts or not retry_if(exc):
                    raise
        msg = "unreachable: the last attempt returns or raises"
        raise AssertionError(msg)
