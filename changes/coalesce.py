"""Per-batch coalescing: fewer writes, same final state.

Coalescing is only an optimisation. The guarantee comes from the version-conditioned write in
every projection; coalescing a batch first just avoids writes that the condition would reject.
Both views below are commutative and idempotent: any permutation or duplication of the input
produces the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.model import Change, DocKey


@dataclass(frozen=True, slots=True)
class CoalescedBatch:
    """A batch of changes reduced for writing.

    Attributes:
        latest: per document, the change that wins (see ``Change.supersedes``); this is what a
            current-state projection writes.
        revisions: per (document, version), one change, the merge of its copies
            (``Change.history_copy``: redacted when one copy is, with the revision's metadata
            when one copy has it); this is what a history projection writes.
        received: how many changes went in (duplicates included).
    """

    latest: dict[DocKey, Change]
    revisions: dict[tuple[DocKey, int], Change]
    received: int

    @property
    def superseded(self) -> int:
        """Changes needing no current-state write: a winner for their key is in the batch."""
        return self.received - len(self.latest)


def coalesce(changes: Iterable[Change]) -> CoalescedBatch:
    """Reduce ``changes`` to the winning change per document and one change per revision."""
    latest: dict[DocKey, Change] = {}
    revisions: dict[tuple[DocKey, int], Change] = {}
    received = 0
    for change in changes:
        received += 1
        current = latest.get(change.key)
        if current is None or change.supersedes(current):
            latest[change.key] = change
        slot = (change.key, change.version)
        merged = change.history_copy(revisions.get(slot))
        if merged is not None:
            revisions[slot] = merged
    return CoalescedBatch(latest=latest, revisions=revisions, received=received)
