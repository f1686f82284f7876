"""Kinesis records through a real (moto) stream, read back as Lambda event records."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.moto_server import aws_client, unique_name

SHARD = "shardId-000000000000"


def put_and_read(
    kinesis: Any, stream_name: str, stream_arn: str, payloads: Sequence[bytes]
) -> list[dict[str, Any]]:
    """Put ``payloads`` on a one-shard stream, read them back (from the first one put) as
    Lambda event records."""
    first: str | None = None
    for start in range(0, len(payloads), 100):
        chunk = payloads[start : start + 100]
        response = kinesis.put_records(
            StreamName=stream_name,
            Records=[{"Data": d, "PartitionKey": f"outer{i}"} for i, d in enumerate(chunk)],
        )
        assert response.get("FailedRecordCount", 0) == 0
        first = first or response["Records"][0]["SequenceNumber"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream_name,
        ShardId=SHARD,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=first,
    )["ShardIterator"]
    out: list[dict[str, Any]] = []
    while len(out) < len(payloads):
        page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            break
        out.extend(lambda_event_record(stream_arn, r) for r in page["Records"])
        iterator = page["NextShardIterator"]
    assert [base64.b64decode(r["kinesis"]["data"]) for r in out] == list(payloads)
    return out


def lambda_event_record(stream_arn: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """What the Kinesis event source mapping hands Lambda for one GetRecords record."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
    }


@dataclass
class StreamWithDlq:
    """A one-shard Kinesis stream and an SQS dead-letter queue on the moto server."""

    name: str
    arn: str
    queue_url: str
    kinesis: Any
    sqs: Any


@contextmanager
def stream_with_dlq(stem: str) -> Iterator[StreamWithDlq]:
    """Create the stream and the queue, yield them, delete both afterwards."""
    kinesis, sqs = aws_client("kinesis"), aws_client("sqs")
    name = unique_name(stem)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    queue_url = sqs.create_queue(QueueName=unique_name(f"{stem}-dlq"))["QueueUrl"]
    try:
        yield StreamWithDlq(name, arn, queue_url, kinesis, sqs)
    finally:
        kinesis.delete_stream(StreamName=name)
        sqs.delete_queue(QueueUrl=queue_url)


def sqs_letters(stream: StreamWithDlq) -> list[dict[str, Any]]:
    """Every dead letter waiting in the stream's queue, parsed (the queue is left empty)."""
    letters = []
    while page := stream.sqs.receive_message(QueueUrl=stream.queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        for message in page:
            letters.append(json.loads(message["Body"]))
            stream.sqs.delete_message(
                QueueUrl=stream.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return letters
