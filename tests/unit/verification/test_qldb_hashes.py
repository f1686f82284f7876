"""QLDB hash primitives: dot, Merkle roots, revision and block hashes."""

from __future__ import annotations

import base64
import hashlib
from functools import reduce

import pytest
from amazon.ion import simpleion
from hypothesis import given
from hypothesis import strategies as st

from verification.ionhash import ion_hash
from verification.qldb_hashes import (
    EMPTY_SHA256,
    DeletedRevisionRule,
    block_hash,
    deleted_revision_hash_candidates,
    dot,
    entries_hash,
    fold_proof,
    merkle_root,
    revision_hash,
)

hashes32 = st.binary(min_size=32, max_size=32)


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _reference_dot(a: bytes, b: bytes) -> bytes:
    """Literal transcription of the Java sample's ``Verifier.dot``/``compareHashes``."""
    if not a:
        return b
    if not b:
        return a
    for i in range(31, -1, -1):
        left = a[i] - 256 if a[i] > 127 else a[i]
        right = b[i] - 256 if b[i] > 127 else b[i]
        if left != right:
            first, second = (a, b) if left < right else (b, a)
            return hashlib.sha256(first + second).digest()
    return hashlib.sha256(a + b).digest()


def test_dot_with_an_empty_operand_returns_the_other() -> None:
    h = bytes(range(32))
    assert dot(h, b"") == h
    assert dot(b"", h) == h
    assert dot(b"", b"") == b""


def test_dot_compares_signed_bytes_from_the_last_index() -> None:
    low = bytes(31) + b"\x80"  # last byte -128: smaller although 0x80 > 0x01 unsigned
    high = b"\xff" * 31 + b"\x01"
    assert dot(low, high) == hashlib.sha256(low + high).digest()
    assert dot(high, low) == hashlib.sha256(low + high).digest()
    # equal last bytes: the next byte down decides
    a = b"\x00" * 30 + b"\x7f\x05"
    b = b"\xff" * 30 + b"\x80\x05"
    assert dot(a, b) == hashlib.sha256(b + a).digest()


@given(hashes32, hashes32)
def test_dot_matches_reference_and_commutes(a: bytes, b: bytes) -> None:
    assert dot(a, b) == _reference_dot(a, b)
    assert dot(a, b) == dot(b, a)


@pytest.mark.parametrize("bad", [b"\x00", bytes(31), bytes(33)])
def test_dot_rejects_wrong_lengths(bad: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        dot(bad, bytes(32))


def test_merkle_root_shapes() -> None:
    a, b, c, d, e = (hashlib.sha256(bytes([i])).digest() for i in range(5))
    assert merkle_root([]) == b""
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == dot(a, b)
    assert merkle_root([a, b, c]) == dot(dot(a, b), c)
    assert merkle_root([a, b, c, d]) == dot(dot(a, b), dot(c, d))
    assert merkle_root([a, b, c, d, e]) == dot(dot(dot(a, b), dot(c, d)), e)
    assert entries_hash([a, b, c]) == merkle_root([a, b, c])


def test_fold_proof_applies_dot_left_to_right() -> None:
    leaf, p1, p2 = (hashlib.sha256(bytes([i])).digest() for i in range(3))
    assert fold_proof(leaf, [p1, p2]) == dot(dot(leaf, p1), p2)
    assert fold_proof(leaf, []) == leaf
    assert fold_proof(leaf, [p1, p2]) == reduce(_reference_dot, [p1, p2], leaf)


# Known values from the research notes (section 6), F5:
# aws-samples/amazon-qldb-streams-dmv-sample-lambda-python tests/unit/fixtures.py (MIT-0).
F5_BLOCK_HASH = _b64("lu425dAWsmvzxuNHTbn4ID4mLo0bWKkjLP2Uel4wrPQ=")
F5_ENTRIES_HASH = _b64("RNGQGcOKCGLCo5S+hs1eboanNrocIzRiqzzq1s99G/Q=")
F5_PREVIOUS_HASH = _b64("pV28aszpqJH9LOO9oMsACDmXfdzdEW7HYxzuQVIjSDU=")
F5_ENTRIES = [
    _b64("LmcGQjLlfScQQxbzaoglEpXpeN9bp7I/QUk690ncEpk="),
    _b64("vJFOcsNRM14gsIBSEnwPhMVgRAWf/4EUW5gPYbtmDv0="),
    _b64("KXJrG8t/KePERHasyztlv4kZPol4Q2buhWmy7iJrsiY="),
    _b64("Lz3XWBwtWyBA/Lhj+UoLhbajPQ8Mk9N4j0HJlrm2OTg="),
]
F5_METADATA = """{id: "D35qd3e2prnJYmtKW6kok1", version: 0, txTime: 2019-12-11T07:20:51.245Z,
                  txId: "0007KbqoyqAIch6XRbQ4iA"}"""
F5_DATA_ORIGINAL = """{FirstName: "Testing new 600", LastName: "Lewis", DOB: 1963-08-19T,
    GovId: "LEWISR261LL", GovIdType: "Driver License",
    Address: "1719 University Street, Seattle, WA, 98109"}"""


def test_block_hash_and_entries_hash_of_known_block() -> None:
    assert entries_hash(F5_ENTRIES) == F5_ENTRIES_HASH
    assert block_hash(F5_ENTRIES_HASH, F5_PREVIOUS_HASH) == F5_BLOCK_HASH
    assert block_hash(F5_ENTRIES_HASH, F5_PREVIOUS_HASH[:-1] + b"\x00") != F5_BLOCK_HASH


def test_revision_hash_of_known_revision() -> None:
    metadata = simpleion.loads(F5_METADATA)
    data = simpleion.loads(F5_DATA_ORIGINAL)
    assert revision_hash(metadata, data) == F5_ENTRIES[1]
    # the same revision, redacted: the data hash stands in for the data
    assert revision_hash(metadata, data_hash=ion_hash(data)) == F5_ENTRIES[1]
    # the sample's author edited FirstName; the hash no longer matches
    edited = simpleion.loads(F5_DATA_ORIGINAL.replace("Testing new 600", "Nova"))
    assert revision_hash(metadata, edited) != F5_ENTRIES[1]


def test_revision_hash_rejects_bad_data_hash_length() -> None:
    with pytest.raises(ValueError, match="dataHash"):
        revision_hash(simpleion.loads(F5_METADATA), data_hash=b"\x01" * 31)


def test_deleted_revision_candidates() -> None:
    metadata = simpleion.loads(F5_METADATA)
    metadata_hash = ion_hash(metadata)
    candidates = deleted_revision_hash_candidates(metadata)
    assert candidates[DeletedRevisionRule.METADATA_ONLY] == metadata_hash
    assert candidates[DeletedRevisionRule.EMPTY_DIGEST] == dot(metadata_hash, EMPTY_SHA256)
    assert hashlib.sha256(b"").digest() == EMPTY_SHA256
    assert revision_hash(metadata) == metadata_hash  # default: candidate (a)
    assert (
        revision_hash(metadata, deleted_rule=DeletedRevisionRule.EMPTY_DIGEST)
        == candidates[DeletedRevisionRule.EMPTY_DIGEST]
    )
    assert (
        candidates[DeletedRevisionRule.METADATA_ONLY]
        != candidates[DeletedRevisionRule.EMPTY_DIGEST]
    )


def test_statement_digest_without_parameters_is_ion_hash_of_text() -> None:
    # F5: statementDigest of a parameterless INSERT == IonHash(statement string)
    statement = (
        "INSERT INTO Person <<\n{\n    'FirstName' : 'Testing new 600',\n"
        "    'LastName' : 'Lewis',\n    'DOB' : `1963-08-19T`,\n"
        "    'GovId' : 'LEWISR261LL',\n    'GovIdType' : 'Driver License',\n"
        "    'Address' : '1719 University Street, Seattle, WA, 98109'\n}\n>>"
    )
    assert ion_hash(statement) == _b64("t5wbRW+wIi/X0n3iPhFJtbt2qpzzgWkOXIFC4xJHp4o=")
