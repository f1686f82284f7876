"""The Lambda handler end to end: Kinesis on a moto server (real HTTP) -> Lambda events ->
SQLite and DynamoDB projections, with poison in an SQS dead-letter queue on the same server.

Records are real QLDB captures plus synthetic REVISION_DETAILS (valid hashes), KPL-aggregated
with aws_kinesis_agg, put on a real (moto) Kinesis stream, read back with GetRecords and turned
into Lambda events exactly as the event source mapping does.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.logging import logger as powertools_logger
from aws_lambda_powertools.metrics.provider import cold_start

from changes.reconcile import DocState
from consumers import lambda_handler, settings
from consumers.lambda_handler import StreamHandler
from core.errors import ConfigError, ThrottledError
from core.model import Change, DocKey
from dead_letters.sinks import SqsDeadLetterSink
from projections.base import ApplyReport, Failure, Projection
from projections.sqlite import SQLiteProjection
from tests.support.dynamodb_readback import item_row, scan_all
from tests.support.kinesis_events import SHARD, StreamWithDlq, stream_with_dlq
from tests.support.kinesis_events import put_and_read as kinesis_put_and_read
from tests.support.lambda_context import FUNCTION_NAME, lambda_context
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.projection_harness import expected_state
from tests.support.stream_readback import payload_changes, read_documents
from tests.support.synthetic_stream import (
    CAPTURES,
    Rev,
    aggregate,
    block_summary,
    control,
    load_capture,
    revision_details,
)

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name


Stream = StreamWithDlq


@pytest.fixture
def stream(moto_endpoint: str) -> Iterator[Stream]:
    with stream_with_dlq("qldb") as created:
        yield created


@pytest.fixture(autouse=True)
def _fresh_handler() -> Iterator[None]:
    lambda_handler.reset()
    lambda_handler.metrics.clear_metrics()  # StreamHandler.handle adds; only handler() flushes
    yield
    lambda_handler.reset()
    lambda_handler.metrics.clear_metrics()


def put_and_read(stream: Stream, payloads: Sequence[bytes]) -> list[dict[str, Any]]:
    """Put ``payloads`` in order, read them back, return Lambda-shaped event records."""
    return kinesis_put_and_read(stream.kinesis, stream.name, stream.arn, payloads)


def run_like_lambda(
    records: list[dict[str, Any]], invoke: Any, batch_size: int = 7, max_invocations: int = 100
) -> list[dict[str, Any]]:
    """Deliver ``records`` in batches; on a reported failure restart from that sequence number.

    Returns every non-empty ``batchItemFailures`` response seen.
    """
    position = 0
    failures: list[dict[str, Any]] = []
    for _ in range(max_invocations):
        if position >= len(records):
            return failures
        batch = records[position : position + batch_size]
        response = invoke({"Records": batch})
        if response["batchItemFailures"]:
            failures.append(response)
            failed = response["batchItemFailures"][0]["itemIdentifier"]
            seqs = [r["kinesis"]["sequenceNumber"] for r in batch]
            assert failed in seqs
            position += seqs.index(failed)
        else:
            position += len(batch)
    raise AssertionError("the batch never converged")


# ------------------------------------------------------------------------------ inputs


def synthetic_payloads(rnd: random.Random) -> list[bytes]:
    """Aggregates of 5 documents' histories (one deleted, one redacted), shuffled, duplicated."""
    revs = []
    for n, doc in enumerate(["alice", "bob", "carol", "dave", "erin"]):
        for version in range(n + 1):
            revs.append(Rev(doc, version, data={"who": doc, "v": version, "tags": ["a", n]}))
    revs.append(Rev("bob", 2))  # delete
    revs.append(Rev("carol", 3, redacted=True))  # redaction
    users = [revision_details(r) for r in revs] + [control()]
    users += rnd.sample(users, k=6)  # QLDB delivers at least once
    rnd.shuffle(users)
    payloads = [aggregate(users[i : i + 4]) for i in range(0, len(users), 4)]
    payloads += [revision_details(Rev("frank", 0, data={"who": "frank"}))]  # not aggregated
    payloads += rnd.sample(payloads, k=2)  # whole aggregates redelivered
    rnd.shuffle(payloads)
    return payloads


def capture_payloads(capture_dir: Path) -> list[bytes]:
    return [
        base64.b64decode(r["kinesis"]["data"])
        for name in CAPTURES
        for r in load_capture(capture_dir, name)["Records"]
    ]


def dead_letters(stream: Stream) -> list[dict[str, Any]]:
    letters: list[dict[str, Any]] = []
    while True:
        page = stream.sqs.receive_message(
            QueueUrl=stream.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = page.get("Messages", [])
        if not messages:
            return letters
        for message in messages:
            letters.append(json.loads(message["Body"]))
            stream.sqs.delete_message(
                QueueUrl=stream.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


# ------------------------------------------------------------------------------ tests


def test_handler_converges_sqlite_and_dynamodb_and_dead_letters_poison(
    stream: Stream,
    *,
    aws_env: str,
    capture_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    garbage = b"this is not Ion and not KPL"
    bad_md5 = bytearray(aggregate([revision_details(Rev("zed", 0, data={"z": 1}))]))
    bad_md5[-1] ^= 0xFF
    payloads = capture_payloads(capture_dir) + synthetic_payloads(random.Random(7))
    payloads[5:5] = [garbage, bytes(bad_md5)]
    records = put_and_read(stream, payloads)

    db = tmp_path / "stream.db"
    table = unique_name("docs")
    monkeypatch.setenv("CDC_TARGETS", f"sqlite:///{db},dynamodb://{table}?create=true")
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)
    monkeypatch.setenv("CDC_VERIFY_HASHES", "true")

    failures = run_like_lambda(
        records, lambda event: lambda_handler.handler(event, lambda_context())
    )

    assert failures == []
    want, _ = expected_state(payload_changes(payloads))
    assert len(want) == 11  # 5 from the captures, 6 synthetic documents
    assert read_documents(db) == want
    dynamodb, s3 = aws_client("dynamodb"), aws_client("s3")
    stored = {
        DocKey(i["ledgerTable"]["S"], i["pk"]["S"]): item_row(i, s3)
        for i in scan_all(dynamodb, table)
        if "ledgerTable" in i
    }
    assert stored == want
    assert want[DocKey("Person", "bob")].deleted
    assert want[DocKey("Person", "carol")].redacted

    letters = dead_letters(stream)
    assert sorted(base64.b64decode(x["rawBase64"]) for x in letters) == sorted(
        [garbage, bytes(bad_md5)]
    )
    assert {x["errorClass"] for x in letters} == {"DecodeError"}
    assert all(x["shardId"] == SHARD and x["sequenceNumber"] for x in letters)

    out = capfd.readouterr().out
    assert '"Namespace": "QldbCdc"' in out or '"Namespace":"QldbCdc"' in out
    assert "OldestRecordAge" in out
    summaries = [r for r in caplog.records if r.getMessage() == "batch processed"]
    assert len(summaries) == len(range(0, len(records), 7))
    assert sum(r.__dict__["counts"]["poison"] for r in summaries) == 2
    assert sum(r.__dict__["counts"]["block_summaries"] for r in summaries) == 4
    assert "chriswilliams" not in out + caplog.text  # never log document contents


def test_stream_redactions_reach_sqlite_history_and_unknown_tables_are_dead_lettered(
    stream: Stream,
    *,
    aws_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BLOCK_SUMMARY.redactionInfo through the handler: a redaction delivered before the
    revision it redacts (its table named by another revision of the batch), after it (named by
    the lifecycle SQLite recorded), twice, and one whose table id nothing names
    (dead-lettered with the record)."""
    revs = [Rev("rita", v, data={"who": "rita", "v": v}) for v in range(3)]
    early, late = block_summary(5000, redacts=[revs[0]]), block_summary(5001, redacts=[revs[1]])
    unknown = block_summary(5002, redacts=[revs[0]], table_id="UnknownTableId00000000")
    other = revision_details(Rev("olga", 0, data={"who": "olga"}))
    payloads = [
        aggregate([early, other]),  # redaction first: "olga" names the table id
        # the originals, each with its block's summary (which the SQLite target records: the
        # table lifecycle names the table id for the next batch)
        aggregate([block_summary(1000 + r.version, documents=[r]) for r in revs]),
        aggregate([revision_details(r) for r in reversed(revs)]),
        aggregate([late, early]),  # after the originals, and a duplicate
        unknown,
    ]
    db = tmp_path / "stream.db"
    table = unique_name("docs")
    monkeypatch.setenv("CDC_TARGETS", f"sqlite:///{db},dynamodb://{table}?create=true")
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)

    failures = run_like_lambda(
        put_and_read(stream, payloads),
        lambda event: lambda_handler.handler(event, lambda_context()),
        batch_size=1,
    )

    assert failures == []
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT version, redacted, data IS NULL, tx_id, revision_hash <> '' FROM revisions"
            " WHERE document_id = 'rita' ORDER BY version"
        ).fetchall()
    assert rows == [(0, 1, 1, "txrita0", 1), (1, 1, 1, "txrita1", 1), (2, 0, 0, "txrita2", 1)]
    current = read_documents(db)[DocKey("Person", "rita")]
    assert (current.version, current.redacted, current.data) == (2, False, {"who": "rita", "v": 2})
    items = {i["pk"]["S"]: i for i in scan_all(aws_client("dynamodb"), table) if "pk" in i}
    assert item_row(items["rita"], aws_client("s3")).version == 2
    (letter,) = dead_letters(stream)
    assert base64.b64decode(letter["rawBase64"]) == unknown
    assert letter["errorClass"] == "UnresolvedTableError"
    assert "UnknownTableId00000000" in letter["reason"]


def test_a_dynamodb_only_deployment_applies_a_later_redaction(
    stream: Stream,
    *,
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No SQL target records the table lifecycle and the redaction's batch names no table:
    the DynamoDB item of the redacted document names it (``DocumentTableLookup``), so the
    redaction of the current version purges the item's data instead of being dead-lettered."""
    revs = [Rev("rosa", v, data={"who": "rosa", "v": v}) for v in range(3)]
    payloads = [
        aggregate([revision_details(r) for r in revs]),
        block_summary(6000, redacts=[revs[2]]),  # alone in its batch
    ]
    table = unique_name("docs")
    monkeypatch.setenv("CDC_TARGETS", f"dynamodb://{table}?create=true")
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)

    failures = run_like_lambda(
        put_and_read(stream, payloads),
        lambda event: lambda_handler.handler(event, lambda_context()),
        batch_size=1,
    )

    assert failures == []
    assert dead_letters(stream) == []
    items = {i["pk"]["S"]: i for i in scan_all(aws_client("dynamodb"), table) if "pk" in i}
    row = item_row(items["rosa"], aws_client("s3"))
    assert (row.version, row.redacted, row.data) == (2, True, None)


@dataclass
class Throttled:
    """A projection that throttles changes of ``docs`` during the first ``times`` applies."""

    inner: Projection
    docs: set[str]
    times: int = 1
    calls: int = 0
    throttled: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        self.calls += 1
        if self.calls > self.times:
            return self.inner.apply(changes)
        hit = [c for c in changes if c.key.doc_id in self.docs]
        report = self.inner.apply([c for c in changes if c.key.doc_id not in self.docs])
        report.failures.extend(Failure(c, ThrottledError("throttled")) for c in hit)
        self.throttled.extend(c.key.doc_id for c in hit)
        return report

    def completed_objects(self, export_id: str) -> set[str]:
        return self.inner.completed_objects(export_id)

    def iter_current_state(self) -> Iterator[DocState]:
        return self.inner.iter_current_state()

    def mark_object_complete(self, export_id: str, key: str) -> None:
        self.inner.mark_object_complete(export_id, key)

    def close(self) -> None:
        self.inner.close()


def test_throttled_target_reports_the_earliest_failed_record_and_converges(
    stream: Stream,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payloads = [
        revision_details(Rev("a", 0, data={"n": 0})),
        control(),
        aggregate([revision_details(Rev("b", 0, data={"n": 0})), control()]),
        aggregate([revision_details(Rev("c", 0, data={"n": 0}))]),
        revision_details(Rev("b", 1, data={"n": 1})),
    ]
    records = put_and_read(stream, payloads)
    target = Throttled(SQLiteProjection(tmp_path / "t.db"), docs={"b"})
    handler = StreamHandler(
        projections=[target],
        dead_letters=SqsDeadLetterSink(stream.sqs, stream.queue_url),
        clock=lambda: 2_000_000_000.0,
    )
    monkeypatch.setattr(lambda_handler, "_state", handler)  # as built at cold start

    response = lambda_handler.handler({"Records": records}, lambda_context())

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[2]["kinesis"]["sequenceNumber"]}]
    }
    assert target.throttled == ["b", "b"]
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    oldest = min(r["kinesis"]["approximateArrivalTimestamp"] for r in records)
    assert emf[-1]["OldestRecordAge"] == [pytest.approx((2_000_000_000.0 - oldest) * 1000.0)]
    assert (emf[-1]["Retried"], emf[-1]["Applied"], emf[-1]["Revisions"]) == ([2], [2], [4])
    redelivered = lambda_handler.handler({"Records": records[2:]}, lambda_context())
    assert redelivered == {"batchItemFailures": []}
    state = read_documents(tmp_path / "t.db")
    assert {k.doc_id: v.version for k, v in state.items()} == {"a": 0, "b": 1, "c": 0}
    assert dead_letters(stream) == []
    target.close()


def test_unwritable_dead_letter_is_reported_not_dropped(stream: Stream, tmp_path: Path) -> None:
    records = put_and_read(stream, [revision_details(Rev("a", 0, data={})), b"junk", b"junk"])
    handler = StreamHandler(
        projections=[SQLiteProjection(tmp_path / "d.db")],
        dead_letters=SqsDeadLetterSink(aws_client("sqs"), stream.queue_url + "-missing"),
    )
    response = handler.handle({"Records": records})
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[1]["kinesis"]["sequenceNumber"]}]
    }


def test_large_poison_record_is_split_across_messages(stream: Stream) -> None:
    big = bytes(random.Random(1).randrange(256) for _ in range(400_000))
    from dead_letters.sinks import DeadLetter

    sink = SqsDeadLetterSink(stream.sqs, stream.queue_url)
    sink.put(DeadLetter(big, SHARD, "1", None, "too big to be Ion", "DecodeError"))
    parts = sorted(dead_letters(stream), key=lambda x: x["part"])
    assert [p["part"] for p in parts] == [0, 1, 2]
    assert len({p["letterId"] for p in parts}) == 1
    assert b"".join(base64.b64decode(p["rawBase64"]) for p in parts) == big


def test_empty_event_and_bad_base64(stream: Stream, tmp_path: Path) -> None:
    handler = StreamHandler(
        projections=[SQLiteProjection(tmp_path / "e.db")],
        dead_letters=SqsDeadLetterSink(stream.sqs, stream.queue_url),
    )
    assert handler.handle({"Records": []}) == {"batchItemFailures": []}
    records = put_and_read(stream, [revision_details(Rev("a", 0, data={}))])
    broken = json.loads(json.dumps(records[0]))
    broken["kinesis"]["data"] = "%%% not base64"
    assert handler.handle({"Records": [broken]}) == {"batchItemFailures": []}
    letters = dead_letters(stream)
    assert [base64.b64decode(x["rawBase64"]) for x in letters] == [b"%%% not base64"]
    assert "base64" in letters[0]["reason"]


def test_configuration_errors_surface_on_the_first_invocation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CDC_TARGETS", raising=False)
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q")
    with pytest.raises(ConfigError, match="CDC_TARGETS is required"):
        lambda_handler.handler({"Records": []}, lambda_context())
    monkeypatch.setenv("CDC_TARGETS", "mysql://nope")
    with pytest.raises(ConfigError, match="unknown target"):
        lambda_handler.handler({"Records": []}, lambda_context())
    monkeypatch.setenv("CDC_TARGETS", f"sqlite:///{tmp_path / 'ok.db'}")
    monkeypatch.setenv("CDC_VERIFY_HASHES", "maybe")
    with pytest.raises(ConfigError, match="CDC_VERIFY_HASHES must be true or false"):
        lambda_handler.handler({"Records": []}, lambda_context())


def test_targets_from_a_secret(
    stream: Stream, aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = aws_client("secretsmanager")
    rds = secrets.create_secret(
        Name=unique_name("rds"),
        SecretString=json.dumps(
            {"username": "cdc", "password": "p@ss/word", "host": "db.local", "port": 5433}
        ),
    )["ARN"]
    assert settings.secret_targets(secrets, rds) == (
        "postgresql://cdc:p%40ss%2Fword@db.local:5433/postgres",
    )
    bad = secrets.create_secret(Name=unique_name("bad"), SecretString="mysql://u:hunter2@h/db")
    with pytest.raises(ConfigError, match="invalid target URI") as info:
        settings.secret_targets(secrets, bad["ARN"])
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None
    with pytest.raises(ConfigError, match="cannot read secret"):
        settings.secret_targets(secrets, rds + "-missing")

    db = tmp_path / "secret.db"
    plain = secrets.create_secret(Name=unique_name("uri"), SecretString=f"sqlite:///{db}")
    monkeypatch.setenv("CDC_TARGETS", "")
    monkeypatch.setenv("CDC_TARGETS_SECRET_ARN", plain["ARN"])
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)
    records = put_and_read(stream, [revision_details(Rev("s", 0, data={"k": 1}))])
    assert lambda_handler.handler({"Records": records}, lambda_context()) == {
        "batchItemFailures": []
    }
    assert {k.doc_id for k in read_documents(db)} == {"s"}


# ------------------------------------------------------------------------------ powertools


@pytest.fixture
def cold_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh execution environment as powertools sees it (its process-wide cold-start flags)."""
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the handler's powertools Logger writes (JSON lines), formatted as in Lambda."""
    buffer = io.StringIO()
    handler = lambda_handler.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def emf_documents(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def metric_names(document: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


class Exploding:
    """A projection whose writes raise something no classifier knows (a bug, say)."""

    name = "exploding"

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        raise RuntimeError("boom")

    def completed_objects(self, export_id: str) -> set[str]:
        return set()

    def iter_current_state(self) -> Iterator[DocState]:
        return iter(())

    def mark_object_complete(self, export_id: str, key: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_metrics_are_flushed_when_the_invocation_raises(
    *,
    stream: Stream,
    cold_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    records = put_and_read(stream, [revision_details(Rev("a", 0, data={"n": 0}))])
    broken = StreamHandler(
        projections=[Exploding()], dead_letters=SqsDeadLetterSink(stream.sqs, stream.queue_url)
    )
    monkeypatch.setattr(lambda_handler, "_state", broken)

    with pytest.raises(RuntimeError, match="boom"):
        lambda_handler.handler({"Records": records}, lambda_context())

    emf = emf_documents(capfd.readouterr().out)
    assert len(emf) == 1
    assert emf[0]["BatchErrors"] == [1.0]
    assert metric_names(emf[0]) == {"BatchErrors"}
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "QldbCdc"


def test_cold_start_metric_once_request_id_in_every_log_line_partial_batch_kept(
    *,
    stream: Stream,
    tmp_path: Path,
    cold_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
) -> None:
    payloads = [
        revision_details(Rev("a", 0, data={"n": 0})),
        revision_details(Rev("b", 0, data={"n": 0})),
    ]
    records = put_and_read(stream, payloads)
    target = Throttled(SQLiteProjection(tmp_path / "p.db"), docs={"b"})
    built = StreamHandler(
        projections=[target], dead_letters=SqsDeadLetterSink(stream.sqs, stream.queue_url)
    )
    monkeypatch.setattr(lambda_handler, "_state", built)
    first, second = lambda_context("request-one"), lambda_context("request-two")

    assert lambda_handler.handler({"Records": records}, first) == {
        "batchItemFailures": [{"itemIdentifier": records[1]["kinesis"]["sequenceNumber"]}]
    }
    assert lambda_handler.handler({"Records": records[1:]}, second) == {"batchItemFailures": []}

    emf = emf_documents(capfd.readouterr().out)
    cold = [d for d in emf if "ColdStart" in metric_names(d)]
    assert len(cold) == 1
    assert cold[0]["function_name"] == FUNCTION_NAME
    batches = [d for d in emf if "Applied" in d]
    assert [(d["Applied"], d["Retried"]) for d in batches] == [([1.0], [1.0]), ([1.0], [0.0])]
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    processed = [line for line in lines if line["message"] == "batch processed"]
    assert [(x["function_request_id"], x["cold_start"]) for x in processed] == [
        ("request-one", True),
        ("request-two", False),
    ]
    assert all(line["function_name"] == FUNCTION_NAME for line in lines)
    assert {k.doc_id: v.version for k, v in read_documents(tmp_path / "p.db").items()} == {
        "a": 0,
        "b": 0,
    }
    target.close()


def test_empty_event_publishes_nothing_and_warns_nothing(
    stream: Stream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cold_start, "is_cold_start", False)  # a warm environment
    built = StreamHandler(
        projections=[SQLiteProjection(tmp_path / "e.db")],
        dead_letters=SqsDeadLetterSink(stream.sqs, stream.queue_url),
    )
    monkeypatch.setattr(lambda_handler, "_state", built)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert lambda_handler.handler({"Records": []}, lambda_context()) == {
            "batchItemFailures": []
        }
    assert [str(w.message) for w in seen] == []
    assert emf_documents(capfd.readouterr().out) == []
