"""QLDB Streams records for a block range of a :class:`HandoffLedger`, delivered like Kinesis.

:func:`stream_user_records` emits what a live QLDB stream writes for blocks ``first..last``
(qldb-formats.md §1): a ``CONTROL`` ``CREATED`` record, then per block one ``BLOCK_SUMMARY``
(the block header, ``redactionInfo`` when present, and ``revisionSummaries`` ``[{hash,
documentId}]`` in place of ``revisions``; system revisions have no ``documentId``) and one
``REVISION_DETAILS`` per user revision (``{tableInfo{tableName, tableId}, revision}``), each as its
own Ion binary value. Each block is read as it was when it committed, so no REVISION_DETAILS is
ever redacted.

:func:`deliver` adds what Kinesis does to them: at-least-once duplicates, no order, KPL
aggregation (``aws_kinesis_agg``) with user-record partition keys = hex of the record's hash.
:func:`tests.support.kinesis_events.put_and_read` and :func:`run_like_lambda` move them through a
real (moto) Kinesis stream into Lambda-shaped events and batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_kinesis_agg.deaggregator  # noqa: F401 - patches sys.path for the _pb2 modules
from amazon.ion import simpleion
from aws_kinesis_agg.aggregator import RecordAggregator

from tests.functional.handoff_journal import HandoffLedger

STREAM_ARN = "arn:aws:qldb:us-east-1:123456789012:stream/simulated-ledger/HandoffStream0000000001"
_HEADER = (
    "blockAddress",
    "transactionId",
    "blockTimestamp",
    "blockHash",
    "entriesHash",
    "previousBlockHash",
    "entriesHashList",
    "transactionInfo",
    "redactionInfo",
)


@dataclass(frozen=True)
class UserRecord:
    """One QLDB stream record: its Ion bytes and the KPL partition key QLDB gives it."""

    data: bytes
    partition_key: str


def _record(record_type: str, payload: Mapping[str, Any]) -> bytes:
    value = {"qldbStreamArn": STREAM_ARN, "recordType": record_type, "payload": payload}
    out: bytes = simpleion.dumps(value, binary=True)
    return out


def block_records(ledger: HandoffLedger, seq: int) -> list[UserRecord]:
    """BLOCK_SUMMARY + REVISION_DETAILS of block ``seq``, as the stream emits it at commit."""
    block = ledger.block_view(seq, as_of=seq)
    documents = block["transactionInfo"].get("documents") or {}
    summary: dict[str, Any] = {name: block[name] for name in _HEADER if name in block}
    summary["revisionSummaries"] = [
        {"hash": r["hash"], **({"documentId": r["metadata"]["id"]} if "metadata" in r else {})}
        for r in block["revisions"]
    ]
    out = [UserRecord(_record("BLOCK_SUMMARY", summary), block["blockHash"].hex())]
    for revision in block["revisions"]:
        meta = revision.get("metadata")
        if meta is None:
            continue  # internal system revisions are never streamed as REVISION_DETAILS
        ref = documents[meta["id"]]
        payload = {
            "tableInfo": {"tableName": ref["tableName"], "tableId": ref["tableId"]},
            "revision": revision,
        }
        out.append(UserRecord(_record("REVISION_DETAILS", payload), revision["hash"].hex()))
    return out


def stream_user_records(ledger: HandoffLedger, first: int, last: int) -> list[UserRecord]:
    """CONTROL CREATED, then every record of blocks ``first..last`` in commit order."""
    created = UserRecord(_record("CONTROL", {"controlRecordType": "CREATED"}), "control")
    out = [created]
    for seq in range(first, last + 1):
        out.extend(block_records(ledger, seq))
    return out


def deliver(
    records: Sequence[UserRecord],
    rnd: random.Random,
    *,
    duplicate_share: float = 0.15,
    max_per_aggregate: int = 8,
) -> list[bytes]:
    """Outer Kinesis payloads: records duplicated, shuffled, KPL-aggregated, aggregates
    redelivered. Every input record is in at least one payload."""
    users = list(records)
    users += rnd.sample(users, k=int(len(users) * duplicate_share))
    rnd.shuffle(users)
    payloads: list[bytes] = []
    position = 0
    while position < len(users):
        size = rnd.randint(1, max_per_aggregate)
        chunk = users[position : position + size]
        position += size
        if len(chunk) == 1 and rnd.random() < 0.5:
            payloads.append(chunk[0].data)  # an unaggregated record passes through as is
            continue
        aggregator = RecordAggregator()
        for user in chunk:
            assert aggregator.add_user_record(user.partition_key, user.data) is None
        payloads.append(aggregator.clear_and_get().get_contents()[2])
    payloads += rnd.sample(payloads, k=max(1, len(payloads) // 10))
    rnd.shuffle(payloads)
    return payloads


def run_like_lambda(
    records: Sequence[dict[str, Any]],
    invoke: Callable[[dict[str, Any]], dict[str, list[dict[str, str]]]],
    *,
    batch_size: int = 10,
    max_invocations: int = 500,
) -> int:
    """Deliver ``records`` in batches, restarting from a reported failure; return invocations.

    Raises:
        AssertionError: a reported item is not in its batch, or the shard never drains.
    """
    position = 0
    for invocation in range(max_invocations):
        if position >= len(records):
            return invocation
        batch = list(records[position : position + batch_size])
        response = invoke({"Records": batch})
        failures = response["batchItemFailures"]
        if failures:
            sequence_numbers = [r["kinesis"]["sequenceNumber"] for r in batch]
            position += sequence_numbers.index(failures[0]["itemIdentifier"])
        else:
            position += len(batch)
    raise AssertionError("the shard never drained")
