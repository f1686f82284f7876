"""KPL de-aggregation: real captures cross-checked with aws_kinesis_agg, and every bad shape."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import aws_kinesis_agg.deaggregator as reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from schemas.kinesis import StreamRecord, from_lambda
from schemas.kpl import KPL_MAGIC, iter_user_records, parse_aggregate
from tests.support.synthetic_stream import CAPTURES, aggregate, load_capture, outer


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures_match_the_reference_deaggregator(capture_dir: Path, name: str) -> None:
    event = load_capture(capture_dir, name)
    expected = reference.deaggregate_records(event["Records"])
    ours = [u for r in event["Records"] for u in iter_user_records(from_lambda(r))]
    assert len(ours) == len(expected) >= 2
    for mine, theirs in zip(ours, expected, strict=True):
        kinesis = theirs["kinesis"]
        assert mine.data == base64.b64decode(kinesis["data"])
        assert mine.partition_key == kinesis["partitionKey"]
        assert mine.sub_sequence_number == kinesis["subSequenceNumber"]
        assert mine.sequence_number == kinesis["sequenceNumber"]
    # QLDB's inner partition keys are the hex of each record's hash (qldb-formats.md §1.5).
    assert all(len(u.partition_key) == 64 for u in ours)
    assert [u.sub_sequence_number for u in ours] == list(range(len(ours)))


def _capture_outer(capture_dir: Path) -> StreamRecord:
    return from_lambda(load_capture(capture_dir, "streams_data1.json")["Records"][0])


def test_bad_md5_is_poison(capture_dir: Path) -> None:
    record = _capture_outer(capture_dir)
    broken = record.data[:-1] + bytes([record.data[-1] ^ 1])
    with pytest.raises(DecodeError, match="MD5"):
        list(iter_user_records(StreamRecord(broken, "a", "1")))


def test_flipped_payload_byte_is_poison(capture_dir: Path) -> None:
    data = bytearray(_capture_outer(capture_dir).data)
    data[40] ^= 0x40
    with pytest.raises(DecodeError, match="MD5"):
        list(iter_user_records(StreamRecord(bytes(data), "a", "1")))


@pytest.mark.parametrize("cut", [5, 19, 100])
def test_truncated_aggregate_is_poison(capture_dir: Path, cut: int) -> None:
    data = _capture_outer(capture_dir).data[:cut]
    with pytest.raises(DecodeError):
        list(iter_user_records(StreamRecord(data, "a", "1")))


def _with_md5(body: bytes) -> bytes:
    return KPL_MAGIC + body + hashlib.md5(body).digest()


def test_truncated_protobuf_with_valid_md5_is_poison() -> None:
    # partition_key_table entry claims 10 bytes, only 3 follow.
    with pytest.raises(DecodeError, match="needs 10 bytes"):
        parse_aggregate(_with_md5(b"\x0a\x0aabc"))


def test_partition_key_index_out_of_range_is_poison() -> None:
    record = b"\x08\x05\x1a\x01x"  # partition_key_index=5, data="x"
    body = b"\x0a\x01k" + b"\x1a" + bytes([len(record)]) + record
    with pytest.raises(DecodeError, match="partition_key_index 5 is out of range"):
        parse_aggregate(_with_md5(body))


def test_missing_required_data_is_poison() -> None:
    record = b"\x08\x00"
    body = b"\x0a\x01k\x1a" + bytes([len(record)]) + record
    with pytest.raises(DecodeError, match="required field data"):
        parse_aggregate(_with_md5(body))


def test_unterminated_varint_is_poison() -> None:
    with pytest.raises(DecodeError, match="varint"):
        parse_aggregate(_with_md5(b"\x0a\xff\xff"))


def test_group_wire_type_is_poison() -> None:
    with pytest.raises(DecodeError, match="wire type 3"):
        parse_aggregate(_with_md5(b"\x0b"))


def test_plain_record_passes_through_unchanged() -> None:
    record = StreamRecord(b"\xe0\x01\x00\xea\x0f", "pk", "42", None, "shardId-1", 5.0)
    assert list(iter_user_records(record)) == [record]


def test_already_deaggregated_record_is_not_split_again() -> None:
    data = aggregate([b"a", b"b"])
    record = StreamRecord(data, "pk", "42", sub_sequence_number=3)
    assert list(iter_user_records(record)) == [record]


def test_nothing_is_yielded_before_the_whole_aggregate_is_checked() -> None:
    data = aggregate([b"one", b"two"])
    seen: list[StreamRecord] = []
    with pytest.raises(DecodeError):
        seen.extend(iter_user_records(StreamRecord(data[:-1] + b"\x00", "pk", "1")))
    assert seen == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=300)),
        min_size=1,
        max_size=30,
    )
)
def test_round_trip_with_the_reference_aggregator(items: list[tuple[str, bytes]]) -> None:
    data = aggregate([d for _, d in items], keys=[k for k, _ in items])
    users = list(iter_user_records(outer(data, 7)))
    assert [(u.partition_key, u.data) for u in users] == items
    assert [u.sub_sequence_number for u in users] == list(range(len(items)))
    assert {u.sequence_number for u in users} == {outer(data, 7).sequence_number}
