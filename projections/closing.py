"""Close several resources (projections, clients) so that no cleanup error hides another error.

Guarantee of :func:`closing_all`: every item is closed, whatever the block raised and whatever
each ``close`` raises. When the block raised, that error propagates unchanged (close errors are
added to it as notes); otherwise the first close error is raised after all items were closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol


class Closable(Protocol):
    """Anything with a ``close()``."""

    def close(self) -> None:
        """Release the resource."""
        ...


@contextmanager
def closing_all(items: Sequence[Closable]) -> Iterator[None]:
    """Close every item of ``items`` (read when the block ends) as the module docstring says."""
    try:
        yield
    except BaseException as error:
        for failure in _close_each(items):
            error.add_note(f"closing a target after this error failed too: {failure}")
        raise
    failures = _close_each(items)
    if failures:
        raise failures[0]


def _close_each(items: Sequence[Closable]) -> list[BaseException]:
    failures: list[BaseException] = []
    for item in items:
        try:
            item.close()
        except Exception as exc:  # noqa: BLE001 - kept and re-raised or noted, never dropped
            failures.append(exc)
    return failures
