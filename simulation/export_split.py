"""Where to cut a synthetic ledger into N contiguous exports.

:func:`export_ends` chooses, for N exports, the last block of each one from the number of user
revisions in every block (a plan can be replayed for that: :func:`revisions_per_block`).

Guarantees:
    * Exactly N non-empty, contiguous exports covering every block, or :class:`ConfigError`
      when the ledger has fewer than N blocks (nothing has been written by then).
    * Balanced by user revisions: export ``k`` ends at the first block where the running
      revision count reaches ``ceil(revisions * k / N)``; when one block crosses several of
      those thresholds (a block holds several revisions), the following exports end one block
      later each, and near the end of the ledger they are pulled back so every export keeps at
      least one block.
    * Memory: O(N) (one index per export), whatever the number of blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from core.errors import ConfigError
from simulation.config import SimulationConfig
from simulation.planner import LedgerPlan


def revisions_per_block(config: SimulationConfig) -> Iterator[int]:
    """User revisions of every block of the ledger ``config`` describes, in journal order.

    Runs the planner only (no hashing, no Ion), which is a small fraction of generating the
    ledger; the plan is deterministic, so the counts match the generated blocks exactly.
    """
    for planned in LedgerPlan(config):
        yield len(planned.ops)


def export_ends(
    block_revisions: Iterable[int], total_revisions: int, exports: int
) -> tuple[int, ...]:
    """Index (= ``sequenceNo``) of the last block of each of ``exports`` exports.

    Args:
        block_revisions: User revisions per block, in block order (consumed once, streamed).
        total_revisions: Their sum (``config.revisions``); sets the balancing thresholds.
        exports: Number of exports wanted (>= 1).

    Returns:
        ``exports`` strictly increasing block indexes; the last is the last block.

    Raises:
        ConfigError: When ``exports < 1`` or there are fewer blocks than ``exports``.
    """
    if exports < 1:
        msg = f"split_exports must be >= 1, got {exports}"
        raise ConfigError(msg)
    ends: list[int] = []
    seen = 0
    blocks = 0
    for count in block_revisions:
        seen += count
        number = len(ends) + 1
        if number < exports and seen >= _threshold(total_revisions, number, exports):
            ends.append(blocks)
        blocks += 1
    if blocks < exports:
        msg = (
            f"cannot cut a ledger of {blocks} blocks into {exports} exports "
            f"(split_exports must be <= {blocks} here)"
        )
        raise ConfigError(msg)
    ends.extend([blocks - 1] * (exports - len(ends)))
    ends[-1] = blocks - 1
    for position in range(exports - 2, -1, -1):
        ends[position] = min(ends[position], ends[position + 1] - 1)
    return tuple(ends)


def _threshold(total: int, number: int, exports: int) -> int:
    """``ceil(total * number / exports)``: revisions export ``number`` should end after."""
    return -(-total * number // exports)
