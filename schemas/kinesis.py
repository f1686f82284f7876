"""Kinesis records as the stream path sees them, independent of who delivered them.

Three deliverers exist: AWS Lambda (a Kinesis event source mapping; it never de-aggregates KPL
records), the KCL MultiLangDaemon (it de-aggregates and gives each user record a
``subSequenceNumber``) and a plain ``GetRecords`` call (``qldb-cdc redrive``: raw bytes, the same
bytes as the Lambda event's base64, never de-aggregated). All become a :class:`StreamRecord`.
Pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import DecodeError, InvalidRecordError


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One Kinesis record (outer or de-aggregated user record).

    Attributes:
        data: the record bytes (base64 already decoded).
        partition_key: the Kinesis partition key (for a user record: from the KPL key table).
        sequence_number: the outer Kinesis sequence number (decimal string); user records of one
            aggregate share it.
        sub_sequence_number: ``None`` for an outer record that may still be KPL-aggregated; the
            0-based index inside its aggregate for an already de-aggregated user record.
        shard_id: ``shardId-...`` when known.
        arrival: ``approximateArrivalTimestamp`` as epoch seconds, when known.
    """

    data: bytes
    partition_key: str
    sequence_number: str
    sub_sequence_number: int | None = None
    shard_id: str | None = None
    arrival: float | None = None

    @property
    def position(self) -> str:
        """Human-readable identity ``shard/sequence[.sub]`` for logs and dead letters."""
        sub = "" if self.sub_sequence_number is None else f".{self.sub_sequence_number}"
        return f"{self.shard_id or '?'}/{self.sequence_number}{sub}"


def from_lambda(record: Mapping[str, Any]) -> StreamRecord:
    """Build a record from one ``event["Records"][i]`` of a Lambda Kinesis event.

    ``eventID`` (``shardId-...:<sequenceNumber>``) gives the shard; it may be absent in
    hand-captured events, then ``shard_id`` is ``None``.

    Raises:
        DecodeError: ``kinesis.data`` is not valid base64.
        InvalidRecordError: the record lacks ``kinesis``, ``data`` or ``sequenceNumber``.
    """
    kinesis = record.get("kinesis")
    if not isinstance(kinesis, Mapping):
        msg = "Lambda Kinesis record has no 'kinesis' object"
        raise InvalidRecordError(msg)
    sequence = _required_str(kinesis, "sequenceNumber", "Lambda Kinesis record")
    event_id = record.get("eventID")
    shard_id = None
    if isinstance(event_id, str) and ":" in event_id:
        shard_id = event_id.split(":", 1)[0]
    arrival = kinesis.get("approximateArrivalTimestamp")
    return StreamRecord(
        data=_b64(kinesis.get("data"), sequence),
        partition_key=str(kinesis.get("partitionKey", "")),
        sequence_number=sequence,
        sub_sequence_number=None,
        shard_id=shard_id,
        arrival=float(arrival) if isinstance(arrival, int | float) else None,
    )


def from_kcl(record: Mapping[str, Any], shard_id: str | None = None) -> StreamRecord:
    """Build a record from one MultiLangDaemon ``processRecords`` JSON record.

    ``approximateArrivalTimestamp`` is in milliseconds there; it is stored in seconds.
    ``subSequenceNumber`` (the daemon de-aggregates) is kept, so the record is never
    de-aggregated twice.

    Raises:
        DecodeError: ``data`` is not valid base64.
        InvalidRecordError: the record lacks ``data`` or ``sequenceNumber``.
    """
    sequence = _required_str(record, "sequenceNumber", "KCL record")
    sub = record.get("subSequenceNumber")
    if sub is not None and (isinstance(sub, bool) or not isinstance(sub, int)):
        msg = f"KCL record {sequence}: subSequenceNumber must be an int, got {sub!r}"
        raise InvalidRecordError(msg)
    arrival_ms = record.get("approximateArrivalTimestamp")
    return StreamRecord(
        data=_b64(record.get("data"), sequence),
        partition_key=str(record.get("partitionKey", "")),
        sequence_number=sequence,
        sub_sequence_number=sub,
        shard_id=shard_id,
        arrival=float(arrival_ms) / 1000.0 if isinstance(arrival_ms, int | float) else None,
    )


def from_get_records(record: Mapping[str, Any], shard_id: str) -> StreamRecord:
    """Build an outer record from one ``Records[i]`` of a boto3 ``GetRecords`` response.

    ``Data`` is the raw record (what the Lambda event carries as base64), so a KPL aggregate
    stays an aggregate and is de-aggregated later exactly as the Lambda handler's records are.
    ``ApproximateArrivalTimestamp`` (a ``datetime``, or epoch seconds) is stored in seconds.

    Raises:
        InvalidRecordError: the record lacks ``SequenceNumber`` or its ``Data`` is not bytes.
    """
    sequence = _required_str(record, "SequenceNumber", "GetRecords record")
    data = record.get("Data")
    if not isinstance(data, bytes | bytearray):
        msg = f"GetRecords record {sequence}: Data must be bytes, got {type(data).__name__}"
        raise InvalidRecordError(msg)
    arrival = record.get("ApproximateArrivalTimestamp")
    seconds: float | None = None
    if isinstance(arrival, int | float) and not isinstance(arrival, bool):
        seconds = float(arrival)
    elif isinstance(arrival, datetime):
        seconds = arrival.timestamp()
    return StreamRecord(
        data=bytes(data),
        partition_key=str(record.get("PartitionKey", "")),
        sequence_number=sequence,
        sub_sequence_number=None,
        shard_id=shard_id,
        arrival=seconds,
    )


def _required_str(value: Mapping[str, Any], name: str, what: str) -> str:
    item = value.get(name)
    if not isinstance(item, str) or not item:
        msg = f"{what} lacks a string '{name}'"
        raise InvalidRecordError(msg)
    return item


def _b64(value: Any, sequence: str) -> bytes:
    if not isinstance(value, str | bytes):
        msg = f"record {sequence}: data must be a base64 string, got {type(value).__name__}"
        raise DecodeError(msg)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"record {sequence}: data is not valid base64 ({exc})"
        raise DecodeError(msg) from exc
