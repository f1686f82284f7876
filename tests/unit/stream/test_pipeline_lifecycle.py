"""process_batch and table lifecycle: BLOCK_SUMMARY statements reach the projections that record
lifecycle, and a retryable failure to record them retries the summaries that carried them."""

from __future__ import annotations

from typing import Any

from amazon.ion import simpleion

from changes.table_lifecycle import ACTIVE, INACTIVE, BlockLifecycle
from core.errors import ThrottledError
from dead_letters.sinks import ListDeadLetterSink
from projections.memory import MemoryProjection
from stream.pipeline import process_batch
from tests.support.synthetic_stream import (
    STRAND,
    STREAM_ARN,
    TABLE_ID,
    Rev,
    outer,
    revision_details,
)


def block_summary(
    seq: int, statements: list[str], documents: dict[str, Any] | None = None
) -> bytes:
    """Ion binary BLOCK_SUMMARY at ``seq`` with ``statements`` (hashes are opaque)."""
    tx_info: dict[str, Any] = {
        "statements": [
            {
                "statement": text,
                "startTime": simpleion.loads("2024-05-01T10:00:00.000Z"),
                "statementDigest": b"\x05" * 32,
            }
            for text in statements
        ],
    }
    if documents is not None:
        tx_info["documents"] = documents
    record = {
        "qldbStreamArn": STREAM_ARN,
        "recordType": "BLOCK_SUMMARY",
        "payload": {
            "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
            "transactionId": f"tx{seq:020d}",
            "blockTimestamp": simpleion.loads("2024-05-01T10:00:01.000Z"),
            "blockHash": b"\x01" * 32,
            "entriesHash": b"\x02" * 32,
            "previousBlockHash": b"\x03" * 32,
            "entriesHashList": [b"\x04" * 32],
            "transactionInfo": tx_info,
            "revisionSummaries": [{"hash": b"\x06" * 32}],
        },
    }
    out: bytes = simpleion.dumps(record, binary=True)
    return out


def _records() -> list[Any]:
    docs = {"d1": {"tableName": "Person", "tableId": TABLE_ID, "statements": [0]}}
    return [
        outer(block_summary(1, ["CREATE TABLE Person"]), 1),
        outer(block_summary(2, ["INSERT INTO Person ?"], docs), 2),
        outer(revision_details(Rev("d1", 0, data={"a": 1}, seq=2)), 3),
        outer(block_summary(3, ["DROP TABLE Person"]), 4),
        outer(block_summary(4, [f'UNDROP TABLE "{TABLE_ID}"', "DROP TABLE Person"]), 5),
    ]


def test_summaries_record_the_lifecycle_in_any_order() -> None:
    records = _records()
    forward, backward = MemoryProjection(), MemoryProjection()
    assert process_batch(records, [forward], ListDeadLetterSink()).retry_from is None
    for record in reversed(records):  # one at a time, newest first, some twice
        process_batch([record, record], [backward], ListDeadLetterSink())
    assert forward.ledger_tables() == backward.ledger_tables()
    (person,) = forward.ledger_tables()
    assert (person.status, person.table_id) == (INACTIVE, TABLE_ID)
    assert len(forward.documents) == 1  # the dropped table's document is kept
    undropped = MemoryProjection()
    process_batch(
        records[:4] + [outer(block_summary(4, [f'UNDROP TABLE "{TABLE_ID}"']), 5)],
        [undropped],
        ListDeadLetterSink(),
    )
    assert undropped.ledger_tables()[0].status == ACTIVE


class FailingLifecycle(MemoryProjection):
    """Stores changes, but recording lifecycle is throttled."""

    def apply_table_lifecycle(self, lifecycle: BlockLifecycle) -> None:
        raise ThrottledError("slow down")


def test_a_throttled_lifecycle_write_retries_from_the_first_summary_carrying_it() -> None:
    records = _records()
    outcome = process_batch(records[2:], [FailingLifecycle()], ListDeadLetterSink())
    assert outcome.retry_from is records[3]
    assert outcome.failed_indexes == {1, 2}
