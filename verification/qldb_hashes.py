"""QLDB hash primitives: the ``dot`` operator, Merkle roots and block/revision hashes.

Every function here is pure and deterministic. Hashes are ``bytes``; non-empty hashes
must be 32 bytes (SHA-256), otherwise :class:`ValueError` is raised.

Definitions (QLDB developer guide "Recalculating your digest using a proof" and the
AWS reference verifiers ``amazon-qldb-dmv-sample-java`` ``Verifier.dot`` /
``calculateMerkleTreeRootHash`` and ``JournalBlock.verifyBlockHash``):

* ``dot(a, b)``: an empty operand yields the other one; otherwise both hashes are
  compared as 32 *signed* bytes from index 31 down to 0, the smaller goes first and the
  result is ``SHA-256(smaller || larger)``. ``dot`` is commutative.
* Merkle root: adjacent pairs are combined left to right with ``dot``; an odd last
  element is carried up unchanged; the empty list has the empty root ``b""``.
* ``revision hash = dot(IonHash(metadata), IonHash(data))``, with the stored
  ``dataHash`` in place of ``IonHash(data)`` for redacted revisions.
* ``entriesHash = MerkleRoot(entriesHashList)``,
  ``blockHash = dot(entriesHash, previousBlockHash)``.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence

from verification.ionhash import ion_hash

__all__ = [
    "EMPTY_SHA256",
    "HASH_LENGTH",
    "DeletedRevisionRule",
    "block_hash",
    "deleted_revision_hash_candidates",
    "dot",
    "entries_hash",
    "fold_proof",
    "merkle_root",
    "revision_hash",
]

HASH_LENGTH = 32
"""Length in bytes of every non-empty QLDB hash (SHA-256)."""

EMPTY_SHA256 = hashlib.sha256(b"").digest()
"""SHA-256 of the empty byte string (used by deleted-revision candidate (b))."""

# Maps a signed byte (as its unsigned value) to a byte whose unsigned order equals the
# signed order of the original: flipping the top bit does exactly that.
_SIGNED_ORDER = bytes(i ^ 0x80 for i in range(256))


class DeletedRevisionRule(enum.Enum):
    """How the hash of a deleted revision (metadata only, no data/dataHash) is formed.

    AWS does not document it and no real deleted-revision vector was available
    (research notes section 4.3), so both candidates are supported.

    Attributes:
        METADATA_ONLY: Candidate (a): ``dot(IonHash(metadata), b"")``, i.e.
            ``IonHash(metadata)`` (an empty data hash contributes nothing).
        EMPTY_DIGEST: Candidate (b): ``dot(IonHash(metadata), SHA-256(b""))``, what the
            current Java sample computes when it hashes an absent value.
    """

    METADATA_ONLY = "a"
    EMPTY_DIGEST = "b"


def _check_hash(name: str, value: bytes) -> None:
    if len(value) not in (0, HASH_LENGTH):
        msg = f"{name} must be empty or {HASH_LENGTH} bytes, got {len(value)}"
        raise ValueError(msg)


def dot(a: bytes, b: bytes) -> bytes:
    """Combine two QLDB hashes with the ``dot`` operator.

    Args:
        a: First hash (32 bytes or empty).
        b: Second hash (32 bytes or empty).

    Returns:
        ``b`` if ``a`` is empty, ``a`` if ``b`` is empty, otherwise
        ``SHA-256(smaller || larger)`` where the order compares the hashes as signed
        bytes from index 31 down to 0. The result does not depend on argument order.

    Raises:
        ValueError: If a non-empty operand is not 32 bytes long.
    """
    _check_hash("a", a)
    _check_hash("b", b)
    if not a:
        return bytes(b)
    if not b:
        return bytes(a)
    if a[::-1].translate(_SIGNED_ORDER) <= b[::-1].translate(_SIGNED_ORDER):
        return hashlib.sha256(a + b).digest()
    return hashlib.sha256(b + a).digest()


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Compute the QLDB Merkle root of a list of hashes.

    Args:
        hashes: Leaf hashes in order (each 32 bytes).

    Returns:
        The root hash; ``b""`` for an empty list and the single element for a list of
        one.

    Raises:
        ValueError: If a hash is not 32 bytes long.
    """
    level = [bytes(h) for h in hashes]
    for h in level:
        _check_hash("leaf", h)
    if not level:
        return b""
    while len(level) > 1:
        paired = [dot(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def fold_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """Fold a GetRevision/GetBlock proof onto a leaf hash.

    Args:
        leaf: Revision hash (GetRevision) or block hash (GetBlock).
        proof: The proof hashes, in the order returned by QLDB.

    Returns:
        ``dot(...dot(dot(leaf, p0), p1)..., pn)``; equal to the ledger digest when the
        proof is valid.

    Raises:
        ValueError: If a hash is not 32 bytes long.
    """
    current = bytes(leaf)
    for p in proof:
        current = dot(current, bytes(p))
    return current


def revision_hash(
    metadata: object,
    data: object | None = None,
    data_hash: bytes | None = None,
    *,
    deleted_rule: DeletedRevisionRule = DeletedRevisionRule.METADATA_ONLY,
) -> bytes:
    """Compute a revision hash from its metadata and data (or data hash).

    Args:
        metadata: The revision ``metadata`` struct ``{id, version, txTime, txId}``
            exactly as read (IonPy or plain values; timestamp precision matters).
        data: The revision ``data`` value, or ``None`` when absent.
        data_hash: The stored ``dataHash`` of a redacted revision; used only when
            ``data`` is ``None``.
        deleted_rule: Rule used when both ``data`` and ``data_hash`` are absent
            (deleted document); see :class:`DeletedRevisionRule`.

    Returns:
        ``dot(IonHash(metadata), IonHash(data))`` if ``data`` is given, else
        ``dot(IonHash(metadata), data_hash)``, else the deleted-revision candidate
        selected by ``deleted_rule``.

    Raises:
        verification.ionhash.IonHashError: If a value cannot be Ion-hashed.
        ValueError: If ``data_hash`` is not 32 bytes long.
    """
    metadata_hash = ion_hash(metadata)
    if data is not None:
        return dot(metadata_hash, ion_hash(data))
    if data_hash is not None:
        if len(data_hash) != HASH_LENGTH:
            msg = f"dataHash must be {HASH_LENGTH} bytes, got {len(data_hash)}"
            raise ValueError(msg)
        return dot(metadata_hash, bytes(data_hash))
    if deleted_rule is DeletedRevisionRule.EMPTY_DIGEST:
        return dot(metadata_hash, EMPTY_SHA256)
    return dot(metadata_hash, b"")


def deleted_revision_hash_candidates(metadata: object) -> dict[DeletedRevisionRule, bytes]:
    """Return every candidate hash of a deleted revision (no data, no dataHash).

    Args:
        metadata: The revision ``metadata`` struct.

    Returns:
        A mapping from each :class:`DeletedRevisionRule` to the hash it produces, so a
        verifier can accept either and report which one matched.

    Raises:
        verification.ionhash.IonHashError: If the metadata cannot be Ion-hashed.
    """
    metadata_hash = ion_hash(metadata)
    return {
        DeletedRevisionRule.METADATA_ONLY: dot(metadata_hash, b""),
        DeletedRevisionRule.EMPTY_DIGEST: dot(metadata_hash, EMPTY_SHA256),
    }


def entries_hash(entries_hash_list: Sequence[bytes]) -> bytes:
    """Compute a block's ``entriesHash``: the Merkle root of ``entriesHashList``.

    Args:
        entries_hash_list: The block's ``entriesHashList`` in stored order.

    Returns:
        The Merkle root (``b""`` for an empty list).

    Raises:
        ValueError: If a hash is not 32 bytes long.
    """
    return merkle_root(entries_hash_list)


def block_hash(entries_hash: bytes, previous_block_hash: bytes) -> bytes:
    """Compute a block's ``blockHash``: ``dot(entriesHash, previousBlockHash)``.

    Args:
        entries_hash: The block's ``entriesHash``.
        previous_block_hash: The ``previousBlockHash`` stored in the block (the
            ``blockHash`` of the preceding block; may be empty for a first block).

    Returns:
        The block hash.

    Raises:
        ValueError: If a non-empty hash is not 32 bytes long.
    """
    return dot(entries_hash, previous_block_hash)
