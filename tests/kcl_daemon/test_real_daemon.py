"""The KCL processor under the real MultiLangDaemon (KCL 3.1.3), against a moto server.

One application (a one-shard stream, its lease table, one SQLite projection) for the module;
the scenarios run in file order and share it, so the daemon's start-up is paid twice: about
35 s at the start, about 15 s for the restart of
``test_restart_resumes_from_the_stored_checkpoint``. Every scenario waits until the lease table
holds the checkpoint of the last record it put, then compares the projection with the in-order
application of everything put so far.

A restart after a crash (SIGKILL) is not run: KCL 3's leader lock of the dead worker (in the
coordinator-state table) expires only after about 2 minutes, during which no worker assigns the
dead worker's lease. Resharding is not run either: moto's ``SplitShard``/``MergeShards`` move
the parent's records into the children and its ``GetRecords`` never ends a closed shard (no
null ``NextShardIterator``, no ``ChildShards``), so KCL never sees a shard end;
tests/functional/test_kcl_processor.py drives ``shardEnded`` with the protocol driver instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records

from consumers.kcl_processor import ProcessorConfig
from core.model import DocKey
from tests.support.captures import CAPTURE_NAMES
from tests.support.kcl_daemon import DUMMY_KEY, REGION, Daemon, DaemonConfig, Lease, leases
from tests.support.kcl_records import expected_documents, ion_revision
from tests.support.moto_http2_server import checkpoint_faults, fail_checkpoints
from tests.support.moto_server import unique_name
from tests.support.stream_readback import read_documents

SHARD = "shardId-000000000000"
CHECKPOINT_ATTEMPTS = ProcessorConfig().checkpoint_backoff.attempts
"""The processor's ``--checkpoint-attempts`` default (the tests do not pass the flag)."""
CHECKPOINT_ERROR = "InvalidStateException"
"""What the daemon (KCL 3.1.3) answers a checkpoint whose DynamoDB write got
ResourceNotFoundException (observed; the lease table "is missing")."""
SIGTERM_EXIT = 143
"""The JVM's exit status after its shutdown hooks ran for SIGTERM (128 + 15)."""


def _client(service: str, endpoint: str) -> Any:
    make_client: Any = boto3.client
    return make_client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
    )


@dataclass
class Application:
    """The module's KCL application and everything put into its stream so far."""

    config: DaemonConfig
    kinesis: Any
    dynamodb: Any
    daemons: list[Daemon] = field(default_factory=list)
    user_records: list[bytes] = field(default_factory=list)
    """Every user record put, in order (aggregated ones de-aggregated)."""

    @property
    def daemon(self) -> Daemon:
        return self.daemons[-1]

    def start(self) -> Daemon:
        self.daemons.append(Daemon(self.config, f"daemon-{len(self.daemons) + 1}"))
        return self.daemon

    def put(self, data: bytes, key: str = "pk") -> str:
        """Put one plain record; its sequence number."""
        self.user_records.append(data)
        sequence: str = self.kinesis.put_record(
            StreamName=self.config.stream, Data=data, PartitionKey=key
        )["SequenceNumber"]
        return sequence

    def put_aggregated(self, *payloads: bytes) -> str:
        """Put one KPL-aggregated record of ``payloads``; its sequence number."""
        aggregator = RecordAggregator()
        for index, payload in enumerate(payloads):
            assert aggregator.add_user_record(f"pk{index}", payload) is None
        key, _hash_key, data = aggregator.clear_and_get().get_contents()
        sequence = self.put(data, key)
        self.user_records[-1:] = list(payloads)
        return sequence

    def put_capture(self, capture: Path) -> str:
        """Put the (KPL-aggregated) records of one real capture as they were; the last sequence."""
        sequence = ""
        for record in json.loads(capture.read_text())["Records"]:
            kinesis = record["kinesis"]
            sequence = self.put(base64.b64decode(kinesis["data"]), kinesis["partitionKey"])
            self.user_records[-1:] = [
                base64.b64decode(user["kinesis"]["data"]) for user in deaggregate_records([record])
            ]
        return sequence

    def lease(self) -> Lease | None:
        return leases(self.dynamodb, self.config.application).get(SHARD)

    def wait_for_checkpoint(self, sequence: str, sub: int = 0, timeout: float = 150.0) -> Lease:
        """Wait until the lease table stores exactly ``(sequence, sub)``."""

        def probe() -> Lease | None:
            lease = self.lease()
            if lease and (lease.checkpoint, lease.sub_sequence_number) == (sequence, sub):
                return lease
            return None

        return self.daemon.wait_for(f"checkpoint {sequence}/{sub}", probe, timeout)

    def dead_letters(self) -> list[dict[str, Any]]:
        path = self.config.dead_letter_file
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def app(moto_http2: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Application]:
    """A one-shard stream and a started daemon for it (stopped, killed if need be, at the end)."""
    config = DaemonConfig(
        endpoint=moto_http2,
        stream=unique_name("kcl-stream"),
        application=unique_name("kcl-app"),
        workdir=tmp_path_factory.mktemp("kcl-app"),
    )
    kinesis = _client("kinesis", moto_http2)
    kinesis.create_stream(StreamName=config.stream, ShardCount=1)
    application = Application(config, kinesis, _client("dynamodb", moto_http2))
    application.start()
    yield application
    for daemon in application.daemons:
        daemon.kill()


def test_duplicated_out_of_order_aggregated_records_project_in_order(
    app: Application, capture_dir: Path
) -> None:
    app.put(ion_revision("a", 2, kind="delete"))
    app.put(ion_revision("a", 1))
    app.put(ion_revision("a", 1))
    app.put_aggregated(ion_revision("b", 0), ion_revision("c", 3), ion_revision("a", 0))
    for name in CAPTURE_NAMES:
        app.put_capture(capture_dir / name)
    app.put_aggregated(ion_revision("c", 2), ion_revision("b", 0, kind="redact"))
    last = app.put(ion_revision("b", 0))

    lease = app.wait_for_checkpoint(last)

    assert lease.owner is not None
    final = read_documents(app.config.database)
    assert final == expected_documents(app.user_records)
    assert final[DocKey("Person", "a")].deleted is True
    assert final[DocKey("Person", "b")].redacted is True
    assert final[DocKey("Person", "c")].version == 3
    assert {key.table for key in final} >= {"Person", "BicycleLicence", "attestations"}
    assert app.dead_letters() == []


def test_poison_is_dead_lettered_once_and_the_checkpoint_moves_past_it(app: Application) -> None:
    poison = b"\xe0\x01\x00\xea this is not an Ion value"
    poison_sequence = app.put(poison)
    last = app.put(ion_revision("d", 0))

    app.wait_for_checkpoint(last)

    assert read_documents(app.config.database) == expected_documents(app.user_records)
    (letter,) = app.dead_letters()
    assert base64.b64decode(letter["rawBase64"]) == poison
    assert letter["sequenceNumber"] == poison_sequence
    assert letter["shardId"] == SHARD
    assert letter["errorClass"] == "DecodeError"


def test_restart_resumes_from_the_stored_checkpoint(app: Application) -> None:
    """Stopped (SIGTERM, as a supervisor restarts it), records put meanwhile, started again."""
    stored = app.lease()
    assert stored is not None
    assert app.daemon.terminate() == SIGTERM_EXIT
    app.put(ion_revision("e", 0))
    app.put_aggregated(ion_revision("e", 1), ion_revision("a", 3))
    last = app.put(ion_revision("d", 1))

    restarted = app.start()
    lease = app.wait_for_checkpoint(last)

    assert lease.owner != stored.owner
    assert read_documents(app.config.database) == expected_documents(app.user_records)
    position = f"{stored.checkpoint}/{stored.sub_sequence_number}"
    assert f"initialize shard {SHARD} at {position}" in restarted.log()
    assert len(app.dead_letters()) == 1  # the poison before the checkpoint is not read again


def test_checkpoint_errors_are_retried_then_left_for_the_next_batch(app: Application) -> None:
    """Real DynamoDB errors on the daemon's checkpoint writes (``fail_checkpoints``)."""
    endpoint, table = app.config.endpoint, app.config.application
    # transient: the first two attempts fail, the third stores the position
    fail_checkpoints(endpoint, table, 2)
    first = app.put(ion_revision("g", 0))
    app.wait_for_checkpoint(first)
    assert checkpoint_faults(endpoint) == {"armed": 0, "answered": 2}
    log = app.daemon.log()
    for attempt in (1, 2):
        assert f"checkpoint at {first}/0: {CHECKPOINT_ERROR} (attempt {attempt}/" in log
    # persistent: every attempt fails; the batch stays applied, the position is left for later
    fail_checkpoints(endpoint, table, CHECKPOINT_ATTEMPTS)
    second = app.put(ion_revision("g", 1))
    app.daemon.wait_for(
        "the checkpoint left for later",
        lambda: f"checkpoint at {second} left for later" in app.daemon.log(),
    )
    assert checkpoint_faults(endpoint) == {"armed": 0, "answered": 2 + CHECKPOINT_ATTEMPTS}
    lease = app.lease()
    assert lease is not None
    assert lease.checkpoint == first
    assert read_documents(app.config.database) == expected_documents(app.user_records)
    # ... and the next batch checkpoints as usual
    third = app.put(ion_revision("h", 0))
    app.wait_for_checkpoint(third)
    assert read_documents(app.config.database) == expected_documents(app.user_records)


def test_sigterm_requests_shutdown_then_ends_the_lease(app: Application) -> None:
    """What the daemon does on SIGTERM with the shipped ``shutdownGraceMillis``; the last
    applied batch, whose own checkpoint failed, is checkpointed on ``shutdownRequested``."""
    stored = app.lease()
    assert stored is not None
    fail_checkpoints(app.config.endpoint, app.config.application, CHECKPOINT_ATTEMPTS)
    last = app.put(ion_revision("f", 0))
    daemon = app.daemon
    daemon.wait_for(
        "the checkpoint left for later",
        lambda: f"checkpoint at {last} left for later" in daemon.log(),
    )
    lagging = app.lease()
    assert lagging is not None
    assert (lagging.checkpoint, lagging.sub_sequence_number) == (
        stored.checkpoint,
        stored.sub_sequence_number,
    )
    offset = len(daemon.log())

    assert daemon.terminate() == SIGTERM_EXIT

    shutdown_log = daemon.log()[offset:]
    expected_in_order = [
        "Process terminated, will initiate shutdown.",
        "Writing ShutdownRequestedMessage to child process",
        f"shutdown requested: checkpointing ('{last}', 0)",
        'Received response {"action":"status","responseFor":"shutdownRequested"}',
        "Writing LeaseLostMessage to child process",
        f"lease lost for shard {SHARD}: not checkpointing",
        "Child process exited with value: 0",
        "Process shutdown is complete.",
    ]
    positions = [shutdown_log.find(line) for line in expected_in_order]
    assert -1 not in positions, dict(zip(expected_in_order, positions, strict=True))
    assert positions == sorted(positions)
    assert "Encountered an error during shutdown" not in shutdown_log
    lease = app.lease()
    assert lease is not None
    assert (lease.checkpoint, lease.sub_sequence_number) == (last, 0)
    assert read_documents(app.config.database) == expected_documents(app.user_records)
