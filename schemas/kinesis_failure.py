"""The invocation record a Kinesis event source mapping sends to its OnFailure destination.

After the bounded retries (``MaximumRetryAttempts``, ``MaximumRecordAgeInSeconds``) Lambda
discards a batch and sends only its metadata to the destination (an SQS queue here, or an SNS
topic that feeds one), never the records. The format, from the AWS Lambda Developer Guide
("Retain discarded batch records for a Kinesis Data Streams event source in Lambda",
https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html; the sample is
``tests/fixtures/onfailure/kinesis-invocation-record.json``)::

    {"requestContext": {"requestId": "...", "functionArn": "arn:aws:lambda:...",
                        "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                         "functionError": "Unhandled"},
     "version": "1.0", "timestamp": "2019-11-14T00:38:06.021Z",
     "KinesisBatchInfo": {"shardId": "shardId-000000000001",
                          "startSequenceNumber": "4960...4722",
                          "endSequenceNumber": "4960...5186",
                          "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
                          "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
                          "batchSize": 500,
                          "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"}}

Guarantees of :func:`parse_failure_record` (pure; the body is untrusted):

* Bounded: a body longer than :data:`MAX_BODY_BYTES` or nested deeper than Python's JSON
  decoder allows is refused before or while decoding, never read further.
* Typed: a :class:`KinesisBatchFailure` only when ``KinesisBatchInfo`` holds a shard id, two
  Kinesis sequence numbers (decimal, at most 129 digits, start <= end) and a Kinesis stream ARN;
  the other fields are optional and checked when present.
* Poison otherwise: anything else raises :class:`~core.errors.InvalidRecordError` (or
  :class:`~core.errors.DecodeError` for bytes that are not JSON) with one sentence saying what
  is wrong. The caller decides what a malformed message means (``stream.redrive`` keeps it).
* An SNS notification envelope (``{"Type": "Notification", "Message": "<record>"}``, what an
  SQS queue subscribed to the SNS destination receives) is unwrapped once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import DecodeError, InvalidRecordError

MAX_BODY_BYTES = 1024 * 1024
"""The largest SQS message body (1 MiB); a real invocation record is well under 2 KB."""
MAX_BATCH_SIZE = 10_000
"""The largest Kinesis event source mapping ``BatchSize``."""
_SEQUENCE = re.compile(r"0|[1-9][0-9]{0,128}")
"""Kinesis's pattern for sequence numbers (``0|([1-9]\\d{0,128})``)."""
_SHARD_ID = re.compile(r"[a-zA-Z0-9_.\-]{1,128}")
"""Kinesis's pattern and length for shard ids."""
_STREAM_ARN = re.compile(
    r"arn:(aws[a-zA-Z-]*):kinesis:([a-z]{2}(?:-gov)?(?:-iso[a-z]?)?-[a-z]+-[0-9]{1,2})"
    r":([0-9]{12}):stream/([a-zA-Z0-9_.\-]{1,128})"
)
"""A Kinesis data stream ARN: partition, region, account, stream name."""
_MAX_TEXT = 2048
"""Longest optional text field kept (request id, function ARN, condition, timestamps)."""


@dataclass(frozen=True, slots=True)
class KinesisBatchFailure:
    """One discarded batch, as the OnFailure invocation record names it.

    Attributes:
        stream_arn: the Kinesis stream.
        region: the stream's region (from the ARN).
        stream_name: the stream's name (from the ARN).
        shard_id: the shard the batch came from.
        start_sequence_number: the batch's first outer record (decimal text).
        end_sequence_number: the batch's last outer record (decimal text, >= start).
        batch_size: outer records in the batch, when given.
        first_arrival: ``approximateArrivalOfFirstRecord`` (ISO 8601 text), when given.
        last_arrival: ``approximateArrivalOfLastRecord``, when given.
        timestamp: when Lambda gave up on the batch, when given.
        condition: why (``RetryAttemptsExhausted``...), when given.
        function_arn: the function that failed, when given.
        request_id: its last invocation's request id, when given.
    """

    stream_arn: str
    region: str
    stream_name: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int | None = None
    first_arrival: str | None = None
    last_arrival: str | None = None
    timestamp: str | None = None
    condition: str | None = None
    function_arn: str | None = None
    request_id: str | None = None

    @property
    def start(self) -> int:
        """The start sequence number as an integer."""
        return int(self.start_sequence_number)

    @property
    def end(self) -> int:
        """The end sequence number as an integer."""
        return int(self.end_sequence_number)

    @property
    def range_text(self) -> str:
        """``stream shard start..end`` for reports."""
        return (
            f"{self.stream_name} {self.shard_id} "
            f"{self.start_sequence_number}..{self.end_sequence_number}"
        )


def parse_failure_record(body: str | bytes) -> KinesisBatchFailure:
    """Parse one OnFailure invocation record (an SQS message body); see the module docstring.

    Raises:
        DecodeError: the body is too long, not UTF-8 or not JSON.
        InvalidRecordError: valid JSON that is not a Kinesis invocation record.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        msg = f"OnFailure message of {len(raw)} bytes is longer than {MAX_BODY_BYTES}"
        raise DecodeError(msg)
    value = _json(raw, "OnFailure message")
    if isinstance(value, dict) and value.get("Type") == "Notification" and "Message" in value:
        inner = value["Message"]
        if not isinstance(inner, str):
            msg = "SNS notification's Message is not a string"
            raise InvalidRecordError(msg)
        value = _json(inner.encode("utf-8", "surrogatepass"), "SNS notification's Message")
    if not isinstance(value, dict):
        msg = f"OnFailure message is a JSON {type(value).__name__}, not an object"
        raise InvalidRecordError(msg)
    info = value.get("KinesisBatchInfo")
    if not isinstance(info, dict):
        other = "DDBStreamBatchInfo" if "DDBStreamBatchInfo" in value else None
        hint = " (a DynamoDB Streams record, not Kinesis)" if other else ""
        msg = f"OnFailure message has no KinesisBatchInfo object{hint}"
        raise InvalidRecordError(msg)
    arn = _required(info, "streamArn")
    match = _STREAM_ARN.fullmatch(arn)
    if match is None:
        msg = f"KinesisBatchInfo.streamArn is not a Kinesis stream ARN: {arn[:200]!r}"
        raise InvalidRecordError(msg)
    shard = _required(info, "shardId")
    if _SHARD_ID.fullmatch(shard) is None:
        msg = f"KinesisBatchInfo.shardId is not a Kinesis shard id: {shard[:200]!r}"
        raise InvalidRecordError(msg)
    start = _sequence(info, "startSequenceNumber")
    end = _sequence(info, "endSequenceNumber")
    if int(end) < int(start):
        msg = f"KinesisBatchInfo ends ({end}) before it starts ({start})"
        raise InvalidRecordError(msg)
    context = value.get("requestContext")
    context = context if isinstance(context, dict) else {}
    return KinesisBatchFailure(
        stream_arn=arn,
        region=match.group(2),
        stream_name=match.group(4),
        shard_id=shard,
        start_sequence_number=start,
        end_sequence_number=end,
        batch_size=_batch_size(info),
        first_arrival=_text(info, "approximateArrivalOfFirstRecord"),
        last_arrival=_text(info, "approximateArrivalOfLastRecord"),
        timestamp=_text(value, "timestamp"),
        condition=_text(context, "condition"),
        function_arn=_text(context, "functionArn"),
        request_id=_text(context, "requestId"),
    )


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})"
        raise DecodeError(msg) from None
    except RecursionError:
        msg = f"{what} nests JSON too deeply"
        raise DecodeError(msg) from None
    except ValueError as exc:  # json.JSONDecodeError, and int() of a huge number literal
        msg = f"{what} is not JSON ({str(exc)[:200]})"
        raise DecodeError(msg) from None


def _text(value: Mapping[str, Any], name: str) -> str | None:
    """An optional text field: absent or ``null`` is ``None``, anything else must be text."""
    if value.get(name) is None:
        return None
    return _required(value, name)


def _required(value: Mapping[str, Any], name: str) -> str:
    item = value.get(name)
    if not isinstance(item, str) or not item:
        msg = f"{name} must be a non-empty string, got {type(item).__name__}"
        raise InvalidRecordError(msg)
    if len(item) > _MAX_TEXT:
        msg = f"{name} is longer than {_MAX_TEXT} characters"
        raise InvalidRecordError(msg)
    return item


def _sequence(info: Mapping[str, Any], name: str) -> str:
    text = _required(info, name)
    if _SEQUENCE.fullmatch(text) is None:
        msg = f"KinesisBatchInfo.{name} is not a Kinesis sequence number: {text[:200]!r}"
        raise InvalidRecordError(msg)
    return text


def _batch_size(info: Mapping[str, Any]) -> int | None:
    size = info.get("batchSize")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        msg = f"KinesisBatchInfo.batchSize must be an integer from 1 to {MAX_BATCH_SIZE}"
        raise InvalidRecordError(msg)
    return size
