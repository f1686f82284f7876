"""Anchoring a block to a ledger digest: the fold of a GetBlock/GetRevision proof.

The rule (QLDB developer guide "Verifying a document", and the ``Verifier`` of the QLDB DMV
samples: ``calculate_root_hash_from_internal_hashes`` = ``reduce(dot, proof, leaf)``): start from
a block hash (or a revision hash), combine it with each proof hash in order using ``dot``
(:func:`verification.qldb_hashes.dot`: SHA-256 of the two hashes concatenated, the smaller
first, compared as signed bytes from the last byte), and the result must equal the digest. A
revision proof first climbs its block's revisions and entries trees to ``entriesHash``, then
takes ``previousBlockHash``, which gives the block's ``blockHash``, and continues as the block
proof.

Guarantees: :func:`check_block` and :func:`check_revision` say OK only when the fold from the
given block hash (for a revision, through it) ends at the digest; they never raise on a wrong
proof, they report it. :func:`merkle_path` builds the proof that :func:`fold` takes from a leaf
to the :func:`~verification.qldb_hashes.merkle_root` of a list (the simulator's digests).
Pure.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from core.model import BlockAddress
from verification.qldb_hashes import dot, fold_proof

__all__ = ["AnchorCheck", "b64", "check_block", "check_revision", "fold", "merkle_path"]


def b64(value: bytes) -> str:
    """Standard base64, the form AWS prints hashes and digests in."""
    return base64.b64encode(value).decode("ascii")


def fold(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """``dot(...dot(dot(leaf, proof[0]), proof[1])..., proof[-1])``."""
    return fold_proof(leaf, proof)


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """The outcome of folding one proof."""

    block: BlockAddress
    digest: bytes
    tip: BlockAddress
    computed: bytes | None
    """What the fold gave (None when a revision proof never reached the block's hash)."""
    problem: str | None = None
    """None when the fold ends at the digest; else one line naming the block and the digest."""

    @property
    def ok(self) -> bool:
        """The block's hash folds to the digest."""
        return self.problem is None


def _names(block: BlockAddress, digest: bytes, tip: BlockAddress) -> str:
    return (
        f"block {block.strand_id}/{block.sequence_no} does not match digest {b64(digest)} "
        f"(tip {tip.strand_id}/{tip.sequence_no})"
    )


def check_block(
    block_hash: bytes,
    *,
    block: BlockAddress,
    proof: Sequence[bytes],
    digest: bytes,
    tip: BlockAddress,
) -> AnchorCheck:
    """Fold a block proof from ``block_hash``; OK when it ends at ``digest``."""
    computed = fold(block_hash, proof)
    if computed == digest:
        return AnchorCheck(block, digest, tip, computed)
    problem = f"{_names(block, digest, tip)}: its blockHash and the proof fold to {b64(computed)}"
    return AnchorCheck(block, digest, tip, computed, problem)


def check_revision(
    revision_hash: bytes,
    block_hash: bytes,
    *,
    block: BlockAddress,
    proof: Sequence[bytes],
    digest: bytes,
    tip: BlockAddress,
) -> AnchorCheck:
    """Fold a revision proof: it must pass through ``block_hash`` and end at ``digest``.

    Passing through the block hash is what ties the proof to the block: from there on the proof
    is a block proof of ``block``.
    """
    current = bytes(revision_hash)
    for index, sibling in enumerate(proof):
        if current == block_hash:
            return check_block(block_hash, block=block, proof=proof[index:], digest=digest, tip=tip)
        current = dot(current, sibling)
    if current == block_hash:  # the whole proof climbed the block: the digest is its hash
        return check_block(block_hash, block=block, proof=(), digest=digest, tip=tip)
    problem = (
        f"{_names(block, digest, tip)}: the revision proof never reaches the blockHash of that "
        "block in the export"
    )
    return AnchorCheck(block, digest, tip, None, problem)


def merkle_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The proof of ``leaves[index]``: ``fold(leaves[index], path) == merkle_root(leaves)``.

    The tree is :func:`~verification.qldb_hashes.merkle_root`'s: adjacent pairs left to right,
    an odd last node carried up unchanged (it contributes no proof hash at that level).

    Raises:
        IndexError: ``index`` is not a position in ``leaves``.
    """
    if not 0 <= index < len(leaves):
        msg = f"leaf {index} of {len(leaves)}"
        raise IndexError(msg)
    level = [bytes(leaf) for leaf in leaves]
    path: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [dot(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level, index = paired, index // 2
    return path
