"""Fast proof that an export block verifies cleanly, for :func:`verification.verifier.verify_block`.

:func:`block_verifies` answers True only when ``verify_block`` would report no failure for the
block: it runs the same checks (entriesHash, blockHash, the transactionInfo hash and the revisions'
Merkle root in entriesHashList, every revision hash, dataHash and blockAddress) on the usual shape
of a decoded export block (``IonPyDict`` or ``dict`` structs, bare ``str``/``int``/``bytes``) with
fewer calls: fields are read straight from the struct's store, each hash list once, ``dot`` on
hashes whose length is already known. Anything else (a failed check, a missing or unusual field, a
stream block, a deleted revision no rule matches, a value that cannot be hashed) answers False, and
the caller runs the general verifier, which finds and words every failure. The answer never
depends on which path runs: True means the general path returns an empty list. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from verification.ionhash import IonHashError, ion_hash
from verification.qldb_hashes import (
    EMPTY_SHA256,
    HASH_LENGTH,
    DeletedRevisionRule,
)

_SIGNED_ORDER = bytes(i ^ 0x80 for i in range(256))
_sha256 = hashlib.sha256


class _Unusual(Exception):
    """The block is not of the usual shape, or a check failed: the general verifier decides."""


def _dot(a: bytes, b: bytes) -> bytes:
    """``qldb_hashes.dot`` of two 32-byte hashes."""
    if a[::-1].translate(_SIGNED_ORDER) <= b[::-1].translate(_SIGNED_ORDER):
        return _sha256(a + b).digest()
    return _sha256(b + a).digest()


def _merkle_root(level: list[bytes]) -> bytes:
    """``qldb_hashes.merkle_root`` of a non-empty list of 32-byte hashes."""
    while len(level) > 1:
        paired = [_dot(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _fields(value: Any) -> dict[Any, Any]:
    """The struct as the dict ``verifier._get`` reads (last of repeated names), or _Unusual."""
    cls = value.__class__
    if cls is dict:
        plain: dict[Any, Any] = value
        return plain
    if cls.__name__ == "IonPyDict":
        store: dict[Any, list[Any]] = value._IonPyDict__store
        return {key: items[-1] for key, items in store.items()}
    raise _Unusual


def _is_struct(value: Any) -> bool:
    cls = value.__class__
    return cls is dict or cls.__name__ == "IonPyDict"


def _hash(value: Any) -> bytes:
    """A 32-byte blob (``bytes``), or _Unusual."""
    if value.__class__ is not bytes or len(value) != HASH_LENGTH:
        raise _Unusual
    hash_value: bytes = value
    return hash_value


def _is_null(value: Any) -> bool:
    return value is None or type(value).__name__ == "IonPyNull"


def block_verifies(block: Any, deleted_rules: Collection[DeletedRevisionRule]) -> bool:
    """True only if ``verify_block(block, deleted_rules=deleted_rules)`` finds no failure.

    False says nothing: the general verifier must run (and may still find none).
    """
    try:
        return _verifies(block, deleted_rules)
    except (_Unusual, IonHashError, KeyError, IndexError, TypeError, AttributeError):
        return False


def _verifies(block: Any, deleted_rules: Collection[DeletedRevisionRule]) -> bool:  # noqa: PLR0912 - one pass over the checks of verify_block
    fields = _fields(block)
    address = _fields(fields["blockAddress"])
    strand = address["strandId"]
    seq = address["sequenceNo"]
    if strand.__class__ is not str or seq.__class__ is not int:
        return False
    block_hash = _hash(fields["blockHash"])
    entries_hash = _hash(fields["entriesHash"])
    previous = _hash(fields["previousBlockHash"])
    raw_entries = fields["entriesHashList"]
    if raw_entries.__class__ is not list or not raw_entries:
        return False
    entries = [_hash(h) for h in raw_entries]
    if _merkle_root(entries) != entries_hash or _dot(entries_hash, previous) != block_hash:
        return False
    entry_set = set(entries)
    transaction_info = fields.get("transactionInfo")
    if not _is_null(transaction_info) and ion_hash(transaction_info) not in entry_set:
        return False
    if "revisionSummaries" in fields:
        return False  # a stream block
    raw_revisions = fields.get("revisions")
    if raw_revisions is None:
        return True
    if raw_revisions.__class__ is not list:
        return False
    stored_hashes: list[bytes] = []
    for raw in raw_revisions:
        revision = _fields(raw)
        own = revision.get("blockAddress")
        if own is not None:
            own_fields = _fields(own)
            own_strand = own_fields["strandId"]
            own_seq = own_fields["sequenceNo"]
            if own_strand.__class__ is not str or own_seq.__class__ is not int:
                return False
            if own_strand != strand or own_seq != seq:
                return False
        stored = _hash(revision["hash"])
        stored_hashes.append(stored)
        metadata = revision.get("metadata")
        if metadata is None:
            continue  # a system revision: its hash is covered by the Merkle root
        if not _is_struct(metadata):
            return False
        metadata_hash = ion_hash(metadata)
        data = revision.get("data")
        data_hash = revision.get("dataHash")
        if data is not None:
            if not _is_struct(data):
                return False
            computed_data_hash = ion_hash(data)
            if data_hash is not None and _hash(data_hash) != computed_data_hash:
                return False
            computed = _dot(metadata_hash, computed_data_hash)
        elif data_hash is not None:
            computed = _dot(metadata_hash, _hash(data_hash))
        else:
            candidates = {
                DeletedRevisionRule.METADATA_ONLY: metadata_hash,
                DeletedRevisionRule.EMPTY_DIGEST: _dot(metadata_hash, EMPTY_SHA256),
            }
            if not any(candidates[rule] == stored for rule in deleted_rules):
                return False
            continue
        if computed != stored:
            return False
    return not stored_hashes or _merkle_root(stored_hashes) in entry_set
