"""KclRecordProcessor over in-memory streams with the real pipeline and the memory projection."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

from changes.reconcile import DocState
from consumers.kcl_processor import (
    EXIT_BATCH_FAILED,
    EXIT_OK,
    KclRecordProcessor,
    ProcessorConfig,
    main,
)
from consumers.kcl_protocol import DaemonChannel
from core.errors import ConfigError, RetryableError
from core.model import Change, DocKey
from core.retry import Backoff
from dead_letters.sinks import DeadLetter, JsonLinesDeadLetterSink, ListDeadLetterSink
from projections.base import ApplyReport
from projections.memory import MemoryProjection


def revision(doc_id: str, version: int) -> str:
    value = {
        "qldbStreamArn": "arn:aws:qldb:eu-west-1:1:stream/l/s",
        "recordType": "REVISION_DETAILS",
        "payload": {
            "tableInfo": {"tableName": "Person", "tableId": "T1"},
            "revision": {
                "blockAddress": {"strandId": "S", "sequenceNo": 5},
                "hash": hashlib.sha256(f"{doc_id}{version}".encode()).digest(),
                "data": {"v": version},
                "metadata": {
                    "id": doc_id,
                    "version": version,
                    "txTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    "txId": "tx",
                },
            },
        },
    }
    return base64.b64encode(simpleion.dumps(value, binary=True)).decode("ascii")


def record(data: Any, seq: int, sub: int = 0) -> dict[str, Any]:
    return {
        "data": data,
        "partitionKey": "pk",
        "sequenceNumber": str(seq),
        "subSequenceNumber": sub,
        "approximateArrivalTimestamp": 1_700_000_000_000,
    }


def daemon_script(*messages: dict[str, Any]) -> str:
    """Messages interleaved with enough successful checkpoint replies for each one."""
    ok = json.dumps({"action": "checkpoint", "sequenceNumber": None, "error": None})
    lines = []
    for message in messages:
        lines.append(json.dumps(message))
        if message["action"] in ("processRecords", "shardEnded", "shutdownRequested"):
            lines.append(ok)
    return "\n".join(lines) + "\n"


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"action": "processRecords", "records": list(records), "millisBehindLatest": 0}


INIT = {"action": "initialize", "shardId": "shardId-1", "sequenceNumber": None}


@dataclass
class FlakyProjection:
    """Raises RetryableError for the first ``failures`` calls, then delegates."""

    failures: int
    inner: MemoryProjection = field(default_factory=MemoryProjection)
    calls: int = 0

    @property
    def name(self) -> str:
        return "flaky"

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        self.calls += 1
        if self.calls <= self.failures:
            msg = "simulated throttling"
            raise RetryableError(msg)
        return self.inner.apply(changes)

    def completed_objects(self, export_id: str) -> set[str]:
        return set()

    def iter_current_state(self) -> Iterator[DocState]:
        return iter(())

    def mark_object_complete(self, export_id: str, key: str) -> None:
        return None

    def close(self) -> None:
        return None


def run(
    script: str, projection: Any, sink: Any, attempts: int = 3, checkpoint_attempts: int = 5
) -> tuple[int, list[dict[str, Any]], list[float]]:
    out = io.StringIO()
    sleeps: list[float] = []
    config = ProcessorConfig(
        batch_backoff=Backoff(attempts, 0.25, 1.0),
        checkpoint_backoff=Backoff(checkpoint_attempts, 0.25, 1.0),
    )
    processor = KclRecordProcessor(
        DaemonChannel(io.StringIO(script), out), [projection], sink, config, sleep=sleeps.append
    )
    code = processor.run()
    sent = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return code, sent, sleeps


def test_transient_target_failure_retries_whole_batch_then_checkpoints() -> None:
    projection = FlakyProjection(failures=2)
    script = daemon_script(
        INIT, batch(record(revision("a", 0), 100), record(revision("a", 1), 200))
    )
    code, sent, sleeps = run(script, projection, ListDeadLetterSink())
    assert code == EXIT_OK
    assert projection.calls == 3
    assert sleeps == [0.25, 0.5]
    assert projection.inner.documents[DocKey("Person", "a")].version == 1
    assert sent == [
        {"action": "status", "responseFor": "initialize"},
        {"action": "checkpoint", "sequenceNumber": "200", "subSequenceNumber": 0},
        {"action": "status", "responseFor": "processRecords"},
    ]


def test_target_failing_every_attempt_exits_before_status_and_checkpoint() -> None:
    projection = FlakyProjection(failures=99)
    script = daemon_script(INIT, batch(record(revision("a", 0), 100)), {"action": "shardEnded"})
    code, sent, sleeps = run(script, projection, ListDeadLetterSink(), attempts=3)
    assert code == EXIT_BATCH_FAILED
    assert projection.calls == 3
    assert len(sleeps) == 2
    assert sent == [{"action": "status", "responseFor": "initialize"}]


def test_malformed_daemon_record_is_dead_lettered_once_and_checkpoint_advances() -> None:
    sink = ListDeadLetterSink()
    projection = FlakyProjection(failures=1)
    script = daemon_script(
        INIT, batch(record(revision("a", 0), 100), record("%%% not base64", 100, 1))
    )
    code, sent, _ = run(script, projection, sink)
    assert code == EXIT_OK
    assert len(sink.letters) == 1
    letter = sink.letters[0]
    assert letter.error_class == "DecodeError"
    assert letter.sequence_number == "100"
    assert letter.sub_sequence_number == 1
    assert json.loads(letter.raw)["data"] == "%%% not base64"
    assert {"action": "checkpoint", "sequenceNumber": "100", "subSequenceNumber": 1} in sent


def test_poison_ion_in_a_retried_batch_is_dead_lettered_once() -> None:
    # GIVEN a valid base64 record that is not Ion (poison found by process_batch, not by the
    # processor) in a batch whose target throttles twice before succeeding
    sink = ListDeadLetterSink()
    projection = FlakyProjection(failures=2)
    garbage = base64.b64encode(b"\xe0\x01\x00\xea\xff\xff").decode()
    script = daemon_script(INIT, batch(record(revision("a", 0), 100), record(garbage, 200)))
    code, _sent, _ = run(script, projection, sink)
    # THEN the batch is applied on the third attempt and the poison record stored exactly once
    assert code == EXIT_OK
    assert projection.calls == 3
    assert [letter.sequence_number for letter in sink.letters] == ["200"]


def test_unavailable_dead_letter_sink_blocks_the_checkpoint() -> None:
    sink = ListDeadLetterSink(fail=True)
    script = daemon_script(INIT, batch(record("", 100), record("!!", 200)))
    code, sent, _ = run(script, MemoryProjection(), sink)
    assert code == EXIT_BATCH_FAILED
    assert all(message["action"] != "checkpoint" for message in sent)


def test_empty_batch_is_acknowledged_without_checkpoint() -> None:
    script = json.dumps(INIT) + "\n" + json.dumps(batch()) + "\n"
    code, sent, _ = run(script, MemoryProjection(), ListDeadLetterSink())
    assert code == EXIT_OK
    assert [m["action"] for m in sent] == ["status", "status"]


def test_shard_end_checkpoints_null_before_status() -> None:
    script = daemon_script(INIT, {"action": "shardEnded"})
    code, sent, _ = run(script, MemoryProjection(), ListDeadLetterSink())
    assert code == EXIT_OK
    assert sent[1:] == [
        {"action": "checkpoint", "sequenceNumber": None, "subSequenceNumber": None},
        {"action": "status", "responseFor": "shardEnded"},
    ]


def checkpoint_reply(error: str | None) -> str:
    return json.dumps({"action": "checkpoint", "sequenceNumber": None, "error": error})


def scripted(*steps: dict[str, Any] | str) -> str:
    """Daemon lines in order: messages (dicts) and checkpoint replies (strings, "" = success)."""
    lines = [json.dumps(s) if isinstance(s, dict) else checkpoint_reply(s or None) for s in steps]
    return "\n".join(lines) + "\n"


def checkpoints(sent: list[dict[str, Any]]) -> list[Any]:
    return [m["sequenceNumber"] for m in sent if m["action"] == "checkpoint"]


def test_one_invalid_state_exception_is_retried_and_checkpointing_goes_on() -> None:
    script = scripted(
        INIT,
        batch(record(revision("a", 0), 10)),
        "InvalidStateException",
        "",
        batch(record(revision("a", 1), 20)),
        "",
        {"action": "shardEnded"},
        "",
    )
    code, sent, sleeps = run(script, MemoryProjection(), ListDeadLetterSink())
    assert code == EXIT_OK
    assert checkpoints(sent) == ["10", "10", "20", None]
    assert len(sleeps) == 1
    assert sent[-1] == {"action": "status", "responseFor": "shardEnded"}


def test_invalid_state_on_every_attempt_leaves_the_position_to_the_next_batch() -> None:
    script = scripted(
        INIT,
        batch(record(revision("a", 0), 10)),
        "InvalidStateException",
        "InvalidStateException",
        batch(record(revision("a", 1), 20)),
        "",
        {"action": "shutdownRequested"},
    )
    projection = MemoryProjection()
    code, sent, _ = run(script, projection, ListDeadLetterSink(), checkpoint_attempts=2)
    assert code == EXIT_OK
    assert checkpoints(sent) == ["10", "10", "20"]  # 20 stored: nothing left at shutdown
    assert [m["responseFor"] for m in sent if m["action"] == "status"] == [
        "initialize",
        "processRecords",
        "processRecords",
        "shutdownRequested",
    ]


def test_shard_end_is_checkpointed_even_after_the_lease_looked_gone() -> None:
    script = scripted(
        INIT,
        batch(record(revision("a", 0), 10)),
        "ShutdownException",
        batch(record(revision("a", 1), 20)),
        {"action": "shardEnded"},
        "",
    )
    code, sent, _ = run(script, MemoryProjection(), ListDeadLetterSink())
    assert code == EXIT_OK
    assert checkpoints(sent) == ["10", None]  # no batch checkpoint after ShutdownException
    assert sent[-1] == {"action": "status", "responseFor": "shardEnded"}


def test_shard_end_checkpoint_that_keeps_failing_exits_before_status() -> None:
    script = scripted(
        INIT, {"action": "shardEnded"}, "ThrottlingException", "InvalidStateException"
    )
    code, sent, _ = run(script, MemoryProjection(), ListDeadLetterSink(), checkpoint_attempts=2)
    assert code == EXIT_BATCH_FAILED
    assert checkpoints(sent) == [None, None]
    assert {"action": "status", "responseFor": "shardEnded"} not in sent


def test_unexpected_checkpoint_message_is_a_protocol_failure() -> None:
    script = daemon_script(INIT) + json.dumps({"action": "checkpoint", "error": None}) + "\n"
    code, _, _ = run(script, MemoryProjection(), ListDeadLetterSink())
    assert code == EXIT_BATCH_FAILED


def test_json_lines_sink_appends_and_reports_io_errors(tmp_path: Path) -> None:
    letter = DeadLetter(b"\x00raw", "shard", "1", 0, "bad", "DecodeError")
    sink = JsonLinesDeadLetterSink(tmp_path / "dl.jsonl")
    sink.put(letter)
    sink.put(letter)
    lines = (tmp_path / "dl.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [letter.to_json_dict()] * 2
    with pytest.raises(RetryableError):
        JsonLinesDeadLetterSink(tmp_path / "missing" / "dl.jsonl").put(letter)


def test_config_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dead-letter-file", "x.jsonl"], env={}) == 2
    assert "CDC_TARGETS" in capsys.readouterr().err
    env = {"CDC_TARGETS": "sqlite:///x.db", "CDC_DEAD_LETTER_QUEUE_URL": "https://sqs/q"}
    assert main(["--dead-letter-file", "x.jsonl"], env=env) == 2
    assert "not both" in capsys.readouterr().err
    assert main([], env={"CDC_TARGETS": "sqlite:///x.db"}) == 2
    assert "CDC_DEAD_LETTER_QUEUE_URL" in capsys.readouterr().err


class MisconfiguredProjection(FlakyProjection):
    """A target whose configuration can never work (a PostgreSQL database that is missing)."""

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        self.calls += 1
        msg = 'PostgreSQL refused the connection: database "x" does not exist'
        raise ConfigError(msg)


def test_a_misconfigured_target_exits_with_the_configuration_code() -> None:
    from consumers.kcl_processor import EXIT_CONFIG

    projection = MisconfiguredProjection(failures=0)
    script = daemon_script(INIT, batch(record(revision("a", 0), 100)))
    code, sent, sleeps = run(script, projection, ListDeadLetterSink())
    assert code == EXIT_CONFIG
    assert (projection.calls, sleeps) == (1, [])
    assert sent == [{"action": "status", "responseFor": "initialize"}]
