"""The message loop of ``qldb-cdc redrive`` with a scripted queue: each message id handled once,
the bound on messages, kept messages made visible again, and an error that stops the run never
replaced by a failure to release. End to end against moto: ``tests/functional/test_redrive.py``."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from core.errors import ConfigError, RetryableError
from core.retry import Backoff, Retry
from stream.redrive import Outcome, QueueMessage, RedriveOptions, Redriver
from tests.support.captures import REPO_ROOT

SAMPLE = (
    REPO_ROOT / "tests" / "fixtures" / "onfailure" / "kinesis-invocation-record.json"
).read_text()


class ScriptedQueue:
    """Returns ``pages`` in order (then nothing), whatever ``count`` asks; records deletes and
    releases."""

    def __init__(self, pages: list[list[QueueMessage]], *, release_fails: bool = False) -> None:
        self.pages = pages
        self.deleted: list[str] = []
        self.released: list[str] = []
        self.release_fails = release_fails

    def receive(self, count: int, **_: Any) -> list[QueueMessage]:
        return self.pages.pop(0) if self.pages else []

    def delete(self, message: QueueMessage) -> None:
        self.deleted.append(message.message_id)

    def release(self, message: QueueMessage) -> None:
        if self.release_fails:
            msg = "ChangeMessageVisibility failed"
            raise RetryableError(msg)
        self.released.append(message.message_id)


def message(n: int, body: str = "{}") -> QueueMessage:
    return QueueMessage(f"id-{n}", f"receipt-{n}", body)


def _unused_kinesis(region: str) -> Any:
    raise AssertionError(f"no Kinesis call expected ({region})")


def redriver(queue: ScriptedQueue, kinesis: Any = _unused_kinesis, **options: Any) -> Redriver:
    retry = Retry(Backoff(attempts=1), lambda _: None)
    return Redriver(
        cast(Any, queue),
        kinesis,
        (),
        None,
        retry,
        RedriveOptions(**options),
    )


def test_each_message_is_handled_once_and_kept_ones_are_released() -> None:
    queue = ScriptedQueue([[message(1), message(2)], [message(1), message(2)]])
    reports: list[Any] = []
    summary = redriver(queue).run(reports.append)
    assert [r.message_id for r in reports] == ["id-1", "id-2"]
    assert {r.outcome for r in reports} == {Outcome.POISON}  # "{}" is not an invocation record
    assert (summary.messages, summary.poison, summary.kept, summary.deleted) == (2, 2, 2, 0)
    assert queue.released == ["id-1", "id-2"]
    assert queue.deleted == []


def test_messages_beyond_the_bound_are_released_unhandled() -> None:
    queue = ScriptedQueue([[message(1), message(2), message(3)]])
    reports: list[Any] = []
    summary = redriver(queue, max_messages=2).run(reports.append)
    assert summary.messages == 2
    assert [r.message_id for r in reports] == ["id-1", "id-2"]
    assert sorted(queue.released) == ["id-1", "id-2", "id-3"]


def test_the_error_that_stops_the_run_is_never_replaced_by_a_failed_release() -> None:
    def no_client(region: str) -> Any:
        msg = f"cannot create the AWS client for Kinesis in {region}"
        raise ConfigError(msg)

    queue = ScriptedQueue([[message(1, SAMPLE)]], release_fails=True)
    with pytest.raises(ConfigError, match="us-east-2"):
        redriver(queue, kinesis=no_client).run(lambda report: None)
    assert queue.deleted == []


def test_a_malformed_message_is_reported_with_its_reason() -> None:
    queue = ScriptedQueue([[message(1, json.dumps({"KinesisBatchInfo": {"shardId": 3}}))]])
    reports: list[Any] = []
    redriver(queue).run(reports.append)
    (report,) = reports
    assert report.line().startswith("poison: message id-1: not a Kinesis OnFailure invocation")
    assert report.line().endswith("message kept")
