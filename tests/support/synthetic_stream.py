"""Builders for QLDB stream records (Ion binary, valid hashes) and KPL aggregates in tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_kinesis_agg.deaggregator  # noqa: F401 - patches sys.path for the _pb2 modules
from amazon.ion import simpleion
from aws_kinesis_agg.aggregator import RecordAggregator

from schemas.kinesis import StreamRecord, from_lambda
from verification.qldb_hashes import revision_hash

STREAM_ARN = "arn:aws:qldb:eu-west-1:123456789012:stream/ledger/Fy4gT7n9rnrLQDEhY6otul"
STRAND = "JUJgrQeIeI64ZgvXIuqlZ1"
TABLE_ID = "17CRCBBPOEe4aSgHpQ8fSm"
CAPTURES = ("evidence.json", "streams-es_data.json", "streams_data.json", "streams_data1.json")


@dataclass(frozen=True)
class Rev:
    """What a synthetic REVISION_DETAILS says, for building and for expected state."""

    doc_id: str
    version: int
    table: str = "Person"
    data: dict[str, Any] | None = None
    redacted: bool = False
    seq: int = 0

    @property
    def deleted(self) -> bool:
        return self.data is None and not self.redacted


def revision_details(rev: Rev, *, corrupt_hash: bool = False) -> bytes:
    """Ion binary REVISION_DETAILS for ``rev`` with a hash that recomputes (unless corrupt)."""
    seq = rev.seq or 1000 + rev.version
    meta_text = (
        f'{{id:"{rev.doc_id}",version:{rev.version},'
        f'txTime:2024-05-01T10:{rev.version % 60:02d}:00.123Z,txId:"tx{rev.doc_id}{rev.version}"}}'
    )
    metadata = simpleion.loads(meta_text)
    data = None if rev.data is None else simpleion.loads(simpleion.dumps(rev.data))
    data_hash = (
        revision_hash(simpleion.loads('{k:"redacted-' + rev.doc_id + '"}'))
        if rev.redacted
        else None
    )
    rev_hash = revision_hash(metadata, data, data_hash)
    if corrupt_hash:
        rev_hash = bytes(b ^ 0xFF for b in rev_hash)
    revision: dict[str, Any] = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "hash": rev_hash,
        "metadata": metadata,
    }
    if data is not None:
        revision["data"] = data
    if data_hash is not None:
        revision["dataHash"] = data_hash
    record = {
        "qldbStreamArn": STREAM_ARN,
        "recordType": "REVISION_DETAILS",
        "payload": {
            "tableInfo": {"tableName": rev.table, "tableId": TABLE_ID},
            "revision": revision,
        },
    }
    out: bytes = simpleion.dumps(record, binary=True)
    return out


def block_summary(
    seq: int,
    *,
    redacts: Sequence[Rev] = (),
    documents: Sequence[Rev] = (),
    table_id: str = TABLE_ID,
    redaction_info: Any = None,
) -> bytes:
    """Ion binary BLOCK_SUMMARY of block ``seq`` (placeholder hashes, not verifiable).

    ``redacts`` are the revisions its ``redactionInfo`` redacts (each by the block, table id,
    document id and version :func:`revision_details` gives it; a redaction block, whose
    ``transactionInfo`` has a ``REDACT_REVISION`` statement and no ``documents``);
    ``documents`` the revisions it commits (``transactionInfo.documents``). ``redaction_info``
    replaces the built ``redactionInfo`` as it is (malformed shapes).
    """
    at = simpleion.loads(f"2024-06-01T00:{seq % 60:02d}:00.000Z")
    statements = [
        {"statement": "EXEC redact_revision ?, ?, ?", "startTime": at, "statementDigest": b"s" * 32}
        for _ in redacts
    ]
    payload: dict[str, Any] = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "transactionId": f"txblock{seq}",
        "blockTimestamp": at,
        "blockHash": bytes([seq % 256]) * 32,
        "entriesHash": b"e" * 32,
        "previousBlockHash": b"p" * 32,
        "entriesHashList": [b"e" * 32],
        "transactionInfo": {
            "statements": statements,
            **(
                {
                    "documents": {
                        rev.doc_id: {"tableName": rev.table, "tableId": table_id, "statements": [0]}
                        for rev in documents
                    }
                }
                if documents
                else {}
            ),
        },
        "revisionSummaries": [{"hash": b"h" * 32, "documentId": rev.doc_id} for rev in documents],
    }
    if redacts:
        payload["redactionInfo"] = {
            "revisions": [
                {
                    "blockAddress": {
                        "strandId": STRAND,
                        "sequenceNo": rev.seq or 1000 + rev.version,
                    },
                    "tableId": table_id,
                    "documentId": rev.doc_id,
                    "version": rev.version,
                }
                for rev in redacts
            ]
        }
    if redaction_info is not None:
        payload["redactionInfo"] = redaction_info
    record = {"qldbStreamArn": STREAM_ARN, "recordType": "BLOCK_SUMMARY", "payload": payload}
    out: bytes = simpleion.dumps(record, binary=True)
    return out


def control(kind: str = "CREATED") -> bytes:
    """Ion binary CONTROL record."""
    value = {
        "qldbStreamArn": STREAM_ARN,
        "recordType": "CONTROL",
        "payload": {"controlRecordType": kind},
    }
    out: bytes = simpleion.dumps(value, binary=True)
    return out


def aggregate(user_records: Iterable[bytes], keys: Sequence[str] | None = None) -> bytes:
    """One KPL aggregate (built by aws_kinesis_agg) holding ``user_records`` in order."""
    agg = RecordAggregator()
    for index, data in enumerate(user_records):
        key = keys[index] if keys is not None else f"pk{index % 3}"
        full = agg.add_user_record(key, data)
        assert full is None, "test aggregate overflowed one Kinesis record"
    contents: bytes = agg.clear_and_get().get_contents()[2]
    return contents


def outer(data: bytes, seq: int, shard: str = "shardId-000000000000") -> StreamRecord:
    """An outer Kinesis record with a decimal sequence number derived from ``seq``."""
    return StreamRecord(
        data=data,
        partition_key="outer",
        sequence_number=f"4960853339691258056584358{seq:020d}",
        shard_id=shard,
        arrival=1_700_000_000.0 + seq,
    )


def load_capture(capture_dir: Path, name: str) -> dict[str, Any]:
    """One real Lambda event capture."""
    event: dict[str, Any] = json.loads((capture_dir / name).read_text())
    return event


def capture_records(capture_dir: Path) -> list[StreamRecord]:
    """Every outer record of the four real captures, in file order."""
    return [
        from_lambda(record)
        for name in CAPTURES
        for record in load_capture(capture_dir, name)["Records"]
    ]


def lambda_record(record: StreamRecord, stream_arn: str = "arn:aws:kinesis:x") -> dict[str, Any]:
    """The Lambda event form of an outer record."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": base64.b64encode(record.data).decode("ascii"),
            "approximateArrivalTimestamp": record.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{record.shard_id}:{record.sequence_number}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
    }
