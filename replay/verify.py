"""Hash verification of journal exports (``qldb-cdc verify`` and ``replay --verify``).

Guarantees: every block of every object is checked in journal order with
``verification.verifier.ChainVerifier`` (revision hashes, entriesHash, blockHash, the
transactionInfo and revisions Merkle root in entriesHashList, and previousBlockHash links across
blocks, objects and exports). Every problem names the block and, for revisions, the document.
JSON exports cannot be verified (the down-conversion loses Ion types), which is an error, not a
silent pass. A revision that breaks the QLDB format (which a replay dead-letters) is a problem
too, whether or not its hash recomputes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from changes.from_qldb import rejected_revisions
from core.errors import UserInputError
from exports.object_blocks import iter_object_blocks
from exports.plan import ExportPlan
from exports.store import ExportStore
from runtime import interrupts
from schemas.journal import JournalBlock
from schemas.journal_export import ExportFormat
from verification.verifier import ChainVerifier

JSON_NOT_VERIFIABLE = (
    "JSON exports cannot be verified: QLDB's JSON down-conversion loses the Ion types the "
    "hashes cover; export as ION_BINARY or ION_TEXT to verify"
)


class ChainBlockVerifier:
    """Adapts :class:`ChainVerifier` to the replay's ``BlockVerifier`` protocol."""

    def __init__(self) -> None:
        """Start with no previous block."""
        self._chain = ChainVerifier()

    def check(self, block: JournalBlock) -> list[str]:
        """Verify ``block`` and its link to the previous block; one message per problem."""
        return [str(f) for f in self._chain.feed(block.raw)]

    def restart(self) -> None:
        """Forget the previous block: the next one is not linked (objects were skipped)."""
        self._chain = ChainVerifier()


@dataclass
class VerifyResult:
    """Outcome of ``qldb-cdc verify``."""

    objects: int = 0
    blocks: int = 0
    revisions: int = 0
    problems: list[str] = field(default_factory=list)
    problems_total: int = 0
    elapsed_s: float = 0.0
    block_hashes: dict[int, bytes] = field(default_factory=dict)
    """``blockHash`` of the blocks asked for with ``keep_hashes``, by sequence number."""
    notes: list[str] = field(default_factory=list)
    """Lines printed after the summary (what a digest proved)."""

    def lines(self) -> list[str]:
        """Human report: the problems first, then one summary line."""
        out = [f"FAIL {p}" for p in self.problems]
        if self.problems_total > len(self.problems):
            out.append(f"... and {self.problems_total - len(self.problems)} more problems")
        verdict = "OK" if not self.problems_total else f"{self.problems_total} problems"
        out.append(
            f"verify: {verdict}; {self.objects} objects, {self.blocks} blocks, "
            f"{self.revisions} revisions checked in {self.elapsed_s:.1f}s"
        )
        return out + self.notes


def verify_export(
    store: ExportStore,
    plan: ExportPlan,
    *,
    fmt: ExportFormat | None = None,
    max_problems: int = 20,
    keep_hashes: frozenset[int] = frozenset(),
) -> VerifyResult:
    """Check every hash and link of the export; collect (at most ``max_problems``) problems.

    The ``blockHash`` of every block whose sequence number is in ``keep_hashes`` is kept in
    :attr:`VerifyResult.block_hashes` (the last copy, when overlapping exports hold it twice).
    """
    if fmt is ExportFormat.JSON:
        raise UserInputError(JSON_NOT_VERIFIABLE)
    started = time.monotonic()
    result = VerifyResult()
    verifier = ChainBlockVerifier()
    for obj in plan.objects:
        if obj.key in plan.chain_starts:
            verifier.restart()
        for block, block_fmt in iter_object_blocks(store, obj, fmt):
            interrupts.check()  # amazon-ion's C extension may have swallowed a Ctrl-C
            if block_fmt is ExportFormat.JSON:
                raise UserInputError(JSON_NOT_VERIFIABLE)
            result.blocks += 1
            if block.address.sequence_no in keep_hashes:
                result.block_hashes[block.address.sequence_no] = block.block_hash
            result.revisions += len(block.revisions) + len(block.rejected)
            problems = verifier.check(block) + [
                f"{r.reason} (a replay dead-letters this revision)"
                for r in rejected_revisions(block)
            ]
            for problem in problems:
                result.problems_total += 1
                if len(result.problems) < max_problems:
                    result.problems.append(f"{obj.key}: {problem}")
        result.objects += 1
    result.elapsed_s = time.monotonic() - started
    return result
