"""Settings.from_env validation and the SQS sink's batching and per-entry failure handling."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from consumers.settings import (
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_LOG_LEVEL,
    ENV_TARGETS,
    ENV_VERIFY_HASHES,
    Settings,
)
from core.errors import ConfigError, RetryableError
from dead_letters.sinks import DeadLetter, SqsDeadLetterSink

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"


def test_valid_settings() -> None:
    settings = Settings.from_env(
        {
            ENV_TARGETS: "sqlite:///a.db, dynamodb://Docs ,out.db",
            ENV_DEAD_LETTER_QUEUE_URL: QUEUE,
            ENV_VERIFY_HASHES: "TRUE",
            ENV_LOG_LEVEL: "debug",
        }
    )
    assert settings.targets == ("sqlite:///a.db", "dynamodb://Docs", "out.db")
    assert settings.dead_letter_queue_url == QUEUE
    assert settings.verify_hashes is True
    assert settings.log_level == "DEBUG"


def test_defaults() -> None:
    settings = Settings.from_env({ENV_TARGETS: "s3://b/p", ENV_DEAD_LETTER_QUEUE_URL: QUEUE})
    assert (settings.verify_hashes, settings.log_level) == (False, "INFO")
    assert Settings.from_env({ENV_TARGETS: "x.db"}, require_dead_letter_queue=False).targets == (
        "x.db",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CDC_TARGETS is required"),
        ({ENV_TARGETS: "a.db,,b.db"}, "empty entry"),
        ({ENV_TARGETS: "ftp://x"}, "CDC_TARGETS: unknown target"),
        ({ENV_TARGETS: "a.db"}, "CDC_DEAD_LETTER_QUEUE_URL is required"),
        ({ENV_TARGETS: "a.db", ENV_DEAD_LETTER_QUEUE_URL: "dlq"}, "must be an SQS queue URL"),
        (
            {ENV_TARGETS: "a.db", ENV_DEAD_LETTER_QUEUE_URL: QUEUE, ENV_VERIFY_HASHES: "si"},
            "CDC_VERIFY_HASHES must be true or false",
        ),
        (
            {ENV_TARGETS: "a.db", ENV_DEAD_LETTER_QUEUE_URL: QUEUE, ENV_LOG_LEVEL: "loud"},
            "CDC_LOG_LEVEL must be one of",
        ),
    ],
)
def test_bad_settings_raise_one_clear_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


class RecordingSqs:
    """Stands in for the SQS client: records requests, fails entries or whole calls on demand."""

    def __init__(self, fail_ids: set[str] | None = None, error: bool = False) -> None:
        self.requests: list[list[dict[str, str]]] = []
        self.fail_ids = fail_ids or set()
        self.error = error

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert QueueUrl == QUEUE
        self.requests.append(Entries)
        if self.error:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "SendMessageBatch")
        failed = [
            {"Id": e["Id"], "SenderFault": False} for e in Entries if e["Id"] in self.fail_ids
        ]
        return {"Successful": [], "Failed": failed}


def _letter(n: int, size: int = 10) -> DeadLetter:
    return DeadLetter(bytes([n]) * size, "shardId-1", str(n), None, f"reason {n}", "DecodeError")


def test_sqs_sink_batches_by_ten() -> None:
    client = RecordingSqs()
    sink = SqsDeadLetterSink(cast("SQSClient", client), QUEUE)
    assert sink.put_many([_letter(n) for n in range(23)]) == []
    assert [len(r) for r in client.requests] == [10, 10, 3]
    body = json.loads(client.requests[0][1]["MessageBody"])
    assert (body["sequenceNumber"], body["reason"], body["rawBase64"]) == (
        "1",
        "reason 1",
        "AQEBAQEBAQEBAQ==",
    )


def test_sqs_sink_reports_per_entry_failures() -> None:
    client = RecordingSqs(fail_ids={"3"})
    letters = [_letter(n) for n in range(12)]
    assert SqsDeadLetterSink(cast("SQSClient", client), QUEUE).put_many(letters) == [letters[3]]
    with pytest.raises(RetryableError):
        SqsDeadLetterSink(cast("SQSClient", RecordingSqs(fail_ids={"0"})), QUEUE).put(letters[0])


def test_sqs_sink_call_failure_fails_every_letter_of_the_call() -> None:
    letters = [_letter(n) for n in range(3)]
    assert (
        SqsDeadLetterSink(cast("SQSClient", RecordingSqs(error=True)), QUEUE).put_many(letters)
        == letters
    )


def test_sqs_sink_keeps_requests_under_the_size_limit() -> None:
    client = RecordingSqs()
    SqsDeadLetterSink(cast("SQSClient", client), QUEUE).put_many(
        [_letter(n, size=100_000) for n in range(5)]
    )
    for request in client.requests:
        assert sum(len(e["MessageBody"].encode()) for e in request) <= 256 * 1024
    assert sum(len(r) for r in client.requests) == 5
