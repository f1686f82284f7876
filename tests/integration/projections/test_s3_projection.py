"""S3 projection against a moto server over HTTP: layout, CAS loops, faults, checkpoints."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from core import json_codec
from core.errors import ConfigError, UnstorableChangeError
from core.model import Change, ChangeKind, DocKey
from projections.aws_errors import aws_retry
from projections.s3 import S3Projection, from_uri, parse_object_key
from tests.support.builders import history, make_change
from tests.support.moto_server import (  # noqa: F401 - fixtures
    FaultInjector,
    aws_client,
    aws_env,
    dead_endpoint,
    moto_endpoint,
    unique_name,
)
from tests.support.projection_harness import expected_state, history_row
from tests.support.s3_readback import list_keys, read_json

NO_SLEEP = aws_retry(sleep=lambda _: None)


@pytest.fixture
def bucket(moto_endpoint: str) -> str:  # noqa: F811 - fixture injection
    name = unique_name("s3proj")
    aws_client("s3").create_bucket(Bucket=name)
    return name


def state(client: Any, bucket: str, prefix: str) -> tuple[dict[DocKey, Any], dict[Any, Any]]:
    current: dict[DocKey, Any] = {}
    revisions: dict[Any, Any] = {}
    for key in list_keys(client, bucket, prefix):
        parsed = parse_object_key(key, prefix)
        if parsed is None:
            continue
        body = read_json(client, bucket, key)
        if parsed[0] == "current":
            current[parsed[1]] = (body["version"], body["deleted"], body["redacted"], body["data"])
        else:
            revisions[(parsed[1], parsed[2])] = (body["deleted"], body["redacted"], body["data"])
    return current, revisions


def expected(changes: list[Change]) -> tuple[dict[DocKey, Any], dict[Any, Any]]:
    want_current, want_history = expected_state(changes)
    return (
        {k: (r.version, r.deleted, r.redacted, r.data) for k, r in want_current.items()},
        {k: (r.deleted, r.redacted, r.data) for k, r in want_history.items()},
    )


def test_layout_body_and_metadata(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "/lake/qldb/", retry=NO_SLEEP)
    report = projection.apply(history("doc1", 2))
    assert (report.applied, report.superseded, report.history_written) == (1, 1, 2)
    assert sorted(list_keys(client, bucket)) == [
        "lake/qldb/Person/current/doc1.json",
        "lake/qldb/Person/revisions/doc1/00000000000000000000.json",
        "lake/qldb/Person/revisions/doc1/00000000000000000001.json",
    ]
    body = read_json(client, bucket, "lake/qldb/Person/current/doc1.json")
    change = make_change("doc1", 1)
    assert body == {
        "ledgerTable": "Person",
        "documentId": "doc1",
        "version": 1,
        "deleted": False,
        "redacted": False,
        "data": json_codec.loads(json_codec.dumps(change.data)),
        "txId": change.tx_id,
        "txTime": change.tx_time,
        "revisionHash": change.revision_hash,
        "dataHash": None,
        "blockStrand": change.block.strand_id,
        "blockSeq": change.block.sequence_no,
    }
    raw = client.get_object(Bucket=bucket, Key="lake/qldb/Person/current/doc1.json")
    assert b'"score":1.50' in raw["Body"].read()
    assert raw["Metadata"] == {"version": "1", "deleted": "false", "redacted": "false"}
    assert raw["ContentType"] == "application/json"
    projection.close()


def test_redaction_replaces_revision_and_unredacted_copy_never_overwrites(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "p", retry=NO_SLEEP)
    v0, v1 = history("a", 2)
    red0 = make_change("a", 0, kind=ChangeKind.REDACTION)
    projection.apply([v0, v1])
    report = projection.apply([red0])
    assert (report.stale, report.history_written) == (1, 1)
    report = projection.apply([v0, red0])
    assert (report.applied, report.history_written) == (0, 0)
    key = "p/Person/revisions/a/00000000000000000000.json"
    body = read_json(client, bucket, key)
    assert (body["redacted"], body["data"], body["dataHash"]) == (True, None, red0.data_hash)
    assert state(client, bucket, "p") == expected([v0, v1, red0])
    projection.close()


def test_tombstone_is_an_object(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "", retry=NO_SLEEP)
    changes = history("a", 3, delete_last=True)
    report = projection.apply(changes)
    assert (report.applied, report.tombstones) == (1, 1)
    body = read_json(client, bucket, "Person/current/a.json")
    assert (body["version"], body["deleted"], body["data"]) == (2, True, None)
    assert state(client, bucket, "") == expected(changes)
    projection.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_throttling_5xx_and_lost_responses_lose_nothing(bucket: str, seed: int) -> None:
    client = aws_client("s3")
    faults = FaultInjector(client, rate=0.4, seed=seed)
    projection = S3Projection(
        client, bucket, "f", retry=aws_retry(attempts=2, sleep=lambda _: None), workers=8
    )
    changes = [c for i in range(15) for c in history(f"d{i}", 3, delete_last=i % 4 == 0)]
    changes += [make_change(f"d{i}", v, kind=ChangeKind.REDACTION) for i in (1, 2) for v in (0, 2)]
    delivered = changes + random.Random(seed).sample(changes, 10)
    random.Random(seed).shuffle(delivered)
    failures_seen = 0
    for start in range(0, len(delivered), 12):
        pending = delivered[start : start + 12]
        for _ in range(30):
            report = projection.apply(pending)
            assert all(f.retryable for f in report.failures), report.failures
            counted = report.applied + report.stale + report.superseded + len(report.failures)
            assert counted == report.received == len(pending), report
            failures_seen += len(report.failures)
            pending = [f.change for f in report.failures]
            if not pending:
                break
        assert pending == []
    assert set(faults.injected) == {"throttle", "server_error", "lost_response"}
    assert failures_seen > 0
    faults.enabled = False
    assert state(client, bucket, "f") == expected(changes)
    projection.close()


def test_concurrent_writers_converge_on_the_highest_version(bucket: str) -> None:
    client = aws_client("s3")
    writers = [S3Projection(client, bucket, "race", retry=NO_SLEEP, workers=2) for _ in range(4)]
    changes = [*history("hot", 12), make_change("hot", 11, kind=ChangeKind.REDACTION)]
    random.Random(5).shuffle(changes)
    errors: list[Any] = []

    def run(projection: S3Projection, part: list[Change]) -> None:
        for change in part:
            errors.extend(projection.apply([change]).failures)

    threads = [threading.Thread(target=run, args=(w, changes[i::4])) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    current, revisions = state(client, bucket, "race")
    assert current[DocKey("Person", "hot")][:3] == (11, False, True)
    assert (current, revisions) == expected(changes)
    for writer in writers:
        writer.close()


def test_unreachable_endpoint_gives_retryable_failures() -> None:
    client = aws_client("s3", dead_endpoint(), connect_timeout=1)
    retry = aws_retry(attempts=2, sleep=lambda _: None)
    projection = S3Projection(client, "nowhere", "p", retry=retry)
    changes = history("a", 2) + history("b", 1)
    report = projection.apply(changes)
    assert report.applied == 0
    assert sorted((f.change.key, f.change.version) for f in report.failures) == [
        (c.key, c.version) for c in changes
    ]
    assert all(f.retryable and not f.poison for f in report.failures)
    projection.close()


def test_missing_bucket_is_retryable(moto_endpoint: str) -> None:  # noqa: F811
    projection = S3Projection(aws_client("s3"), unique_name("missing"), retry=NO_SLEEP)
    report = projection.apply(history("a", 1))
    assert [f.retryable for f in report.failures] == [True]
    projection.close()


def test_checkpoints_round_trip(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "cp", retry=NO_SLEEP)
    keys = {"ledger/2024/obj 1.ion", "ledger/ü/+&?.ion", "x"}
    for key in keys:
        projection.mark_object_complete("exp1", key)
    projection.mark_object_complete("exp1", "x")
    projection.mark_object_complete("exp2", "y")
    assert projection.completed_objects("exp1") == keys
    assert projection.completed_objects("exp2") == {"y"}
    assert projection.completed_objects("none") == set()
    assert all(k.startswith("cp/_checkpoints/") for k in list_keys(client, bucket))
    projection.close()


def test_history_rows_match_reference_for_redacted_revision(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "h", retry=NO_SLEEP)
    red = make_change("z", 0, kind=ChangeKind.REDACTION)
    projection.apply([red, make_change("z", 0)])
    _, revisions = state(client, bucket, "h")
    row = history_row(red)
    assert revisions[(DocKey("Person", "z"), 0)] == (row.deleted, row.redacted, row.data)
    projection.close()


def test_parse_object_key() -> None:
    assert parse_object_key("p/T/current/d.json", "p") == ("current", DocKey("T", "d"), None)
    assert parse_object_key("T/revisions/d/00000000000000000007.json") == (
        "revisions",
        DocKey("T", "d"),
        7,
    )
    assert parse_object_key("p/_checkpoints/e/abc", "p") is None


def test_from_uri(aws_env: str) -> None:  # noqa: F811
    name = unique_name("uri")
    aws_client("s3").create_bucket(Bucket=name)
    projection = from_uri(f"s3://{name}/a/b")
    assert projection.name == "s3"
    assert projection.apply(history("a", 1)).applied == 1
    assert list_keys(aws_client("s3"), name, "a/b/Person/current/") == ["a/b/Person/current/a.json"]
    projection.close()
    for bad in ("s3:///nobucket", f"s3://{name}/p?x=1", "gs://b/p"):
        with pytest.raises(ConfigError):
            from_uri(bad)
    for prefix in ("a/../b", "a//b", "./a", "a/..", "p" * 600):
        with pytest.raises(ConfigError, match="S3 prefix") as raised:
            from_uri(f"s3://{name}/{prefix}")
        assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("table", "doc_id", "reason"),
    [
        ("", "doc", "table name is empty"),
        ("Person", "", "document id is empty"),
        ("Person", "d" * 980, "longer than S3's 1024"),
        ("T" * 500, "é" * 260, "longer than S3's 1024"),
    ],
)
def test_empty_names_and_keys_over_1024_bytes_are_poison(
    bucket: str, table: str, doc_id: str, reason: str
) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "p", retry=NO_SLEEP)
    bad, good = make_change(doc_id, 0, table=table), make_change("good", 0)
    report = projection.apply([bad, good])
    assert report.applied == 1
    (failure,) = report.failures
    assert failure.change == bad
    assert failure.poison
    assert isinstance(failure.error, UnstorableChangeError)
    assert reason in str(failure.error)
    assert list_keys(client, bucket) == [
        "p/Person/current/good.json",
        "p/Person/revisions/good/00000000000000000000.json",
    ]
    projection.close()


def fail_revision_puts(client: Any, doc_id: str) -> None:
    """Make every PutObject of ``doc_id``'s revision objects fail with HTTP 500."""

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if f"/revisions/{doc_id}/" not in request.url:
            return None
        body = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
        headers: Any = {"Content-Type": "application/xml"}
        return AWSResponse(request.url, 500, headers, _Raw(body))

    client.meta.events.register("before-send.s3.PutObject", before_send)


def test_a_failed_revision_write_fails_its_change_once_and_skips_the_current_object(
    bucket: str,
) -> None:
    client = aws_client("s3")
    fail_revision_puts(client, "a")
    projection = S3Projection(client, bucket, "rf", retry=aws_retry(attempts=1))
    a0, a1, b0 = make_change("a", 0), make_change("a", 1), make_change("b", 0)
    report = projection.apply([a0, a1, b0, b0])
    assert sorted((f.change.key.doc_id, f.change.version) for f in report.failures) == [
        ("a", 0),
        ("a", 1),
    ]
    assert all(f.retryable for f in report.failures)
    # b0 applied, its duplicate superseded; a0 and a1 only failed (neither applied nor superseded).
    assert (report.applied, report.stale, report.superseded) == (1, 0, 1)
    assert report.applied + report.stale + report.superseded + len(report.failures) == 4
    current, revisions = state(client, bucket, "rf")
    assert set(current) == {DocKey("Person", "b")}
    assert set(revisions) == {(DocKey("Person", "b"), 0)}
    projection.close()


def test_from_uri_with_an_unknown_profile_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(ConfigError, match="no-such-profile") as raised:
        from_uri("s3://bucket/prefix")
    assert "s3://bucket/prefix" in str(raised.value)


class _Raw:
    """The ``raw`` body botocore's ``AWSResponse`` streams from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body
