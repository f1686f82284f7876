"""The digest fold (verification/digest.py) and the digest/proof files (schemas/qldb_digest.py).

Real values: ``tests/fixtures/aws-cli-qldb-proof/`` holds the digest, block 100, the revision of
that block and both proofs that AWS published in the AWS CLI examples for QLDB (see its README);
they fold to the published digest here. No other public (digest, block, proof) triple was found:
the AWS developer guide pages show shapes only, the DMV samples compute proofs live, and the KVS
sample's VERIFICATION.md example does not fold (qldb-formats.md §4.5).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.model import BlockAddress
from schemas.ion_values import loads
from schemas.limits import MAX_INT64
from schemas.qldb_digest import (
    MAX_PROOF_HASHES,
    DigestAnchor,
    DigestFileError,
    LedgerDigest,
    ProofKind,
    pair,
    parse_digest_file,
    parse_proof_file,
)
from verification.digest import check_block, check_revision, fold, merkle_path
from verification.qldb_hashes import dot, merkle_root
from verification.verifier import verify_block

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "aws-cli-qldb-proof"
STRAND = "KmA3ZZca7vAIiJAK9S5Iwl"
hashes = st.binary(min_size=32, max_size=32)


def _real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


# ---------------------------------------------------------------- real AWS-published values


def test_real_block_proof_folds_to_the_published_digest() -> None:
    digest = parse_digest_file(_real("digest.json"), "digest.json")
    proof = parse_proof_file(_real("block-proof.json"), "block-proof.json")
    assert isinstance(digest, LedgerDigest)
    assert digest.tip == BlockAddress(STRAND, 123)
    assert proof.kind is ProofKind.BLOCK
    assert proof.block == BlockAddress(STRAND, 100)
    assert len(proof.hashes) == 7
    assert proof.leaf is not None
    check = check_block(
        proof.leaf, block=proof.block, proof=proof.hashes, digest=digest.digest, tip=digest.tip
    )
    assert check.ok, check.problem
    assert _b64(digest.digest) == "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk="


def test_real_revision_proof_passes_through_the_block_hash() -> None:
    digest = parse_digest_file(_real("digest.json"), "digest.json")
    proof = parse_proof_file(_real("revision-proof.json"), "revision-proof.json")
    block = parse_proof_file(_real("block-proof.json"), "block-proof.json")
    assert isinstance(digest, LedgerDigest)
    assert proof.kind is ProofKind.REVISION
    assert proof.document_id == "JUJgkIcNbhS2goq8RqLuZ4"
    assert proof.leaf is not None and block.leaf is not None
    # entriesHashList[0], dot(entriesHashList[2], [3]), previousBlockHash: then the block proof.
    assert fold(proof.leaf, proof.hashes[:3]) == block.leaf
    assert proof.hashes[3:] == block.hashes
    check = check_revision(
        proof.leaf,
        block.leaf,
        block=proof.block,
        proof=proof.hashes,
        digest=digest.digest,
        tip=digest.tip,
    )
    assert check.ok, check.problem


def test_real_block_passes_every_block_check() -> None:
    text = json.loads(_real("block-proof.json"))["Block"]["IonText"]
    assert verify_block(loads(text)) == []


def test_a_changed_real_proof_hash_names_block_and_digest() -> None:
    digest = parse_digest_file(_real("digest.json"), "digest.json")
    proof = parse_proof_file(_real("block-proof.json"), "block-proof.json")
    assert isinstance(digest, LedgerDigest) and proof.leaf is not None
    tampered = (proof.hashes[0][:-1] + bytes([proof.hashes[0][-1] ^ 1]), *proof.hashes[1:])
    check = check_block(
        proof.leaf, block=proof.block, proof=tampered, digest=digest.digest, tip=digest.tip
    )
    assert not check.ok
    assert check.problem is not None
    assert f"block {STRAND}/100" in check.problem
    assert "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk=" in check.problem
    assert f"tip {STRAND}/123" in check.problem


def test_a_revision_proof_that_misses_the_block_hash_fails() -> None:
    digest = parse_digest_file(_real("digest.json"), "digest.json")
    proof = parse_proof_file(_real("revision-proof.json"), "revision-proof.json")
    assert isinstance(digest, LedgerDigest) and proof.leaf is not None
    check = check_revision(
        proof.leaf,
        bytes(32),
        block=proof.block,
        proof=proof.hashes,
        digest=digest.digest,
        tip=digest.tip,
    )
    assert not check.ok
    assert check.problem is not None and "never reaches the blockHash" in check.problem


# ------------------------------------------------------------------------------ the fold


def _signed_last_first(a: bytes, b: bytes) -> bool:
    """a < b comparing signed bytes from the last one: the order QLDB's dot uses."""
    for x, y in zip(reversed(a), reversed(b), strict=True):
        sx, sy = x - 256 if x > 127 else x, y - 256 if y > 127 else y
        if sx != sy:
            return sx < sy
    return False


@pytest.mark.parametrize(
    ("low", "high"),
    [(0x80, 0x7F), (0x80, 0x00), (0xFF, 0x00), (0x00, 0x7F), (0x80, 0xFF), (0xFE, 0xFF)],
)
def test_dot_orders_by_the_last_byte_as_signed(low: int, high: int) -> None:
    """0x80 is -128: the smallest byte; 0x7f (127) the largest; the last byte decides first."""
    a = bytes([0xFF] * 31 + [low])  # its first bytes are larger unsigned: they must not count
    b = bytes([0x00] * 31 + [high])
    assert dot(a, b) == dot(b, a) == hashlib.sha256(a + b).digest()


def test_dot_looks_at_earlier_bytes_only_on_a_tie() -> None:
    a = bytes([0x80] + [0x11] * 31)
    b = bytes([0x7F] + [0x11] * 31)
    assert dot(a, b) == hashlib.sha256(a + b).digest()


@given(hashes, hashes)
def test_dot_puts_the_signed_last_first_smaller_first(a: bytes, b: bytes) -> None:
    expected = hashlib.sha256(a + b if not _signed_last_first(b, a) else b + a).digest()
    assert dot(a, b) == expected


@given(st.lists(hashes, min_size=1, max_size=40), st.data())
def test_merkle_path_folds_to_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    assert fold(leaves[index], merkle_path(leaves, index)) == merkle_root(leaves)


@given(st.lists(hashes, min_size=2, max_size=40), st.data())
def test_any_changed_proof_hash_breaks_the_fold(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = merkle_path(leaves, index)
    at = data.draw(st.integers(0, len(path) - 1))
    bit = data.draw(st.integers(0, 255))
    changed = bytearray(path[at])
    changed[bit // 8] ^= 1 << (bit % 8)
    path[at] = bytes(changed)
    tip = BlockAddress("S", len(leaves) - 1)
    check = check_block(
        leaves[index],
        block=BlockAddress("S", index),
        proof=path,
        digest=merkle_root(leaves),
        tip=tip,
    )
    assert not check.ok


def test_merkle_path_refuses_a_leaf_outside_the_list() -> None:
    with pytest.raises(IndexError):
        merkle_path([bytes(32)], 1)


# ------------------------------------------------------------------------------ the files


def _proofs_file(**changes: object) -> bytes:
    value: dict[str, object] = {
        "Ledger": "L",
        "Digest": _b64(bytes(range(32))),
        "DigestTipAddress": {"strandId": STRAND, "sequenceNo": 9},
        "Export": "E",
        "LastBlockNum": 7,
        "LastBlockTimestamp": "2024-01-01T00:00:00.000000Z",
        "Proof": [_b64(bytes(32)), _b64(b"\x01" * 32)],
    }
    value.update(changes)
    return json.dumps({k: v for k, v in value.items() if v is not None}).encode()


def test_a_proofs_file_is_an_anchor_of_its_last_block() -> None:
    anchor = parse_digest_file(_proofs_file(), "x.proofs.json")
    assert isinstance(anchor, DigestAnchor)
    assert anchor.proof.block == BlockAddress(STRAND, 7)
    assert anchor.proof.leaf is None
    assert anchor.digest.tip == BlockAddress(STRAND, 9)
    assert anchor.sources == "x.proofs.json"


def test_a_utf8_bom_is_skipped() -> None:
    assert isinstance(parse_digest_file(b"\xef\xbb\xbf" + _proofs_file(), "f"), DigestAnchor)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe", "is not JSON"),
        (b"{", "is not JSON"),
        (b"[]", "is not a JSON object"),
        (b"[" * 100_000, "is not JSON"),
        (b"{}", "has no Digest"),
        (_proofs_file(Digest="AAAA"), "Digest is not the base64 of 32 bytes"),
        (_proofs_file(Digest=_b64(bytes(33))), "Digest is not the base64 of 32 bytes"),
        (_proofs_file(Digest="not base64!"), "Digest is not the base64 of 32 bytes"),
        (_proofs_file(Digest=5), "Digest is not the base64 of 32 bytes"),
        (_proofs_file(LastBlockNum=-1), "LastBlockNum -1 is outside"),
        (_proofs_file(LastBlockNum=MAX_INT64 + 1), "is outside 0.."),
        (_proofs_file(LastBlockNum=True), "LastBlockNum is not an integer"),
        (_proofs_file(LastBlockNum="7"), "LastBlockNum is not an integer"),
        (_proofs_file(LastBlockNum=None), "has no LastBlockNum"),
        (_proofs_file(LastBlockNum=10), "after the tip 9"),
        (_proofs_file(Proof="x"), "Proof is not a list"),
        (_proofs_file(Proof=["x"]), "Proof[0] is not the base64 of 32 bytes"),
        (_proofs_file(Proof=[_b64(bytes(32))] * (MAX_PROOF_HASHES + 1)), "at most 256"),
        (_proofs_file(DigestTipAddress={"strandId": "a/b", "sequenceNo": 1}), "strandId is not"),
        (_proofs_file(DigestTipAddress={"strandId": STRAND}), "sequenceNo is not an integer"),
        (_proofs_file(DigestTipAddress=[1]), "DigestTipAddress is not an object"),
        (_proofs_file(Ledger=3), "Ledger is not a string"),
        (b'{"Digest": "x", "DigestTipAddress": {"IonText": "{"}}', "base64 of 32 bytes"),
        (
            json.dumps(
                {"Digest": _b64(bytes(32)), "DigestTipAddress": {"IonText": "{strandId:"}}
            ).encode(),
            "DigestTipAddress.IonText is not Ion text",
        ),
        (
            json.dumps(
                {"Digest": _b64(bytes(32)), "DigestTipAddress": {"IonText": "{sequenceNo:1}"}}
            ).encode(),
            "strandId is not 1 to 64 letters and digits",
        ),
        (
            json.dumps(
                {
                    "Digest": _b64(bytes(32)),
                    "DigestTipAddress": {"IonText": '{strandId:"A",sequenceNo:1.5}'},
                }
            ).encode(),
            "sequenceNo is not an integer",
        ),
        (b'{"Block": {}, "Proof": {}}', "pass it as --proof"),
    ],
)
def test_a_malformed_digest_file_is_one_line_naming_the_file(data: bytes, expected: str) -> None:
    with pytest.raises(DigestFileError) as caught:
        parse_digest_file(data, "the-file.json")
    message = str(caught.value)
    assert expected in message
    assert message.startswith("the-file.json")
    assert "\n" not in message


def _proof(**parts: object) -> bytes:
    return json.dumps(parts).encode()


GOOD_PROOF = {"IonText": "[{{" + _b64(bytes(32)) + "}}]"}
GOOD_BLOCK = {
    "IonText": '{blockAddress:{strandId:"S",sequenceNo:3},blockHash:{{' + _b64(bytes(32)) + "}}}"
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"null", "is not a JSON object"),
        (_proof(Block=GOOD_BLOCK), "has no Proof"),
        (_proof(Proof=GOOD_PROOF), "neither Block nor Revision"),
        (_proof(Proof=GOOD_PROOF, Block="x"), 'Block is not {"IonText": "..."}'),
        (_proof(Proof={"IonText": "[1]"}, Block=GOOD_BLOCK), "Proof[0] is not a 32-byte Ion blob"),
        (_proof(Proof={"IonText": '["AAAA"]'}, Block=GOOD_BLOCK), "is not a 32-byte Ion blob"),
        (_proof(Proof={"IonText": "[{{AAAA}}]"}, Block=GOOD_BLOCK), "is not a 32-byte Ion blob"),
        (
            _proof(Proof={"IonText": "[{{" + _b64(bytes(32)) + "}}]"}, Block={"IonText": "5"}),
            "Block has no blockAddress",
        ),
        (_proof(Proof={"IonText": "{}"}, Block=GOOD_BLOCK), "is not an Ion list"),
        (_proof(Proof={"IonText": "[{{"}, Block=GOOD_BLOCK), "Proof.IonText is not Ion text"),
        (
            _proof(
                Proof=GOOD_PROOF, Revision={"IonText": '{blockAddress:{strandId:"S",sequenceNo:3}}'}
            ),
            "Revision has no hash",
        ),
        (
            _proof(
                Proof=GOOD_PROOF,
                Block={"IonText": '{blockAddress:{strandId:"S",sequenceNo:3},blockHash:"x"}'},
            ),
            "blockHash is not a 32-byte Ion blob",
        ),
        (_proof(Digest="x", Proof=GOOD_PROOF), "pass it as --digest"),
    ],
)
def test_a_malformed_proof_file_is_one_line_naming_the_file(data: bytes, expected: str) -> None:
    with pytest.raises(DigestFileError) as caught:
        parse_proof_file(data, "p.json")
    message = str(caught.value)
    assert expected in message
    assert message.startswith("p.json")
    assert "\n" not in message


def test_pairing_refuses_another_strand_and_a_block_after_the_tip() -> None:
    proof = parse_proof_file(_proof(Proof=GOOD_PROOF, Block=GOOD_BLOCK), "p.json")
    with pytest.raises(
        DigestFileError, match=re.escape("strand S, but the digest in d.json is of strand T")
    ):
        pair(LedgerDigest(bytes(32), BlockAddress("T", 9), "d.json"), proof)
    with pytest.raises(DigestFileError, match="proves block 3, after the tip 2"):
        pair(LedgerDigest(bytes(32), BlockAddress("S", 2), "d.json"), proof)
    assert pair(LedgerDigest(bytes(32), BlockAddress("S", 3), "d.json"), proof).proof is proof


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_with_one_line(data: bytes) -> None:
    for parse in (parse_digest_file, parse_proof_file):
        message = ""
        try:
            parse(data, "f")
        except DigestFileError as exc:
            message = str(exc)
        assert "\n" not in message
