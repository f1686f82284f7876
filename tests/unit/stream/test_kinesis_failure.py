"""The OnFailure invocation record parser: the documented sample, every bad shape, and hostile
messages (hypothesis) that must end as a typed record or poison, never anything else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError, InvalidRecordError, PoisonError
from schemas.kinesis_failure import MAX_BODY_BYTES, KinesisBatchFailure, parse_failure_record
from tests.support.captures import REPO_ROOT

SAMPLE_PATH = REPO_ROOT / "tests" / "fixtures" / "onfailure" / "kinesis-invocation-record.json"
SAMPLE: dict[str, Any] = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))


def test_the_documented_sample_parses_field_by_field() -> None:
    batch = parse_failure_record(SAMPLE_PATH.read_bytes())
    assert batch == KinesisBatchFailure(
        stream_arn="arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
        region="us-east-2",
        stream_name="mystream",
        shard_id="shardId-000000000001",
        start_sequence_number="49601189658422359378836298521827638475320189012309704722",
        end_sequence_number="49601189658422359378836298522902373528957594348623495186",
        batch_size=500,
        first_arrival="2019-11-14T00:38:04.835Z",
        last_arrival="2019-11-14T00:38:05.580Z",
        timestamp="2019-11-14T00:38:06.021Z",
        condition="RetryAttemptsExhausted",
        function_arn="arn:aws:lambda:us-east-2:123456789012:function:myfunction",
        request_id="c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
    )
    assert batch.start < batch.end
    assert batch.range_text.startswith("mystream shardId-000000000001 4960118965")


def test_an_sns_notification_is_unwrapped_once() -> None:
    envelope = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(SAMPLE)}
    assert parse_failure_record(json.dumps(envelope)) == parse_failure_record(json.dumps(SAMPLE))
    twice = {"Type": "Notification", "Message": json.dumps(envelope)}
    with pytest.raises(InvalidRecordError, match="no KinesisBatchInfo"):
        parse_failure_record(json.dumps(twice))


def test_optional_fields_may_be_absent() -> None:
    bare = {"KinesisBatchInfo": {k: SAMPLE["KinesisBatchInfo"][k] for k in _REQUIRED}}
    batch = parse_failure_record(json.dumps(bare))
    assert (batch.batch_size, batch.first_arrival, batch.condition) == (None, None, None)


_REQUIRED = ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")


def _with(path: tuple[str, ...], value: Any) -> str:
    message = copy.deepcopy(SAMPLE)
    target = message
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(message)


_DROP = object()
_INFO = "KinesisBatchInfo"


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"\xff\xfe", DecodeError, "not UTF-8"),
        ("{", DecodeError, "not JSON"),
        ("[" * 100_000 + "]" * 100_000, DecodeError, "nests JSON too deeply"),
        (" " * (MAX_BODY_BYTES + 1), DecodeError, "longer than"),
        ("[]", InvalidRecordError, "not an object"),
        ("{}", InvalidRecordError, "no KinesisBatchInfo"),
        (json.dumps({"DDBStreamBatchInfo": {}}), InvalidRecordError, "DynamoDB Streams"),
        (_with((_INFO,), None), InvalidRecordError, "no KinesisBatchInfo"),
        (_with((_INFO, "shardId"), _DROP), InvalidRecordError, "shardId must be"),
        (_with((_INFO, "shardId"), "shard id with spaces"), InvalidRecordError, "shard id"),
        (_with((_INFO, "streamArn"), "arn:aws:sqs:us-east-2:1:q"), InvalidRecordError, "ARN"),
        (_with((_INFO, "streamArn"), 7), InvalidRecordError, "streamArn must be"),
        (_with((_INFO, "startSequenceNumber"), 496), InvalidRecordError, "must be a non-empty"),
        (_with((_INFO, "startSequenceNumber"), "0496"), InvalidRecordError, "sequence number"),
        (_with((_INFO, "endSequenceNumber"), "1" * 130), InvalidRecordError, "sequence number"),
        (_with((_INFO, "endSequenceNumber"), "1"), InvalidRecordError, "before it starts"),
        (_with((_INFO, "batchSize"), 0), InvalidRecordError, "batchSize"),
        (_with((_INFO, "batchSize"), True), InvalidRecordError, "batchSize"),
        (_with((_INFO, "batchSize"), 10_001), InvalidRecordError, "batchSize"),
        (_with((_INFO, "approximateArrivalOfFirstRecord"), 5), InvalidRecordError, "Arrival"),
        (_with(("timestamp",), "x" * 3000), InvalidRecordError, "longer than"),
        (json.dumps({"Type": "Notification", "Message": {}}), InvalidRecordError, "Message"),
    ],
)
def test_malformed_messages_are_poison_with_a_reason(
    body: str | bytes, error: type[PoisonError], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_failure_record(body)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _check(body: str | bytes) -> None:
    """A typed record that keeps its invariants, or poison with a one-line reason."""
    batch: KinesisBatchFailure | None = None
    reason = ""
    try:
        batch = parse_failure_record(body)
    except PoisonError as exc:
        reason = str(exc)
    if batch is None:
        assert reason
        assert "\n" not in reason
        return
    assert batch.start <= batch.end
    assert batch.stream_arn.endswith(f":stream/{batch.stream_name}")
    assert batch.batch_size is None or 1 <= batch.batch_size <= 10_000


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from([*_REQUIRED, "batchSize", "approximateArrivalOfLastRecord"]),
    value=_JSON,
)
def test_hostile_kinesis_batch_info_fields(field: str, value: Any) -> None:
    _check(_with((_INFO, field), value))


@settings(max_examples=150, deadline=None)
@given(value=_JSON)
def test_hostile_json_documents(value: Any) -> None:
    _check(json.dumps(value))
    _check(json.dumps({"Type": "Notification", "Message": json.dumps(value)}))


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_single_byte_mutations_of_the_sample(position: int, byte: int) -> None:
    raw = bytearray(SAMPLE_PATH.read_bytes())
    raw[position % len(raw)] = byte
    _check(bytes(raw))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)
