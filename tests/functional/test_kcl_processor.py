"""The KCL record processor driven as a subprocess by a fake MultiLangDaemon over stdin/stdout.

The fake daemon speaks the protocol exactly as the Java MultiLangDaemon does (JSON lines, blank
lines between messages, checkpoint replies with an ``error`` field: the Java ``CheckpointMessage``
that ``MultiLangProtocol.checkpoint`` writes back, its ``sequenceNumber`` and
``subSequenceNumber`` echoed and ``error`` the simple class name of the exception the
checkpointer threw, such as ``InvalidStateException``), with real Ion binary QLDB
records (synthetic and de-aggregated from the real captures), a real SQLite target and, for the
failing-target case, a PostgreSQL URI on a closed port (a real connection refusal).

The real MultiLangDaemon runs in tests/kcl_daemon/ (records, poison, restart, SIGTERM,
``InvalidStateException`` on checkpoints). This driver stays for what that daemon cannot be made
to produce against moto, or only slowly: ``shardEnded`` (moto never ends a shard), ``leaseLost``
and the KCL 1 ``shutdown`` message, ``ThrottlingException`` and ``ShutdownException`` answers
(the Java SDK retries DynamoDB throttling for tens of seconds before KCL reports it), the
projection's state at the moment of each checkpoint, and a target that keeps failing (the daemon
would exit).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_kinesis_agg.deaggregator import deaggregate_records

from core.model import DocKey
from tests.support.captures import CAPTURE_NAMES, REPO_ROOT
from tests.support.kcl_records import KCL_TABLE_ID, ion_revision
from tests.support.kcl_records import expected_documents as expected_of_user_records
from tests.support.projection_harness import CurrentRow
from tests.support.stream_readback import read_documents
from tests.support.synthetic_stream import Rev, block_summary

TIMEOUT_S = 60

Position = tuple[str | None, int | None]


# --------------------------------------------------------------------------- record builders


class Sequencer:
    """Hands out increasing Kinesis sequence numbers and wraps bytes as daemon records."""

    def __init__(self) -> None:
        self.next = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000

    def records(self, *payloads: bytes, aggregate: bool = False) -> list[dict[str, Any]]:
        """One daemon record per payload; ``aggregate`` gives them one sequence number."""
        out = []
        for sub, payload in enumerate(payloads):
            if not aggregate or sub == 0:
                self.next += 1000
            out.append(
                {
                    "data": base64.b64encode(payload).decode("ascii"),
                    "partitionKey": hashlib.sha256(payload).hexdigest(),
                    "sequenceNumber": str(self.next),
                    "subSequenceNumber": sub if aggregate else 0,
                    "approximateArrivalTimestamp": 1_714_564_800_000 + sub,
                }
            )
        return out


def capture_records(capture_dir: Path) -> list[dict[str, Any]]:
    """Every de-aggregated user record of the real captures, shaped as the daemon sends them."""
    out = []
    for name in CAPTURE_NAMES:
        event = json.loads((capture_dir / name).read_text())
        for user in deaggregate_records(event["Records"]):
            kinesis = user["kinesis"]
            out.append(
                {
                    "data": _text(kinesis["data"]),
                    "partitionKey": kinesis["partitionKey"],
                    "sequenceNumber": kinesis["sequenceNumber"],
                    "subSequenceNumber": int(kinesis["subSequenceNumber"]),
                    "approximateArrivalTimestamp": int(
                        float(kinesis["approximateArrivalTimestamp"]) * 1000
                    ),
                }
            )
    return out


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def expected_documents(batches: list[list[dict[str, Any]]]) -> dict[DocKey, CurrentRow]:
    """Reference current state of every decodable revision in ``batches`` (daemon records)."""
    return expected_of_user_records(
        base64.b64decode(record["data"]) for batch in batches for record in batch
    )


def last_position(batch: list[dict[str, Any]]) -> Position:
    return batch[-1]["sequenceNumber"], batch[-1]["subSequenceNumber"]


# --------------------------------------------------------------------------- the fake daemon


class FakeDaemon:
    """Plays the MultiLangDaemon's side of the protocol against a real child process.

    Every checkpoint request is recorded and answered with the next scripted error (``None`` =
    success); ``on_checkpoint`` runs before the answer, to inspect the targets at that moment.
    """

    def __init__(self, argv: list[str], env: dict[str, str], stderr_path: Path) -> None:
        self._stderr_file = stderr_path.open("w")
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        self._watchdog = threading.Timer(TIMEOUT_S, self.proc.kill)
        self._watchdog.start()
        self.stdout_lines: list[str] = []
        self.checkpoints: list[Position] = []
        self.checkpoint_errors: list[str | None] = []
        self.on_checkpoint: Callable[[Position], None] = lambda _position: None
        self.transcript: list[tuple[str, str]] = []

    def send(self, message: dict[str, Any]) -> bool:
        """Send one message; answer checkpoints until the status reply. False if the child died."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n" + json.dumps(message) + "\n\n")
        self.proc.stdin.flush()
        self.transcript.append(("sent", message["action"]))
        while True:
            reply = self._read()
            if reply is None:
                return False
            if reply["action"] == "checkpoint":
                position = (reply["sequenceNumber"], reply["subSequenceNumber"])
                self.checkpoints.append(position)
                self.transcript.append(("checkpoint", json.dumps(position)))
                self.on_checkpoint(position)
                error = self.checkpoint_errors.pop(0) if self.checkpoint_errors else None
                answer = {"action": "checkpoint", "error": error}
                answer |= {"sequenceNumber": position[0], "subSequenceNumber": position[1]}
                self.proc.stdin.write(json.dumps(answer) + "\n")
                self.proc.stdin.flush()
                continue
            assert reply == {"action": "status", "responseFor": message["action"]}, reply
            self.transcript.append(("status", message["action"]))
            return True

    def _read(self) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return None
            self.stdout_lines.append(line)
            if line.strip():
                parsed: dict[str, Any] = json.loads(line)
                return parsed

    def finish(self) -> int:
        """Close stdin like the daemon does after a shutdown and wait for the exit status."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.stdout_lines.extend(self.proc.stdout.readlines())
        code = self.proc.wait(TIMEOUT_S)
        self._watchdog.cancel()
        self._stderr_file.close()
        return code

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def assert_stdout_is_protocol_only(self) -> None:
        for line in self.stdout_lines:
            if line.strip():
                message = json.loads(line)
                assert message["action"] in ("status", "checkpoint"), line
                assert set(message) <= {
                    "action",
                    "responseFor",
                    "sequenceNumber",
                    "subSequenceNumber",
                }


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., FakeDaemon]]:
    daemons: list[FakeDaemon] = []

    def _start(*extra: str, targets: str | None = None) -> FakeDaemon:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDC_")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["CDC_TARGETS"] = targets or f"sqlite:///{tmp_path / 'db.sqlite'}"
        argv = [sys.executable, "-m", "consumers.kcl_processor"]
        argv += ["--dead-letter-file", str(tmp_path / "dead.jsonl"), *extra]
        daemon = FakeDaemon(argv, env, tmp_path / f"stderr{len(daemons)}.log")
        daemons.append(daemon)
        return daemon

    yield _start
    for daemon in daemons:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        daemon._watchdog.cancel()


def initialize(daemon: FakeDaemon) -> None:
    assert daemon.send(
        {
            "action": "initialize",
            "shardId": "shardId-000000000000",
            "sequenceNumber": "TRIM_HORIZON",
            "subSequenceNumber": 0,
        }
    ), daemon.stderr


def batch_message(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"action": "processRecords", "records": records, "millisBehindLatest": 0}


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- tests


def test_batches_applied_before_each_checkpoint_poison_dead_lettered_shard_end_checkpointed(
    start: Callable[..., FakeDaemon], tmp_path: Path, capture_dir: Path
) -> None:
    seq = Sequencer()
    poison = b"\xe0\x01\x00\xea this is not an Ion value"
    batches = [
        seq.records(ion_revision("a", 0), poison, ion_revision("b", 0), aggregate=True),
        capture_records(capture_dir),
        # out of order and duplicated within and across batches
        seq.records(
            ion_revision("a", 2, kind="delete"),
            ion_revision("a", 1),
            ion_revision("a", 1),
            ion_revision("b", 0, kind="redact"),
            ion_revision("c", 3),
        ),
        seq.records(ion_revision("a", 1), ion_revision("c", 2), aggregate=True),
    ]
    daemon = start()
    sent: list[list[dict[str, Any]]] = []
    snapshots: list[tuple[Position, dict[DocKey, CurrentRow], dict[DocKey, CurrentRow]]] = []

    def at_checkpoint(position: Position) -> None:
        snapshots.append(
            (position, read_documents(tmp_path / "db.sqlite"), expected_documents(sent))
        )

    daemon.on_checkpoint = at_checkpoint
    initialize(daemon)
    for batch in batches:
        sent.append(batch)
        assert daemon.send(batch_message(batch)), daemon.stderr
    assert daemon.send({"action": "shardEnded"}), daemon.stderr
    assert daemon.finish() == 0, daemon.stderr

    assert daemon.checkpoints == [*(last_position(b) for b in batches), (None, None)]
    for position, stored, expected in snapshots[:-1]:
        assert stored == expected, f"state at checkpoint {position} lags the batch"
    final = read_documents(tmp_path / "db.sqlite")
    assert final == expected_documents(batches)
    assert final[DocKey("Person", "a")].deleted is True
    assert final[DocKey("Person", "b")].redacted is True
    assert final[DocKey("Person", "c")].version == 3
    assert {key.table for key in final} >= {"Person", "BicycleLicence", "attestations"}
    letters = dead_letters(tmp_path)
    assert len(letters) == 1
    assert base64.b64decode(letters[0]["rawBase64"]) == poison
    assert letters[0]["sequenceNumber"] == batches[0][1]["sequenceNumber"]
    assert letters[0]["subSequenceNumber"] == 1
    assert letters[0]["shardId"] == "shardId-000000000000"
    assert letters[0]["errorClass"] == "DecodeError"
    daemon.assert_stdout_is_protocol_only()


def test_stream_redactions_are_applied_before_the_checkpoint(
    start: Callable[..., FakeDaemon], tmp_path: Path
) -> None:
    """BLOCK_SUMMARY.redactionInfo through the KCL processor (the shared pipeline): before and
    after the revision it redacts, duplicated, and an unknown table id dead-lettered."""
    seq = Sequencer()
    target = Rev("k", 0)  # redactionInfo names the document, version and table id only
    redaction = block_summary(9000, redacts=[target], table_id=KCL_TABLE_ID)
    unknown = block_summary(9001, redacts=[target], table_id="UnknownTableId00000000")
    batches = [
        seq.records(redaction, ion_revision("z", 0)),  # "z" names the table id
        seq.records(ion_revision("k", 1), ion_revision("k", 0), aggregate=True),
        seq.records(ion_revision("k", 1), redaction, unknown),
    ]
    daemon = start()
    initialize(daemon)
    for batch in batches:
        assert daemon.send(batch_message(batch)), daemon.stderr
    assert daemon.send({"action": "shardEnded"}), daemon.stderr
    assert daemon.finish() == 0, daemon.stderr

    assert daemon.checkpoints == [*(last_position(b) for b in batches), (None, None)]
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        rows = db.execute(
            "SELECT version, redacted, data IS NULL, tx_id FROM revisions"
            " WHERE document_id = 'k' ORDER BY version"
        ).fetchall()
    assert rows == [(0, 1, 1, "txk0"), (1, 0, 0, "txk1")]
    assert read_documents(tmp_path / "db.sqlite")[DocKey("Person", "k")].version == 1
    (letter,) = dead_letters(tmp_path)
    assert base64.b64decode(letter["rawBase64"]) == unknown
    assert letter["errorClass"] == "UnresolvedTableError"
    daemon.assert_stdout_is_protocol_only()


def test_lease_lost_never_checkpoints(start: Callable[..., FakeDaemon], tmp_path: Path) -> None:
    seq = Sequencer()
    batch = seq.records(ion_revision("a", 0), ion_revision("a", 1))
    daemon = start()
    initialize(daemon)
    assert daemon.send(batch_message(batch))
    assert daemon.checkpoints == [last_position(batch)]
    assert daemon.send({"action": "leaseLost"})
    assert daemon.transcript[-2:] == [("sent", "leaseLost"), ("status", "leaseLost")]
    assert daemon.finish() == 0, daemon.stderr
    assert daemon.checkpoints == [last_position(batch)]
    assert read_documents(tmp_path / "db.sqlite")[DocKey("Person", "a")].version == 1
    daemon.assert_stdout_is_protocol_only()


def test_kcl1_zombie_shutdown_never_checkpoints_and_targets_flag_overrides_env(
    start: Callable[..., FakeDaemon], tmp_path: Path
) -> None:
    other = tmp_path / "other.sqlite"
    daemon = start("--targets", f"sqlite:///{other}")
    initialize(daemon)
    assert daemon.send(batch_message(Sequencer().records(ion_revision("z", 0))))
    assert daemon.send({"action": "shutdown", "reason": "ZOMBIE"})
    assert daemon.finish() == 0, daemon.stderr
    assert len(daemon.checkpoints) == 1
    assert DocKey("Person", "z") in read_documents(other)
    assert read_documents(tmp_path / "db.sqlite") == {}


def test_throttled_checkpoint_is_retried(start: Callable[..., FakeDaemon]) -> None:
    batch = Sequencer().records(ion_revision("a", 0))
    daemon = start("--retry-base-seconds", "0.01")
    daemon.checkpoint_errors = ["ThrottlingException", "ThrottlingException", None]
    initialize(daemon)
    assert daemon.send(batch_message(batch))
    assert daemon.checkpoints == [last_position(batch)] * 3
    assert daemon.finish() == 0, daemon.stderr
    assert daemon.stderr.count("ThrottlingException") == 2


def test_checkpoint_still_throttled_is_retaken_at_shutdown_requested(
    start: Callable[..., FakeDaemon],
) -> None:
    batch = Sequencer().records(ion_revision("a", 0), ion_revision("b", 0))
    daemon = start("--checkpoint-attempts", "2", "--retry-base-seconds", "0.01")
    daemon.checkpoint_errors = ["ThrottlingException", "ThrottlingException"]
    initialize(daemon)
    assert daemon.send(batch_message(batch))
    assert daemon.checkpoints == [last_position(batch)] * 2
    assert daemon.send({"action": "shutdownRequested"})
    assert daemon.checkpoints == [last_position(batch)] * 3
    assert daemon.finish() == 0, daemon.stderr


def test_shutdown_exception_stops_batch_checkpoints_but_not_the_shard_end(
    start: Callable[..., FakeDaemon],
) -> None:
    seq = Sequencer()
    daemon = start()
    daemon.checkpoint_errors = ["ShutdownException"]
    initialize(daemon)
    first = seq.records(ion_revision("a", 0))
    assert daemon.send(batch_message(first))
    assert daemon.send(batch_message(seq.records(ion_revision("a", 1))))
    assert daemon.send({"action": "shardEnded"})
    assert daemon.finish() == 0, daemon.stderr
    assert daemon.checkpoints == [last_position(first), (None, None)]


def test_one_invalid_state_exception_does_not_end_checkpointing(
    start: Callable[..., FakeDaemon], tmp_path: Path
) -> None:
    seq = Sequencer()
    batches = [seq.records(ion_revision("a", v), ion_revision("b", v)) for v in range(3)]
    daemon = start("--retry-base-seconds", "0.01")
    daemon.checkpoint_errors = ["InvalidStateException"]
    initialize(daemon)
    for batch in batches:
        assert daemon.send(batch_message(batch)), daemon.stderr
    assert daemon.send({"action": "shardEnded"}), daemon.stderr
    assert daemon.finish() == 0, daemon.stderr
    first, second, third = (last_position(b) for b in batches)
    assert daemon.checkpoints == [first, first, second, third, (None, None)]
    assert daemon.transcript[-3:] == [
        ("sent", "shardEnded"),
        ("checkpoint", json.dumps([None, None])),
        ("status", "shardEnded"),
    ]
    assert daemon.stderr.count("InvalidStateException") == 1
    assert read_documents(tmp_path / "db.sqlite")[DocKey("Person", "b")].version == 2
    daemon.assert_stdout_is_protocol_only()


def test_invalid_state_on_every_attempt_still_checkpoints_the_next_batch_and_shard_end(
    start: Callable[..., FakeDaemon],
) -> None:
    seq = Sequencer()
    first, second = seq.records(ion_revision("a", 0)), seq.records(ion_revision("a", 1))
    daemon = start("--checkpoint-attempts", "2", "--retry-base-seconds", "0.01")
    daemon.checkpoint_errors = ["InvalidStateException", "InvalidStateException"]
    initialize(daemon)
    assert daemon.send(batch_message(first))
    assert daemon.send(batch_message(second))
    assert daemon.send({"action": "shardEnded"})
    assert daemon.finish() == 0, daemon.stderr
    assert daemon.checkpoints == [
        last_position(first),
        last_position(first),
        last_position(second),
        (None, None),
    ]


def test_shard_end_checkpoint_that_keeps_failing_exits_without_status(
    start: Callable[..., FakeDaemon],
) -> None:
    batch = Sequencer().records(ion_revision("a", 0))
    daemon = start("--checkpoint-attempts", "2", "--retry-base-seconds", "0.01")
    initialize(daemon)
    assert daemon.send(batch_message(batch))
    daemon.checkpoint_errors = ["ThrottlingException", "InvalidStateException"]
    assert daemon.send({"action": "shardEnded"}) is False
    assert daemon.finish() == 4, daemon.stderr  # retryable: the daemon restarts, shard end retried
    assert daemon.checkpoints == [last_position(batch), (None, None), (None, None)]
    assert ("status", "shardEnded") not in daemon.transcript
    assert "SHARD_END checkpoint of shard shardId-000000000000 still failing" in daemon.stderr
    daemon.assert_stdout_is_protocol_only()


def test_target_that_keeps_failing_exits_non_zero_without_checkpoint(
    start: Callable[..., FakeDaemon], tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    targets = (
        f"sqlite:///{tmp_path / 'db.sqlite'},"
        f"postgresql://cdc@127.0.0.1:{closed_port}/cdc?connect_timeout=2"
    )
    seq = Sequencer()
    daemon = start("--batch-attempts", "2", "--retry-base-seconds", "0.01", targets=targets)
    initialize(daemon)
    assert daemon.send(batch_message(seq.records(ion_revision("a", 0)))) is False
    code = daemon.finish()
    assert code == 4  # retryable (README: Exit codes)
    assert daemon.checkpoints == []
    assert ("status", "processRecords") not in daemon.transcript
    assert "still failing after 2 attempts" in daemon.stderr
    assert dead_letters(tmp_path) == []
    daemon.assert_stdout_is_protocol_only()


def test_missing_configuration_is_one_line_and_no_protocol_output(
    start: Callable[..., FakeDaemon],
) -> None:
    daemon = start("--batch-attempts", "0")
    assert daemon.finish() == 2
    assert "attempts must be at least 1" in daemon.stderr
    assert "Traceback" not in daemon.stderr
    assert [line for line in daemon.stdout_lines if line.strip()] == []
