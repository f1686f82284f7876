"""Table lifecycle in a replay: collect each block's events and table identities, hand them to
the targets that record them (``projections.base.TableLifecycleProjection``).

Guarantees: what a batch collected is applied to every lifecycle target before the batch's
objects are recorded complete (so a resumed replay never misses an event); a table identity is
sent once per replay process, or again from an earlier block (targets keep the earliest); a
target that keeps failing retryably stops the replay like a failing ``apply`` (nothing recorded
as done).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from changes.table_lifecycle import BlockLifecycle, block_events, block_identities
from core.errors import CdcError, RetryableError, StorageError
from core.retry import Backoff, Retry
from projections.base import Projection, TableLifecycleProjection
from schemas.journal import JournalBlock


class LifecycleQueue:
    """Lifecycle events and identities read but not applied yet."""

    def __init__(self) -> None:
        """Start empty."""
        self.pending = BlockLifecycle()
        self._seen: dict[tuple[str, str | None], tuple[str, int]] = {}

    def read(self, block: JournalBlock) -> tuple[int, int]:
        """Queue ``block``'s lifecycle; return (events found, unparsed statements)."""
        events, unparsed = block_events(block)
        if events:
            self.pending.events.extend(events)
        if block.documents:
            self.pending.identities.extend(block_identities(block, self._seen))
        return len(events), unparsed

    def apply(
        self,
        targets: Sequence[Projection],
        backoff: Backoff,
        sleep: Callable[[float], None],
        give_up: Callable[[str], CdcError],
    ) -> None:
        """Apply the queued lifecycle to every target that records it, then forget it.

        Raises:
            StorageError: a target's storage is full (at once: waiting frees nothing).
            CdcError: ``give_up(message)``, when a target failed retryably ``backoff.attempts``
                times (the engine's ``TargetUnavailableError``); the queue is kept.
        """
        if not self.pending:
            return
        for target in targets:
            if isinstance(target, TableLifecycleProjection):
                _apply_one(
                    target, target.name, self.pending, backoff=backoff, sleep=sleep, give_up=give_up
                )
        self.pending = BlockLifecycle()


def _apply_one(
    target: TableLifecycleProjection,
    name: str,
    lifecycle: BlockLifecycle,
    *,
    backoff: Backoff,
    sleep: Callable[[float], None],
    give_up: Callable[[str], CdcError],
) -> None:
    for attempt in Retry(backoff, sleep).attempts():
        try:
            target.apply_table_lifecycle(lifecycle)
        except StorageError:
            raise
        except RetryableError as exc:
            error: CdcError = exc
        else:
            return
        if attempt == backoff.attempts:
            msg = (
                f"target {name} keeps failing to record table lifecycle after {attempt} attempts"
                f" ({error}); nothing was lost: re-run the same command to resume"
            )
            raise give_up(msg) from error
