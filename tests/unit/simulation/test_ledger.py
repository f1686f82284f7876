"""The generator: determinism, exact counts, realistic shapes and hashes that verify."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.core import Timestamp, TimestampPrecision

from core.errors import ConfigError
from simulation.config import SimulationConfig
from simulation.ledger import LedgerSimulation, expected_totals, final_state, generate_blocks
from tests.support.simulation_readback import naive_replay
from verification.ionhash import ion_hash
from verification.qldb_hashes import DeletedRevisionRule, dot, merkle_root, revision_hash
from verification.verifier import ChainVerifier, verify_block

SMALL = SimulationConfig(documents=40, revisions=400, seed=11, redaction_ratio=0.05)


def _dump_all(config: SimulationConfig) -> list[bytes]:
    return [simpleion.dumps(block, binary=True) for block in generate_blocks(config)]


def _roundtrip(config: SimulationConfig, *, binary: bool = True) -> list[Any]:
    """Blocks as a reader sees them: written with amazon.ion and read back."""
    return [
        simpleion.loads(simpleion.dumps(block, binary=binary)) for block in generate_blocks(config)
    ]


def _user_revisions(blocks: list[Any]) -> list[Any]:
    return [r for b in blocks for r in b["revisions"] if "metadata" in r]


def test_same_seed_gives_identical_bytes_and_other_seed_differs() -> None:
    first = _dump_all(SMALL)
    assert first == _dump_all(SMALL)
    other = _dump_all(SimulationConfig(documents=40, revisions=400, seed=12, redaction_ratio=0.05))
    assert first != other


@pytest.mark.parametrize(
    ("documents", "revisions", "seed"),
    [(1, 1, 0), (1, 7, 1), (5, 5, 2), (3, 60, 3), (50, 333, 4), (200, 2_000, 5)],
)
def test_exact_revision_and_document_counts(documents: int, revisions: int, seed: int) -> None:
    config = SimulationConfig(
        documents=documents, revisions=revisions, seed=seed, delete_ratio=0.2, redaction_ratio=0.1
    )
    simulation = LedgerSimulation(config)
    blocks = list(simulation)
    user = _user_revisions(blocks)
    assert len(user) == revisions
    inserts = [r for r in user if r["metadata"]["version"] == 0]
    assert len(inserts) == documents
    assert len({r["metadata"]["id"] for r in user}) == documents
    deletes = [r for r in user if "data" not in r and "dataHash" not in r]
    totals = simulation.totals
    assert totals == expected_totals(config)
    assert totals.user_revisions == revisions
    assert totals.deletes == len(deletes) == config.target_deletes
    assert totals.blocks == len(blocks)
    assert totals.redactions == sum(1 for b in blocks if "redactionInfo" in b)
    assert totals.system_revisions == sum(
        1 for b in blocks for r in b["revisions"] if "metadata" not in r
    )
    assert [b["blockAddress"]["sequenceNo"] for b in blocks] == list(range(len(blocks)))


def test_deleted_documents_are_never_touched_again() -> None:
    config = SimulationConfig(documents=30, revisions=600, seed=8, delete_ratio=0.05)
    deleted: set[str] = set()
    for block in generate_blocks(config):
        for revision in block["revisions"]:
            if "metadata" not in revision:
                continue
            doc_id = revision["metadata"]["id"]
            assert doc_id not in deleted
            if "data" not in revision and "dataHash" not in revision:
                deleted.add(doc_id)
    assert len(deleted) == config.target_deletes > 0


def test_every_hash_and_chain_link_recomputes_from_values_as_written() -> None:
    config = SimulationConfig(
        documents=30, revisions=300, seed=21, redaction_ratio=0.1, system_revision_ratio=0.3
    )
    for binary in (True, False):
        previous = None
        for block in _roundtrip(config, binary=binary):
            hashes = []
            for revision in block["revisions"]:
                if "metadata" in revision:
                    recomputed = revision_hash(
                        revision["metadata"], revision.get("data"), revision.get("dataHash")
                    )
                    assert recomputed == revision["hash"]
                hashes.append(revision["hash"])
            entries = list(block["entriesHashList"])
            assert len(entries) == 4
            assert entries[1] == merkle_root(hashes)
            assert entries[3] == ion_hash(block["transactionInfo"])
            assert block["entriesHash"] == merkle_root(entries)
            assert block["blockHash"] == dot(block["entriesHash"], block["previousBlockHash"])
            if previous is not None:
                assert block["previousBlockHash"] == previous
            previous = block["blockHash"]


def test_project_chain_verifier_accepts_the_ledger() -> None:
    config = SimulationConfig(
        documents=30, revisions=300, seed=22, delete_ratio=0.1, redaction_ratio=0.1
    )
    verifier = ChainVerifier(deleted_rules={DeletedRevisionRule.METADATA_ONLY})
    failures = [f for block in _roundtrip(config) for f in verifier.feed(block)]
    assert failures == []
    assert verifier.blocks_verified == expected_totals(config).blocks
    tampered = _roundtrip(config)[40]
    tampered["previousBlockHash"] = bytes(32)
    assert verify_block(tampered) != []


def test_a_tampered_document_no_longer_verifies() -> None:
    block = next(b for b in _roundtrip(SMALL) if any("data" in r for r in b["revisions"]))
    revision = next(r for r in block["revisions"] if "data" in r)
    revision["data"]["Revision"] = 999
    assert revision_hash(revision["metadata"], revision["data"]) != revision["hash"]


def test_statement_digests() -> None:
    blocks = _roundtrip(SMALL)
    ddl = blocks[0]["transactionInfo"]["statements"][0]
    assert ddl["statement"] == "CREATE TABLE Person"
    assert ddl["statementDigest"] == ion_hash("CREATE TABLE Person")
    for block in blocks:
        statements = block["transactionInfo"]["statements"]
        documents = block["transactionInfo"].get("documents") or {}
        for revision in block["revisions"]:
            if "data" in revision and revision["metadata"]["version"] == 0:
                doc = documents[revision["metadata"]["id"]]
                statement = statements[doc["statements"][0]]
                assert statement["statement"] == f"INSERT INTO {doc['tableName']} ?"
                assert statement["statementDigest"] == dot(
                    ion_hash(statement["statement"]), ion_hash(revision["data"])
                )


def test_block_shapes_are_realistic() -> None:
    config = SimulationConfig(
        documents=60, revisions=600, seed=5, redaction_ratio=0.05, system_revision_ratio=0.2
    )
    blocks = _roundtrip(config)
    ddl = blocks[: 2 * len(config.tables)]
    assert [b["transactionInfo"]["statements"][0]["statement"].split()[1] for b in ddl] == [
        "TABLE",
        "INDEX",
    ] * len(config.tables)
    for block in ddl:
        assert "documents" not in block["transactionInfo"]
        assert block["revisions"]
        assert all(list(r.keys()) == ["hash"] for r in block["revisions"])
    user = [b for b in blocks[len(ddl) :] if "redactionInfo" not in b]
    sizes = Counter(sum(1 for r in b["revisions"] if "metadata" in r) for b in user)
    assert sizes[1] > 0
    assert any(size > 1 for size in sizes)
    assert max(sizes) <= config.max_docs_per_tx
    assert any(any("metadata" not in r for r in b["revisions"]) for b in user)
    for block in user:
        documents = block["transactionInfo"]["documents"]
        for revision in block["revisions"]:
            if "metadata" in revision:
                assert revision["blockAddress"] == block["blockAddress"]
                assert revision["metadata"]["txId"] == block["transactionId"]
                assert revision["metadata"]["txTime"] == block["blockTimestamp"]
                assert documents[revision["metadata"]["id"]]["tableName"] in config.tables
    ids = [blocks[0]["blockAddress"]["strandId"], blocks[0]["transactionId"]]
    ids += [r["metadata"]["id"] for b in user for r in b["revisions"] if "metadata" in r][:5]
    for value in ids:
        assert len(value) == 22
        assert value.isalnum()


def test_documents_use_realistic_ion_types() -> None:
    seen: set[str] = set()
    for block in _roundtrip(SMALL):
        for revision in block["revisions"]:
            data = revision.get("data")
            if data is not None:
                _collect_types(data, seen)
    assert {"string", "int", "decimal2", "ms_timestamp_offset", "day_timestamp"} <= seen
    assert {"struct", "list", "blob", "bool", "null"} <= seen


def _collect_types(value: Any, seen: set[str]) -> None:  # noqa: PLR0912 - one per Ion type
    if isinstance(value, dict) or hasattr(value, "items"):
        seen.add("struct")
        for item in value.values():
            _collect_types(item, seen)
    elif isinstance(value, list):
        seen.add("list")
        for item in value:
            _collect_types(item, seen)
    elif isinstance(value, Timestamp):
        if value.precision is TimestampPrecision.DAY:
            seen.add("day_timestamp")
        elif value.fractional_precision == 3 and value.utcoffset():
            seen.add("ms_timestamp_offset")
    elif isinstance(value, bool) or getattr(value, "ion_type", None) == 1:
        seen.add("bool")
    elif isinstance(value, Decimal):
        if value.as_tuple().exponent == -2:
            seen.add("decimal2")
    elif isinstance(value, int):
        seen.add("int")
    elif isinstance(value, str):
        seen.add("string")
    elif isinstance(value, bytes):
        seen.add("blob")
    if value is None or type(value).__name__ == "IonPyNull":
        seen.add("null")


def test_redactions_rewrite_earlier_superseded_revisions() -> None:
    config = SimulationConfig(documents=20, revisions=400, seed=9, redaction_ratio=0.1)
    blocks = _roundtrip(config)
    redaction_blocks = [b for b in blocks if "redactionInfo" in b]
    assert redaction_blocks
    by_address = {b["blockAddress"]["sequenceNo"]: b for b in blocks}
    for block in redaction_blocks:
        assert block["transactionInfo"]["statements"][0]["statement"].startswith(
            "EXEC redact_revision"
        )
        (target,) = block["redactionInfo"]["revisions"]
        seq = target["blockAddress"]["sequenceNo"]
        assert seq < block["blockAddress"]["sequenceNo"]
        redacted = [
            r
            for r in by_address[seq]["revisions"]
            if "metadata" in r and r["metadata"]["id"] == target["documentId"]
        ]
        assert len(redacted) == 1
        revision = redacted[0]
        assert revision["metadata"]["version"] == target["version"]
        assert "data" not in revision
        assert len(revision["dataHash"]) == 32
        assert revision_hash(revision["metadata"], None, revision["dataHash"]) == revision["hash"]
        table_ids = {
            d["tableId"]
            for b in blocks
            for d in (b["transactionInfo"].get("documents") or {}).values()
        }
        assert target["tableId"] in table_ids
        superseded_before = any(
            r.get("metadata") is not None
            and r["metadata"]["id"] == target["documentId"]
            and r["metadata"]["version"] == target["version"] + 1
            for b in blocks[: block["blockAddress"]["sequenceNo"]]
            for r in b["revisions"]
        )
        assert superseded_before
    expected = final_state(config)
    redacted_total = sum(len(doc.redacted_versions) for doc in expected.values())
    assert redacted_total == len(redaction_blocks)


def test_no_redactions_when_ratio_is_zero() -> None:
    config = SimulationConfig(documents=20, revisions=300, seed=9, redaction_ratio=0.0)
    assert not any("redactionInfo" in b for b in generate_blocks(config))


def test_final_state_matches_a_naive_replay_of_the_written_blocks() -> None:
    config = SimulationConfig(
        documents=50, revisions=700, seed=31, delete_ratio=0.05, redaction_ratio=0.05
    )
    replayed = naive_replay(iter(_roundtrip(config)))
    expected = final_state(config)
    assert set(replayed) == set(expected)
    assert sum(1 for doc in expected.values() if doc.deleted) == config.target_deletes
    for key, doc in expected.items():
        got = replayed[key]
        assert (got["version"], got["deleted"], got["redacted"]) == (
            doc.version,
            doc.deleted,
            doc.redacted,
        )
        assert got["data"] == doc.data


def test_invalid_configs_are_rejected() -> None:
    with pytest.raises(ConfigError, match="documents"):
        SimulationConfig(documents=0, revisions=1, seed=0)
    with pytest.raises(ConfigError, match="revisions"):
        SimulationConfig(documents=5, revisions=4, seed=0)
    with pytest.raises(ConfigError, match="delete_ratio"):
        SimulationConfig(documents=5, revisions=5, seed=0, delete_ratio=1.0)
    with pytest.raises(ConfigError, match="table"):
        SimulationConfig(documents=5, revisions=5, seed=0, tables=("Bad Name",))


def _peak_bytes(revisions: int) -> int:
    config = SimulationConfig(documents=100, revisions=revisions, seed=3)
    tracemalloc.start()
    try:
        for block in generate_blocks(config):
            simpleion.dumps(block, binary=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_revisions() -> None:
    # Keeping every block (O(revisions)) would make the 4x larger run peak about 4x higher.
    small = _peak_bytes(300)
    large = _peak_bytes(1_200)
    assert large < 2 * small
