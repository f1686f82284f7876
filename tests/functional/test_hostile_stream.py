"""Hostile QLDB stream records through the Lambda handler and the KCL processor: each one is a
dead letter with its raw bytes, the rest of the batch is applied and nothing blocks the shard.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

from consumers import lambda_handler
from tests.functional.test_kcl_processor import (
    FakeDaemon,
    Sequencer,
    batch_message,
    initialize,
    start,
)
from tests.functional.test_kcl_processor import dead_letters as kcl_dead_letters
from tests.support.kinesis_events import StreamWithDlq, put_and_read, sqs_letters, stream_with_dlq
from tests.support.lambda_context import lambda_context
from tests.support.moto_server import aws_env, moto_endpoint
from tests.support.synthetic_stream import STRAND, STREAM_ARN, Rev, aggregate, revision_details

__all__ = ["aws_env", "moto_endpoint", "start"]  # pytest fixtures used by name


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"down": value}
    return value


def hostile(doc_id: str, *, version: int = 0, seq: int = 7, data: Any = None) -> bytes:
    """A REVISION_DETAILS user record with a placeholder hash and whatever fields it is given."""
    revision = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "hash": hashlib.sha256(doc_id.encode()).digest(),
        "metadata": {
            "id": doc_id,
            "version": version,
            "txTime": dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
            "txId": "tx" + doc_id,
        },
        "data": {"ok": 1} if data is None else data,
    }
    value = {
        "qldbStreamArn": STREAM_ARN,
        "recordType": "REVISION_DETAILS",
        "payload": {
            "tableInfo": {"tableName": "Person", "tableId": "T" * 22},
            "revision": revision,
        },
    }
    out: bytes = simpleion.dumps(value, binary=True)
    return out


HOSTILE = {
    "big-version": hostile("big-version", version=2**63),
    "big-sequence": hostile("big-sequence", seq=2**63 + 5),
    "deep-150": hostile("deep-150", data=nested(150)),
    "deep-400": hostile("deep-400", data=nested(400)),
}
GOOD = ["alice", "bob", "carol"]


def good(doc_id: str) -> bytes:
    return revision_details(Rev(doc_id, 0, data={"who": doc_id}))


def stored(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {d for (d,) in con.execute("SELECT document_id FROM documents")}


@pytest.fixture
def stream(moto_endpoint: str) -> Iterator[StreamWithDlq]:
    with stream_with_dlq("hostile") as created:
        yield created


@pytest.fixture(autouse=True)
def _fresh_handler() -> Iterator[None]:
    lambda_handler.reset()
    yield
    lambda_handler.reset()


@pytest.mark.parametrize("verify", ["false", "true"])
def test_lambda_dead_letters_each_hostile_record_and_applies_the_rest(
    verify: str,
    stream: StreamWithDlq,
    aws_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payloads = [
        good("alice"),
        HOSTILE["big-version"],
        aggregate([HOSTILE["big-sequence"], good("bob"), HOSTILE["deep-150"]]),
        HOSTILE["deep-400"],
        good("carol"),
    ]
    records = put_and_read(stream.kinesis, stream.name, stream.arn, payloads)
    db = tmp_path / "stream.db"
    monkeypatch.setenv("CDC_TARGETS", f"sqlite:///{db}")
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)
    monkeypatch.setenv("CDC_VERIFY_HASHES", verify)

    response = lambda_handler.handler({"Records": records}, lambda_context())

    assert response == {"batchItemFailures": []}
    assert stored(db) == set(GOOD)
    letters = sqs_letters(stream)
    assert sorted(base64.b64decode(x["rawBase64"]) for x in letters) == sorted(HOSTILE.values())
    classes = {x["errorClass"] for x in letters}
    assert classes <= {"InvalidRecordError", "DecodeError", "VerificationError"}


def test_kcl_dead_letters_each_hostile_record_and_checkpoints_past_it(
    start: Callable[..., FakeDaemon], tmp_path: Path
) -> None:
    seq = Sequencer()
    batch = seq.records(
        good("alice"),
        HOSTILE["big-version"],
        HOSTILE["big-sequence"],
        good("bob"),
        HOSTILE["deep-150"],
        HOSTILE["deep-400"],
        good("carol"),
    )
    daemon = start()
    initialize(daemon)
    assert daemon.send(batch_message(batch)), daemon.stderr
    assert daemon.send({"action": "shardEnded"}), daemon.stderr
    assert daemon.finish() == 0, daemon.stderr
    assert daemon.checkpoints == [
        (batch[-1]["sequenceNumber"], batch[-1]["subSequenceNumber"]),
        (None, None),
    ]
    assert stored(tmp_path / "db.sqlite") == set(GOOD)
    letters = kcl_dead_letters(tmp_path)
    assert sorted(base64.b64decode(x["rawBase64"]) for x in letters) == sorted(HOSTILE.values())
    assert "Traceback" not in daemon.stderr
