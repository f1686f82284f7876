"""Block, revision and chain verification against the four real QLDB stream captures."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyBytes, IonPyText
from aws_kinesis_agg.deaggregator import deaggregate_records

from core.model import BlockAddress
from verification.ionhash import ion_hash
from verification.qldb_hashes import (
    DeletedRevisionRule,
    deleted_revision_hash_candidates,
    dot,
    merkle_root,
)
from verification.verifier import (
    ChainVerifier,
    FailureKind,
    VerificationFailure,
    match_deleted_revision,
    verify_block,
    verify_revision,
)

CAPTURES = ("evidence.json", "streams-es_data.json", "streams_data.json", "streams_data1.json")


@dataclass
class CapturedBlock:
    """One BLOCK_SUMMARY payload and the REVISION_DETAILS revisions of the same block."""

    source: str
    summary: Any
    revisions: list[Any] = field(default_factory=list)

    @property
    def address(self) -> BlockAddress:
        addr = self.summary["blockAddress"]
        return BlockAddress(str(addr["strandId"]), int(addr["sequenceNo"]))

    @property
    def label(self) -> str:
        return f"block {self.address.strand_id}/{self.address.sequence_no}"


def load_blocks(capture_dir: Path) -> list[CapturedBlock]:
    """Fresh IonPy values for every capture (callers may mutate them)."""
    blocks: dict[tuple[str, str, int], CapturedBlock] = {}
    pending: defaultdict[tuple[str, str, int], list[Any]] = defaultdict(list)
    for name in CAPTURES:
        event = json.loads((capture_dir / name).read_text(encoding="utf-8"))
        for record in deaggregate_records(event["Records"]):
            value = simpleion.loads(base64.b64decode(record["kinesis"]["data"]))
            payload = value["payload"]
            if value["recordType"] == "BLOCK_SUMMARY":
                addr = payload["blockAddress"]
                key = (name, str(addr["strandId"]), int(addr["sequenceNo"]))
                blocks[key] = CapturedBlock(name, payload)
            elif value["recordType"] == "REVISION_DETAILS":
                addr = payload["revision"]["blockAddress"]
                key = (name, str(addr["strandId"]), int(addr["sequenceNo"]))
                pending[key].append(payload["revision"])
    for key, revisions in pending.items():
        blocks[key].revisions.extend(revisions)
    return list(blocks.values())


def _doc(revision: Any) -> tuple[str, int]:
    return str(revision["metadata"]["id"]), int(revision["metadata"]["version"])


def _flip(data: bytes, index: int = 0) -> IonPyBytes:
    """Copy of a blob with one bit of byte ``index`` flipped."""
    flipped = bytearray(data)
    flipped[index] ^= 0x01
    return IonPyBytes.from_value(IonType.BLOB, bytes(flipped))


def _kinds(failures: list[VerificationFailure]) -> set[FailureKind]:
    return {f.kind for f in failures}


def as_export_block(block: CapturedBlock) -> dict[str, Any]:
    """Rebuild an export-style journal block: ``revisions`` replaces ``revisionSummaries``."""
    by_hash = {bytes(r["hash"]): r for r in block.revisions}
    revisions = [
        by_hash.get(bytes(s["hash"]), {"hash": s["hash"]})
        for s in block.summary["revisionSummaries"]
    ]
    exported = {k: v for k, v in block.summary.items() if k != "revisionSummaries"}
    exported["revisions"] = revisions
    return exported


@pytest.fixture(scope="module")
def blocks(capture_dir: Path) -> list[CapturedBlock]:
    return load_blocks(capture_dir)


# ------------------------------------------------------------------- real data verifies


def test_captures_contain_the_expected_blocks(blocks: list[CapturedBlock]) -> None:
    assert len(blocks) == 4
    assert sorted(b.address.sequence_no for b in blocks) == [14, 532, 545, 7551]
    assert sum(len(b.revisions) for b in blocks) == 5


def test_every_block_summary_verifies(blocks: list[CapturedBlock]) -> None:
    for block in blocks:
        assert verify_block(block.summary) == [], block.label
        summary = block.summary
        # the individual facts, spelled out
        assert merkle_root(summary["entriesHashList"]) == summary["entriesHash"]
        assert dot(summary["entriesHash"], summary["previousBlockHash"]) == summary["blockHash"]
        assert ion_hash(summary["transactionInfo"]) in summary["entriesHashList"]
        summary_hashes = [s["hash"] for s in summary["revisionSummaries"]]
        assert merkle_root(summary_hashes) in summary["entriesHashList"]


def test_every_revision_details_record_verifies(blocks: list[CapturedBlock]) -> None:
    checked = 0
    for block in blocks:
        for revision in block.revisions:
            assert verify_revision(revision) == [], (block.label, _doc(revision))
            checked += 1
        assert verify_block(block.summary, revision_details=block.revisions) == [], block.label
    assert checked == 5


def test_export_shaped_blocks_verify(blocks: list[CapturedBlock]) -> None:
    for block in blocks:
        assert verify_block(as_export_block(block)) == [], block.label


def test_known_values_from_research_notes(blocks: list[CapturedBlock]) -> None:
    f2 = next(b for b in blocks if b.address.sequence_no == 545)
    block_hash = base64.b64encode(f2.summary["blockHash"]).decode()
    assert block_hash.startswith("voYmPG41")
    assert block_hash.endswith("q8c=")
    (revision,) = f2.revisions
    recomputed = dot(ion_hash(revision["metadata"]), ion_hash(revision["data"]))
    encoded = base64.b64encode(recomputed).decode()
    assert encoded.startswith("JM0cSkJ/")
    assert encoded.endswith("JZY=")


# ---------------------------------------------------------------- tampering is caught


def test_changed_data_byte_names_block_and_document(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        revision = block.revisions[0]
        data = revision["data"]
        key = next(k for k, v in data.items() if isinstance(v, str) and v)
        original = data[key]
        tampered = original[:-1] + chr(ord(original[-1]) ^ 0x01)
        data[key] = IonPyText.from_value(original.ion_type, tampered)
        doc_id, version = _doc(revision)
        expected = f"{block.label}: revision hash mismatch for document {doc_id} v{version}"

        failures = verify_revision(revision)
        assert [f.message for f in failures] == [expected]
        assert failures[0].kind is FailureKind.REVISION_HASH_MISMATCH
        assert failures[0].block == block.address
        assert (failures[0].document_id, failures[0].version) == (doc_id, version)
        assert str(failures[0]) == expected
        assert expected in [
            f.message for f in verify_block(block.summary, revision_details=[revision])
        ]


def test_changed_revision_hash_is_caught(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        revision = block.revisions[0]
        revision["hash"] = _flip(revision["hash"], 31)
        doc_id, version = _doc(revision)
        failures = verify_block(block.summary, revision_details=[revision])
        assert _kinds(failures) == {
            FailureKind.REVISION_HASH_MISMATCH,
            FailureKind.REVISION_NOT_IN_SUMMARY,
        }
        for failure in failures:
            assert failure.message.startswith(f"{block.label}: ")
            assert f"document {doc_id} v{version}" in failure.message


def test_changed_summary_hash_is_caught(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        summary = block.summary["revisionSummaries"][0]
        summary["hash"] = _flip(summary["hash"], 5)
        doc_id = str(summary["documentId"])
        failures = verify_block(block.summary, revision_details=block.revisions)
        kinds = _kinds(failures)
        assert FailureKind.REVISIONS_ROOT_NOT_IN_ENTRIES in kinds
        assert FailureKind.REVISION_NOT_IN_SUMMARY in kinds
        assert all(f.message.startswith(f"{block.label}: ") for f in failures)
        assert all(doc_id in f.message for f in failures)


@pytest.mark.parametrize(
    ("field_name", "kind"),
    [
        ("blockHash", FailureKind.BLOCK_HASH_MISMATCH),
        ("previousBlockHash", FailureKind.BLOCK_HASH_MISMATCH),
        ("entriesHash", FailureKind.ENTRIES_HASH_MISMATCH),
    ],
)
def test_changed_header_hash_is_caught(
    capture_dir: Path, field_name: str, kind: FailureKind
) -> None:
    for block in load_blocks(capture_dir):
        block.summary[field_name] = _flip(block.summary[field_name], 0)
        failures = verify_block(block.summary)
        assert kind in _kinds(failures)
        assert all(f.message.startswith(f"{block.label}: ") for f in failures)


def test_changed_entries_hash_list_is_caught(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        entries = block.summary["entriesHashList"]
        entries[0] = _flip(entries[0], 7)
        assert FailureKind.ENTRIES_HASH_MISMATCH in _kinds(verify_block(block.summary))


def test_changed_transaction_info_is_caught(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        statement = block.summary["transactionInfo"]["statements"][0]
        statement["statement"] = IonPyText.from_value(
            statement["statement"].ion_type, statement["statement"] + " "
        )
        failures = verify_block(block.summary)
        assert _kinds(failures) == {FailureKind.TRANSACTION_INFO_NOT_IN_ENTRIES}
        assert failures[0].message == (
            f"{block.label}: IonHash(transactionInfo) is not in entriesHashList"
        )


def test_changed_export_revision_is_caught(capture_dir: Path) -> None:
    for block in load_blocks(capture_dir):
        exported = as_export_block(block)
        revision = exported["revisions"][0]
        revision["metadata"]["version"] = revision["metadata"]["version"] + 1
        doc_id, version = _doc(revision)
        failures = verify_block(exported)
        assert f"{block.label}: revision hash mismatch for document {doc_id} v{version}" in [
            f.message for f in failures
        ]


def test_revision_in_wrong_block_is_reported(blocks: list[CapturedBlock]) -> None:
    block = blocks[0]
    other = BlockAddress(block.address.strand_id, block.address.sequence_no + 1)
    failures = verify_revision(block.revisions[0], block=other)
    assert _kinds(failures) == {FailureKind.REVISION_BLOCK_MISMATCH}
    assert failures[0].message.startswith(f"block {other.strand_id}/{other.sequence_no}: ")


def test_malformed_block_reports_instead_of_raising() -> None:
    failures = verify_block({"blockAddress": {"strandId": "S", "sequenceNo": 3}})
    assert FailureKind.MISSING_FIELD in _kinds(failures)
    assert all(f.message.startswith("block S/3: ") for f in failures)
    assert verify_block([1, 2])[0].kind is FailureKind.MALFORMED


# ----------------------------------------------------- redacted and deleted revisions


def test_redacted_revision_verifies_with_data_hash(blocks: list[CapturedBlock]) -> None:
    revision = dict(blocks[0].revisions[0])
    revision["dataHash"] = ion_hash(revision.pop("data"))
    assert verify_revision(revision) == []
    revision["dataHash"] = _flip(revision["dataHash"], 3)
    assert _kinds(verify_revision(revision)) == {FailureKind.REVISION_HASH_MISMATCH}


@pytest.mark.parametrize("rule", list(DeletedRevisionRule))
def test_deleted_revision_accepts_either_candidate(
    blocks: list[CapturedBlock], rule: DeletedRevisionRule
) -> None:
    revision = dict(blocks[0].revisions[0])
    del revision["data"]
    metadata = revision["metadata"]
    revision["hash"] = deleted_revision_hash_candidates(metadata)[rule]
    assert verify_revision(revision) == []
    assert match_deleted_revision(metadata, revision["hash"]) is rule
    other = next(r for r in DeletedRevisionRule if r is not rule)
    failures = verify_revision(revision, deleted_rules=[other])
    assert _kinds(failures) == {FailureKind.REVISION_HASH_MISMATCH}
    doc_id, version = _doc(revision)
    assert f"document {doc_id} v{version}" in failures[0].message


def test_deleted_revision_with_wrong_hash_fails(blocks: list[CapturedBlock]) -> None:
    revision = dict(blocks[0].revisions[0])
    del revision["data"]
    assert match_deleted_revision(revision["metadata"], revision["hash"]) is None
    assert _kinds(verify_revision(revision)) == {FailureKind.REVISION_HASH_MISMATCH}


# ------------------------------------------------------------------------------ chain


def _synthetic_chain(length: int, strand: str = "Strand1234567890123456") -> list[dict[str, Any]]:
    """Blocks with valid hashes whose previousBlockHash links them in order."""
    chain: list[dict[str, Any]] = []
    previous = bytes(32)
    for seq in range(length):
        tx_info = {"statements": [{"statement": f"INSERT INTO T {seq}"}], "documents": {}}
        revision = {"hash": ion_hash(f"system revision {seq}")}
        entries = [ion_hash(f"opaque {seq}"), merkle_root([revision["hash"]]), ion_hash(tx_info)]
        entries_root = merkle_root(entries)
        block_hash = dot(entries_root, previous)
        chain.append(
            {
                "blockAddress": {"strandId": strand, "sequenceNo": seq + 100},
                "blockHash": block_hash,
                "entriesHash": entries_root,
                "previousBlockHash": previous,
                "entriesHashList": entries,
                "transactionInfo": tx_info,
                "revisions": [revision],
            }
        )
        previous = block_hash
    return chain


def test_chain_of_valid_blocks_verifies() -> None:
    verifier = ChainVerifier()
    for block in _synthetic_chain(5):
        assert verifier.feed(block) == []
    assert verifier.blocks_verified == 5
    assert verifier.last_address == BlockAddress("Strand1234567890123456", 104)


def test_chain_detects_gap_break_reorder_and_strand_change() -> None:
    chain = _synthetic_chain(6)
    verifier = ChainVerifier()
    assert verifier.feed(chain[0]) == []
    assert verifier.feed(chain[0]) == []  # exact redelivery is harmless

    gap = verifier.feed(chain[2])
    assert [f.message for f in gap] == [
        "block Strand1234567890123456/102: 1 block(s) missing after previous block "
        "Strand1234567890123456/100"
    ]
    assert gap[0].kind is FailureKind.SEQUENCE_GAP

    forged = dict(chain[3])
    forged["previousBlockHash"] = ion_hash("not the previous block")
    forged_failures = verifier.feed(forged, verify_contents=False)
    assert [f.message for f in forged_failures] == [
        "block Strand1234567890123456/103: previousBlockHash does not match blockHash of block "
        "Strand1234567890123456/102"
    ]
    # redelivery of the last block: no second chain failure, but contents are re-verified
    assert _kinds(verifier.feed(forged)) == {FailureKind.BLOCK_HASH_MISMATCH}
    assert _kinds(verifier.feed(chain[1])) == {FailureKind.OUT_OF_ORDER}

    other_strand = _synthetic_chain(1, strand="OtherStrand00000000000")[0]
    assert _kinds(verifier.feed(other_strand)) == {FailureKind.STRAND_CHANGED}


def test_chain_anchored_at_checkpoint_continues_real_block(blocks: list[CapturedBlock]) -> None:
    for block in blocks:
        previous = BlockAddress(block.address.strand_id, block.address.sequence_no - 1)
        good = ChainVerifier(
            previous_address=previous, previous_block_hash=bytes(block.summary["previousBlockHash"])
        )
        assert good.feed(block.summary, revision_details=block.revisions) == []
        assert good.last_block_hash == bytes(block.summary["blockHash"])

        wrong = ChainVerifier(previous_address=previous, previous_block_hash=bytes(32))
        failures = wrong.feed(block.summary)
        assert _kinds(failures) == {FailureKind.CHAIN_BROKEN}
        assert failures[0].message.startswith(f"{block.label}: previousBlockHash")


def test_redelivered_block_contents_are_still_verified(blocks: list[CapturedBlock]) -> None:
    block = blocks[0]
    previous = BlockAddress(block.address.strand_id, block.address.sequence_no - 1)
    verifier = ChainVerifier(
        previous_address=previous, previous_block_hash=bytes(block.summary["previousBlockHash"])
    )
    assert verifier.feed(block.summary, revision_details=block.revisions) == []
    tampered = dict(block.revisions[0])
    tampered["metadata"] = dict(tampered["metadata"], version=7)
    failures = verifier.feed(block.summary, revision_details=[tampered])
    assert FailureKind.REVISION_HASH_MISMATCH in _kinds(failures)
    assert verifier.blocks_verified == 1
