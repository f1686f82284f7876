"""The KCL processor under the real MultiLangDaemon (KCL 3.1.3), against a moto server.

One application (a one-shard stream, its lease table, one SQLite projection) for the module;
the scenarios run in order and share it, so the daemon's start-up (about 35 s) is paid twice: at
the start and after the crash of ``test_restart_after_a_crash_resumes_from_the_checkpoint``.
Every scenario waits until the lease table holds the checkpoint of the last record it put, then
compares the projection with the in-order application of everything put so far.
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

from core.model import DocKey
from tests.support.captures import CAPTURE_NAMES
from tests.support.kcl_daemon import DUMMY_KEY, REGION, Daemon, DaemonConfig, Lease, leases
from tests.support.kcl_records import expected_documents, ion_revision, read_documents
from tests.support.moto_server import unique_name

SHARD = "shardId-000000000000"


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
