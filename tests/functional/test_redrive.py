"""``qldb-cdc redrive`` end to end: a real (moto) Kinesis stream holding real QLDB records, a
real (moto) SQS queue holding Lambda OnFailure invocation records, SQLite and DynamoDB targets.

Messages have the documented shape (``tests/fixtures/onfailure/``) with the moto stream's ARN,
shard and sequence numbers. moto keeps every record forever (no retention), so a range past
retention is simulated the two ways Kinesis shows it: a shard that holds nothing from the start
on (a new, empty stream), and a start sequence number older than the shard's oldest record
(the first record read is after the start).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from consumers import cli
from consumers.exit_codes import ExitCode
from core.model import DocKey
from tests.support.captures import REPO_ROOT
from tests.support.kinesis_events import StreamWithDlq, put_and_read, stream_with_dlq
from tests.support.moto_server import aws_env, moto_endpoint, unique_name
from tests.support.projection_harness import expected_state
from tests.support.stream_readback import payload_changes, read_documents
from tests.support.synthetic_stream import (
    CAPTURES,
    Rev,
    aggregate,
    control,
    load_capture,
    revision_details,
)

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

SAMPLE = REPO_ROOT / "tests" / "fixtures" / "onfailure" / "kinesis-invocation-record.json"


@pytest.fixture
def stream(moto_endpoint: str) -> Iterator[StreamWithDlq]:
    """A one-shard stream and, as ``queue_url``, the OnFailure queue."""
    with stream_with_dlq("redrive") as created:
        yield created


def on_failure(
    arn: str, records: Sequence[dict[str, Any]], *, start: str | None = None
) -> dict[str, Any]:
    """The documented invocation record, naming ``records`` (Lambda event records) of ``arn``."""
    message: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    info = message["KinesisBatchInfo"]
    info["streamArn"] = arn
    info["shardId"] = records[0]["eventID"].split(":", 1)[0]
    info["startSequenceNumber"] = start or records[0]["kinesis"]["sequenceNumber"]
    info["endSequenceNumber"] = records[-1]["kinesis"]["sequenceNumber"]
    info["batchSize"] = len(records)
    return message


def post(stream: StreamWithDlq, *bodies: dict[str, Any] | str) -> None:
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        stream.sqs.send_message(QueueUrl=stream.queue_url, MessageBody=text)


def waiting(stream: StreamWithDlq) -> list[str]:
    """Bodies of every message in the queue (made visible again right away)."""
    bodies: dict[str, str] = {}
    handles = []
    for _ in range(20):
        page = stream.sqs.receive_message(
            QueueUrl=stream.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        if not page:
            break
        for message in page:
            bodies[message["MessageId"]] = message["Body"]
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        stream.sqs.change_message_visibility(
            QueueUrl=stream.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
        )
    return list(bodies.values())


def run(
    capsys: pytest.CaptureFixture[str],
    stream: StreamWithDlq,
    *targets: str,
    extra: Sequence[str] = (),
) -> tuple[int, str, str]:
    """``qldb-cdc redrive`` in process; returns (exit code, stdout, stderr)."""
    argv = ["redrive", "--queue", stream.queue_url, "--wait-seconds", "0", *extra]
    for target in targets:
        argv += ["--to", target]
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def capture_payloads(capture_dir: Path) -> list[bytes]:
    return [
        base64.b64decode(r["kinesis"]["data"])
        for name in CAPTURES
        for r in load_capture(capture_dir, name)["Records"]
    ]


def history(doc: str, versions: range) -> list[bytes]:
    return [revision_details(Rev(doc, v, data={"who": doc, "v": v})) for v in versions]


# ------------------------------------------------------------------------------ tests


def test_redrive_applies_the_range_in_order_deletes_the_message_and_is_idempotent(
    stream: StreamWithDlq,
    *,
    aws_env: str,
    capture_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = history("alice", range(1))  # applied by Lambda before the outage
    in_range = [
        *capture_payloads(capture_dir),  # real QLDB records, KPL-aggregated
        aggregate([*history("alice", range(1, 3)), control(), *history("bob", range(2))]),
        revision_details(Rev("bob", 2)),  # a delete, not aggregated
        revision_details(Rev("carol", 0, data={"c": 1})),
    ]
    after = history("alice", range(3, 5))  # later batches: not this message's range
    records = put_and_read(stream.kinesis, stream.name, stream.arn, [*before, *in_range, *after])
    batch = records[len(before) : len(before) + len(in_range)]
    post(stream, on_failure(stream.arn, batch))
    db = tmp_path / "redriven.db"

    code, out, err = run(capsys, stream, f"sqlite:///{db}")

    assert (code, err) == (ExitCode.OK, ""), err
    assert out.count("applied: ") == 1
    assert f"{len(in_range)} records re-read" in out
    assert "1 deleted, 0 kept" in out.splitlines()[-1]
    want, _ = expected_state(payload_changes(in_range))
    assert read_documents(db) == want  # exactly the range, start and end included
    assert read_documents(db)[DocKey("Person", "alice")].version == 2  # not the later batches'
    assert read_documents(db)[DocKey("Person", "bob")].deleted
    assert waiting(stream) == []

    # The same message again (SQS delivers at least once): nothing changes, all stale.
    post(stream, on_failure(stream.arn, batch))
    code, out, err = run(capsys, stream, f"sqlite:///{db}")
    assert (code, err) == (ExitCode.OK, "")
    assert " 0 applied, " in out.splitlines()[-1]
    assert read_documents(db) == want
    assert waiting(stream) == []


def test_ranges_past_retention_are_reported_and_kept(
    stream: StreamWithDlq, *, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = put_and_read(stream.kinesis, stream.name, stream.arn, history("dan", range(3)))
    # The batch began one record before the oldest the shard still holds.
    oldest = int(records[0]["kinesis"]["sequenceNumber"])
    trimmed_start = on_failure(stream.arn, records, start=str(oldest - 1))
    empty_name = unique_name("redrive-empty")
    stream.kinesis.create_stream(StreamName=empty_name, ShardCount=1)
    try:
        empty_arn = stream.kinesis.describe_stream(StreamName=empty_name)["StreamDescription"][
            "StreamARN"
        ]
        nothing_left = on_failure(empty_arn, records)
        post(stream, trimmed_start, nothing_left)
        db = tmp_path / "t.db"

        code, out, err = run(capsys, stream, f"sqlite:///{db}")
    finally:
        stream.kinesis.delete_stream(StreamName=empty_name)

    assert code == ExitCode.PAST_RETENTION
    lines = err.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("qldb-cdc: past-retention: ")
        assert "shardId-000000000000" in line
        # The sample's arrival times, one hour of margin before the first.
        assert "replay an export covering txTime 2019-11-13T23:38:04.835Z .. " in line
        assert "2019-11-14T00:38:05.580Z" in line
        assert line.endswith("message kept")
    assert any("start of the range was trimmed" in line for line in lines)
    assert any("holds no record from" in line for line in lines)
    assert "2 kept (2 past retention" in out.splitlines()[-1]
    assert len(waiting(stream)) == 2
    assert db.exists() and read_documents(db) == {}  # opened, nothing applied


def test_a_failing_target_keeps_the_message(
    stream: StreamWithDlq, *, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    records = put_and_read(stream.kinesis, stream.name, stream.arn, history("erin", range(2)))
    post(stream, on_failure(stream.arn, records))
    missing = f"dynamodb://{unique_name('no-such-table')}"

    code, out, err = run(capsys, stream, missing)

    assert code == ExitCode.RETRYABLE
    assert err.startswith("qldb-cdc: retry: ")
    assert "a target kept failing" in err
    assert err.count("\n") == 1
    assert "1 kept" in out.splitlines()[-1]
    assert len(waiting(stream)) == 1


def test_malformed_messages_and_poison_records_are_kept_unless_dead_lettered(
    stream: StreamWithDlq, *, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = history("fay", range(2))
    records = put_and_read(
        stream.kinesis,
        stream.name,
        stream.arn,
        [*good, b"not Ion, not KPL", *history("gus", range(1))],
    )
    clean, with_poison = records[:2], records[2:]
    post(stream, on_failure(stream.arn, clean), on_failure(stream.arn, with_poison), "{not json")
    db = tmp_path / "p.db"

    code, out, err = run(capsys, stream, f"sqlite:///{db}")

    assert code == ExitCode.BAD_DATA
    assert out.count("applied: ") == 1  # the clean range went through and was deleted
    kept = err.splitlines()
    assert len(kept) == 2
    assert all(line.startswith("qldb-cdc: poison: ") for line in kept)
    assert any("not a Kinesis OnFailure invocation record" in line for line in kept)
    assert any("re-run with --dead-letter FILE" in line for line in kept)
    assert sorted(waiting(stream)) == sorted(
        ["{not json", json.dumps(on_failure(stream.arn, with_poison))]
    )
    assert DocKey("Person", "fay") in read_documents(db)

    letters = tmp_path / "letters.jsonl"
    code, out, err = run(capsys, stream, f"sqlite:///{db}", extra=["--dead-letter", str(letters)])
    assert code == ExitCode.BAD_DATA  # the malformed message stays poison
    assert err.count("\n") == 1 and "not a Kinesis OnFailure" in err
    assert waiting(stream) == ["{not json"]
    assert [json.loads(line)["errorClass"] for line in letters.read_text().splitlines()] == [
        "DecodeError"
    ]
    assert DocKey("Person", "gus") in read_documents(db)


def test_dry_run_reads_and_decodes_but_applies_and_deletes_nothing(
    stream: StreamWithDlq, *, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = put_and_read(stream.kinesis, stream.name, stream.arn, history("hal", range(3)))
    post(stream, on_failure(stream.arn, records))
    db = tmp_path / "never.db"

    code, out, err = run(capsys, stream, f"sqlite:///{db}", extra=["--dry-run"])

    assert (code, err) == (ExitCode.OK, "")
    assert "dry run: " in out and "3 records re-read, 3 revisions, 0 poison" in out
    assert not db.exists()
    assert len(waiting(stream)) == 1


def test_max_messages_bounds_the_run(
    stream: StreamWithDlq, *, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = put_and_read(stream.kinesis, stream.name, stream.arn, history("ida", range(3)))
    post(stream, *(on_failure(stream.arn, [r]) for r in records))
    db = tmp_path / "m.db"

    code, out, _ = run(capsys, stream, f"sqlite:///{db}", extra=["--max-messages", "2"])

    assert code == ExitCode.OK
    assert out.splitlines()[-1].startswith("redrive: 2 messages, 2 records re-read")
    assert len(waiting(stream)) == 1


def test_a_queue_url_that_is_not_one_is_a_user_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["redrive", "--queue", "my-queue", "--wait-seconds", "0"])
    _, err = capsys.readouterr()
    assert code == ExitCode.USER_MISTAKE
    assert err.count("\n") == 1 and "--queue must be an SQS queue URL" in err


def test_function_filter_leaves_other_functions_messages_alone(
    stream: StreamWithDlq, *, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = put_and_read(stream.kinesis, stream.name, stream.arn, history("jo", range(2)))
    mine = on_failure(stream.arn, records[:1])  # the sample's function: "myfunction"
    theirs = on_failure(stream.arn, records[1:])
    theirs["requestContext"]["functionArn"] = (
        "arn:aws:lambda:us-east-2:123456789012:function:OpenSearchProjectionFunction"
    )
    post(stream, mine, theirs)
    db = tmp_path / "f.db"

    code, out, err = run(capsys, stream, f"sqlite:///{db}", extra=["--function", "myfunction"])

    assert (code, err) == (ExitCode.OK, "")
    assert "skipped: " in out and "OpenSearchProjectionFunction" in out
    assert "1 deleted, 1 kept" in out.splitlines()[-1]
    assert waiting(stream) == [json.dumps(theirs)]
    assert read_documents(db)[DocKey("Person", "jo")].version == 0


def test_from_env_uses_the_lambdas_targets_and_dead_letter_queue(
    stream: StreamWithDlq,
    *,
    aws_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forged = revision_details(Rev("kim", 2, data={"who": "mallory"}), corrupt_hash=True)
    records = put_and_read(
        stream.kinesis,
        stream.name,
        stream.arn,
        [*history("kim", range(2)), b"\x00 not Ion", forged],
    )
    post(stream, on_failure(stream.arn, records))
    db = tmp_path / "env.db"
    letters = stream.sqs.create_queue(QueueName=unique_name("redrive-letters"))["QueueUrl"]
    monkeypatch.setenv("CDC_TARGETS", f"sqlite:///{db}")
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", letters)
    monkeypatch.setenv("CDC_VERIFY_HASHES", "true")
    try:
        code, out, err = run(capsys, stream, extra=["--from-env"])
        got = stream.sqs.receive_message(QueueUrl=letters, MaxNumberOfMessages=10)
    finally:
        stream.sqs.delete_queue(QueueUrl=letters)

    assert (code, err) == (ExitCode.OK, "")
    assert "2 dead-lettered; message deleted" in out
    assert sorted(json.loads(m["Body"])["errorClass"] for m in got["Messages"]) == [
        "DecodeError",
        "VerificationError",  # CDC_VERIFY_HASHES=true was read
    ]
    assert read_documents(db)[DocKey("Person", "kim")].version == 1
    assert waiting(stream) == []

    code, _, err = run(capsys, stream, "sqlite:///other.db", extra=["--from-env"])
    assert code == ExitCode.USER_MISTAKE
    assert "either --to or --from-env" in err
