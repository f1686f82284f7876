"""KPL record de-aggregation with a small hand-written protobuf (proto2) wire-format reader.

Layout of an aggregated Kinesis record (``awslabs/amazon-kinesis-producer``
``aggregation-format.md``)::

    F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf bytes) (16 bytes)

    message AggregatedRecord { repeated string partition_key_table = 1;
                               repeated string explicit_hash_key_table = 2;
                               repeated Record records = 3; }
    message Record { required uint64 partition_key_index = 1;
                     optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3;
                     repeated Tag tags = 4; }

Guarantees of :func:`iter_user_records`:

* A record that starts with the magic is an aggregate, full stop. A bad MD5, truncated or
  unparsable protobuf, a missing required field or a key index out of range raises
  :class:`~core.errors.DecodeError` before any user record is yielded; the aggregate is never
  silently dropped and never mistaken for a plain record. (QLDB records are Ion binary and start
  with ``E0 01 00 EA``, so they can never start with the magic.)
* A record without the magic passes through unchanged (``sub_sequence_number`` stays ``None``).
* A record that is already a user record (``sub_sequence_number`` set, as the KCL delivers)
  passes through unchanged.
* User records keep the outer sequence number, shard and arrival time; their
  ``sub_sequence_number`` is their 0-based index in ``records`` and their partition key comes from
  ``partition_key_table``.

Pure: no protobuf library is needed at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import DecodeError
from schemas.kinesis import StreamRecord

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
"""The four bytes that start every KPL aggregated record."""

_DIGEST_SIZE = 16
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One entry of ``AggregatedRecord.records`` with its key indexes resolved."""

    partition_key: str
    explicit_hash_key: str | None
    data: bytes


def is_aggregated(data: bytes) -> bool:
    """True when ``data`` starts with the KPL magic (and therefore must de-aggregate cleanly)."""
    return data[:4] == KPL_MAGIC


def iter_user_records(record: StreamRecord) -> Iterator[StreamRecord]:
    """Yield the user records inside ``record`` (see the module docstring for guarantees).

    Raises:
        DecodeError: the record has the KPL magic but is not a valid aggregate. The whole
            aggregate is checked before the first user record is yielded.
    """
    if record.sub_sequence_number is not None or not is_aggregated(record.data):
        yield record
        return
    users = parse_aggregate(record.data)
    for index, user in enumerate(users):
        yield StreamRecord(
            data=user.data,
            partition_key=user.partition_key,
            sequence_number=record.sequence_number,
            sub_sequence_number=index,
            shard_id=record.shard_id,
            arrival=record.arrival,
        )


def parse_aggregate(data: bytes) -> list[UserRecord]:
    """Check the MD5 of an aggregated record and decode its user records in order.

    Raises:
        DecodeError: missing magic, too short, MD5 mismatch, malformed protobuf, missing
            required fields or key indexes out of range.
    """
    if not is_aggregated(data):
        msg = "not a KPL aggregated record (magic F3 89 9A C2 missing)"
        raise DecodeError(msg)
    if len(data) < len(KPL_MAGIC) + _DIGEST_SIZE:
        msg = f"KPL aggregate truncated: {len(data)} bytes cannot hold the magic and an MD5"
        raise DecodeError(msg)
    body = data[len(KPL_MAGIC) : -_DIGEST_SIZE]
    if hashlib.md5(body, usedforsecurity=False).digest() != data[-_DIGEST_SIZE:]:
        msg = f"KPL aggregate MD5 mismatch over {len(body)} protobuf bytes (corrupt or truncated)"
        raise DecodeError(msg)
    keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[tuple[int, int | None, bytes]] = []
    for field_no, wire, value in _fields(body, 0, len(body), "AggregatedRecord"):
        if field_no == 1:
            keys.append(_text(_expect_bytes(wire, value, "partition_key_table")))
        elif field_no == 2:
            hash_keys.append(_text(_expect_bytes(wire, value, "explicit_hash_key_table")))
        elif field_no == 3:
            raw_records.append(_parse_record(_expect_bytes(wire, value, "records")))
    out: list[UserRecord] = []
    for index, (pk_index, ehk_index, payload) in enumerate(raw_records):
        if pk_index >= len(keys):
            msg = (
                f"KPL user record {index}: partition_key_index {pk_index} is out of range "
                f"(table has {len(keys)} keys)"
            )
            raise DecodeError(msg)
        ehk = None
        if ehk_index is not None:
            if ehk_index >= len(hash_keys):
                msg = (
                    f"KPL user record {index}: explicit_hash_key_index {ehk_index} is out of "
                    f"range (table has {len(hash_keys)} keys)"
                )
                raise DecodeError(msg)
            ehk = hash_keys[ehk_index]
        out.append(UserRecord(keys[pk_index], ehk, payload))
    return out


def _parse_record(buf: bytes) -> tuple[int, int | None, bytes]:
    pk_index: int | None = None
    ehk_index: int | None = None
    payload: bytes | None = None
    for field_no, wire, value in _fields(buf, 0, len(buf), "Record"):
        if field_no == 1:
            pk_index = _expect_int(wire, value, "partition_key_index")
        elif field_no == 2:
            ehk_index = _expect_int(wire, value, "explicit_hash_key_index")
        elif field_no == 3:
            payload = _expect_bytes(wire, value, "data")
        # field 4 (tags) and unknown fields are skipped, as proto2 parsers do.
    if pk_index is None or payload is None:
        missing = "partition_key_index" if pk_index is None else "data"
        msg = f"KPL user record lacks required field {missing}"
        raise DecodeError(msg)
    return pk_index, ehk_index, payload


def _fields(buf: bytes, pos: int, end: int, message: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)`` of one message; bytes for length-delimited."""
    while pos < end:
        tag, pos = _varint(buf, pos, end, message)
        field_no, wire = tag >> 3, tag & 7
        if field_no == 0:
            msg = f"KPL {message}: field number 0 is invalid protobuf"
            raise DecodeError(msg)
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end, message)
            yield field_no, wire, value
        elif wire == _LENGTH:
            size, pos = _varint(buf, pos, end, message)
            stop = pos + size
            if stop > end:
                msg = f"KPL {message}: field {field_no} needs {size} bytes, {end - pos} remain"
                raise DecodeError(msg)
            yield field_no, wire, buf[pos:stop]
            pos = stop
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > end:
                msg = f"KPL {message}: fixed-width field {field_no} is truncated"
                raise DecodeError(msg)
            yield field_no, wire, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        else:
            msg = f"KPL {message}: unsupported protobuf wire type {wire} (field {field_no})"
            raise DecodeError(msg)


def _varint(buf: bytes, pos: int, end: int, message: str) -> tuple[int, int]:
    result = 0
    shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            msg = f"KPL {message}: varint longer than 10 bytes"
            raise DecodeError(msg)
    msg = f"KPL {message}: truncated varint"
    raise DecodeError(msg)


def _expect_bytes(wire: int, value: int | bytes, name: str) -> bytes:
    if wire != _LENGTH or not isinstance(value, bytes):
        msg = f"KPL field {name} must be length-delimited, got wire type {wire}"
        raise DecodeError(msg)
    return value


def _expect_int(wire: int, value: int | bytes, name: str) -> int:
    if wire != _VARINT or not isinstance(value, int):
        msg = f"KPL field {name} must be a varint, got wire type {wire}"
        raise DecodeError(msg)
    return value


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"KPL key table entry is not valid UTF-8: {exc}"
        raise DecodeError(msg) from exc
