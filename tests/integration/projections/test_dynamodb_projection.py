"""DynamoDB projection against a moto server over HTTP: conditions, faults, checkpoints, URIs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import (
    ConfigError,
    PoisonError,
    RetryableError,
    ThrottledError,
    UnstorableChangeError,
)
from core.model import Change, ChangeKind, DocKey
from projections.aws_errors import aws_retry
from projections.dynamodb import (
    GSI_NAME,
    DynamoDbProjection,
    change_item,
    checkpoint_table_name,
    from_uri,
)
from tests.support.builders import history, make_change
from tests.support.dynamodb_readback import item_row, scan_all
from tests.support.moto_server import (  # noqa: F401 - fixtures
    FaultInjector,
    aws_client,
    aws_env,
    dead_endpoint,
    moto_endpoint,
    unique_name,
)
from tests.support.projection_harness import expected_state

NO_SLEEP = aws_retry(sleep=lambda _: None)


@pytest.fixture
def table(moto_endpoint: str) -> Iterator[str]:  # noqa: F811 - fixture injection
    name = unique_name("ddb")
    projection = DynamoDbProjection(aws_client("dynamodb"), name)
    projection.ensure_table()
    projection.close()
    yield name
    aws_client("dynamodb").delete_table(TableName=name)
    aws_client("dynamodb").delete_table(TableName=checkpoint_table_name(name))


def current(client: Any, table: str) -> dict[DocKey, Any]:
    return {
        DocKey(item["ledgerTable"]["S"], item["pk"]["S"]): item_row(item, None)
        for item in scan_all(client, table)
    }


def apply_until_done(projection: DynamoDbProjection, changes: list[Change]) -> int:
    """Apply, then re-apply only the failures (all must be retryable); return the rounds used."""
    pending = changes
    for rounds in range(1, 30):
        report = projection.apply(pending)
        assert all(f.retryable for f in report.failures), report.failures
        pending = [f.change for f in report.failures]
        if not pending:
            return rounds
    pytest.fail(f"{len(pending)} changes still failing after 30 rounds")


def test_table_schema_and_gsi(table: str) -> None:
    described = aws_client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (gsi,) = described["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == GSI_NAME
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["ledgerTable", "pk"]


def test_equal_version_only_a_redaction_wins(table: str) -> None:
    client = aws_client("dynamodb")
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    v1 = make_change("a", 1)
    red1 = make_change("a", 1, kind=ChangeKind.REDACTION)
    assert projection.apply([v1]).applied == 1
    assert projection.apply([v1]).stale == 1
    report = projection.apply([red1])
    assert (report.applied, report.redactions) == (1, 1)
    assert projection.apply([red1]).stale == 1
    assert projection.apply([v1]).stale == 1
    row = current(client, table)[DocKey("Person", "a")]
    assert (row.version, row.redacted, row.data) == (1, True, None)
    item = client.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]
    assert item["dataHash"] == {"S": red1.data_hash}
    assert (item["blockStrand"]["S"], item["blockSeq"]["N"]) == (
        red1.block.strand_id,
        str(red1.block.sequence_no),
    )
    projection.close()


def test_redaction_of_an_older_version_is_stale(table: str) -> None:
    projection = DynamoDbProjection(aws_client("dynamodb"), table, retry=NO_SLEEP)
    projection.apply(history("a", 3))
    report = projection.apply([make_change("a", 1, kind=ChangeKind.REDACTION)])
    assert (report.applied, report.stale) == (0, 1)
    projection.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_throttling_5xx_and_lost_responses_lose_nothing(table: str, seed: int) -> None:
    client = aws_client("dynamodb")
    faults = FaultInjector(client, rate=0.5, seed=seed, operations=frozenset({"PutItem"}))
    projection = DynamoDbProjection(
        client, table, retry=aws_retry(attempts=2, sleep=lambda _: None), workers=8
    )
    changes = [c for i in range(25) for c in history(f"d{i}", 3, delete_last=i % 4 == 0)]
    changes += [make_change(f"d{i}", 1, kind=ChangeKind.REDACTION) for i in range(0, 25, 5)]
    delivered = changes + random.Random(seed).sample(changes, 20)
    random.Random(seed).shuffle(delivered)
    rounds = sum(apply_until_done(projection, delivered[i : i + 20]) for i in range(0, 100, 20))
    assert sum(faults.injected.values()) > 0
    assert set(faults.injected) == {"throttle", "server_error", "lost_response"}
    assert rounds > 5  # some batches needed a second round: failures were reported, not hidden
    faults.enabled = False
    want, _ = expected_state(changes)
    assert current(client, table) == want
    projection.close()


def test_throttling_that_outlasts_the_retries_is_a_throttled_failure(table: str) -> None:
    client = aws_client("dynamodb")
    faults = FaultInjector(client, rate=1.0, kinds=("throttle",))
    projection = DynamoDbProjection(
        client, table, retry=aws_retry(attempts=3, sleep=lambda _: None)
    )
    changes = history("a", 1) + history("b", 1)
    report = projection.apply(changes)
    assert report.applied == 0
    assert sorted(f.change.key.doc_id for f in report.failures) == ["a", "b"]
    assert all(type(f.error).__name__ == "ThrottledError" and f.retryable for f in report.failures)
    assert faults.injected["throttle"] == 6  # 3 attempts x 2 changes
    faults.enabled = False
    assert projection.apply([f.change for f in report.failures]).applied == 2
    projection.close()


def test_validation_exception_poisons_only_that_change(table: str) -> None:
    client = aws_client("dynamodb")
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    bad = make_change("", 0)  # an empty key attribute: DynamoDB answers ValidationException
    good = make_change("fine", 0)
    report = projection.apply([bad, good])
    assert report.applied == 1
    (failure,) = report.failures
    assert failure.change is bad
    assert failure.poison
    assert "ValidationException" in str(failure.error)
    assert DocKey("Person", "fine") in current(client, table)
    projection.close()


def test_nan_and_oversize_without_overflow_poison_only_that_change(table: str) -> None:
    client = aws_client("dynamodb")
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    nan = make_change("nan", 0, data={"x": float("nan")})
    big = make_change("big", 0, data={"payload": "x" * 450_000})
    good = make_change("ok", 0)
    report = projection.apply([nan, big, good])
    assert report.applied == 1
    failed = {f.change.key.doc_id: f.error for f in report.failures}
    assert set(failed) == {"nan", "big"}
    assert all(isinstance(e, UnstorableChangeError) for e in failed.values())
    assert "400 KB" in str(failed["big"])
    assert set(current(client, table)) == {DocKey("Person", "ok")}
    projection.close()


def test_unreachable_endpoint_gives_retryable_failures() -> None:
    client = aws_client("dynamodb", dead_endpoint(), connect_timeout=1)
    projection = DynamoDbProjection(
        client, "nowhere", retry=aws_retry(attempts=2, sleep=lambda _: None)
    )
    report = projection.apply(history("a", 2) + history("b", 1))
    assert report.applied == 0
    assert len(report.failures) == 2
    assert all(f.retryable and not f.poison for f in report.failures)
    assert "unreachable" in str(report.failures[0].error)
    projection.close()


def test_missing_table_is_retryable_not_poison(moto_endpoint: str) -> None:  # noqa: F811
    projection = DynamoDbProjection(aws_client("dynamodb"), unique_name("missing"), retry=NO_SLEEP)
    report = projection.apply(history("a", 1))
    (failure,) = report.failures
    assert isinstance(failure.error, RetryableError)
    assert "ResourceNotFoundException" in str(failure.error)
    projection.close()


def test_checkpoints_live_in_their_own_table_read_by_query(table: str) -> None:
    client = aws_client("dynamodb")
    operations: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    assert projection.checkpoint_table == f"{table}-checkpoints"
    described = client.describe_table(TableName=projection.checkpoint_table)["Table"]
    assert described["KeySchema"] == [
        {"AttributeName": "exportId", "KeyType": "HASH"},
        {"AttributeName": "objectKey", "KeyType": "RANGE"},
    ]
    projection.apply(history("a", 1, table="Car") + history("b", 1, table="Person"))
    projection.mark_object_complete("exp1", "ledger/2024/obj-1.ion")
    projection.mark_object_complete("exp1", "ledger/2024/obj-2.ion")
    projection.mark_object_complete("exp1", "ledger/2024/obj-2.ion")
    projection.mark_object_complete("exp2", "other.ion")
    assert projection.completed_objects("exp1") == {
        "ledger/2024/obj-1.ion",
        "ledger/2024/obj-2.ion",
    }
    assert projection.completed_objects("exp2") == {"other.ion"}
    assert projection.completed_objects("nope") == set()
    assert "Scan" not in operations
    assert operations.count("Query") == 3
    assert [item["pk"]["S"] for item in scan_all(client, table)] in (["a", "b"], ["b", "a"])
    page = client.query(
        TableName=table,
        IndexName=GSI_NAME,
        KeyConditionExpression="ledgerTable = :t",
        ExpressionAttributeValues={":t": {"S": "Car"}},
    )
    assert [item["pk"]["S"] for item in page["Items"]] == ["a"]
    projection.close()


_names = st.text(
    st.one_of(st.sampled_from("#checkpoint/."), st.characters(blacklist_categories=["Cs"])),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(export_id=_names, object_key=_names, suffix=_names)
def test_no_document_id_is_ever_read_as_a_checkpoint(
    table: str, export_id: str, object_key: str, suffix: str
) -> None:
    # Any id, including one spelled like the checkpoint items of older releases.
    client = aws_client("dynamodb")
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    marked = projection.completed_objects(export_id)
    doc_ids = [f"#checkpoint#{export_id}#{suffix}", export_id, object_key]
    changes = [make_change(doc_id, 0) for doc_id in dict.fromkeys(doc_ids)]
    assert projection.apply(changes).failures == []
    assert projection.completed_objects(export_id) == marked
    projection.mark_object_complete(export_id, object_key)
    assert projection.completed_objects(export_id) == marked | {object_key}
    assert {k.doc_id for k in current(client, table)} >= set(doc_ids)
    assert checkpoint_table_name(table) != table
    projection.close()


def test_from_uri_creates_the_table_and_rejects_bad_uris(aws_env: str) -> None:  # noqa: F811
    name = unique_name("uri")
    bucket = unique_name("uri-overflow")
    aws_client("s3").create_bucket(Bucket=bucket)
    projection = from_uri(f"dynamodb://{name}?create=true&overflow=s3://{bucket}/big")
    assert projection.name == "dynamodb"
    assert projection.apply(history("a", 1)).applied == 1
    assert aws_client("dynamodb").describe_table(TableName=name)["Table"]["TableName"] == name
    checkpoints = aws_client("dynamodb").describe_table(TableName=f"{name}-checkpoints")
    assert checkpoints["Table"]["TableStatus"] == "ACTIVE"
    projection.close()
    too_long = "t" * 244  # a valid table name whose <name>-checkpoints is 256 characters
    for bad in (
        f"dynamodb://{name}?bogus=1",
        "dynamodb:///path",
        f"dynamodb://{name}?overflow=x",
        f"dynamodb://{too_long}",
    ):
        with pytest.raises(ConfigError):
            from_uri(bad)


def test_poison_errors_are_never_raised_out_of_apply(table: str) -> None:
    projection = DynamoDbProjection(aws_client("dynamodb"), table, retry=NO_SLEEP)
    report = projection.apply([make_change("x", 0, data={"deep": float("inf")})])
    assert isinstance(report.failures[0].error, PoisonError)
    projection.close()


def test_a_redaction_wins_over_an_item_without_a_redacted_attribute(table: str) -> None:
    # Items written by an older version or another tool may lack the ``redacted`` flag.
    client = aws_client("dynamodb")
    item = change_item(make_change("a", 1))
    del item["redacted"]
    client.put_item(TableName=table, Item=item)
    projection = DynamoDbProjection(client, table, retry=NO_SLEEP)
    assert projection.apply([make_change("a", 1)]).stale == 1
    report = projection.apply([make_change("a", 1, kind=ChangeKind.REDACTION)])
    assert (report.applied, report.redactions, report.stale) == (1, 1, 0)
    stored = client.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)
    assert stored["Item"]["redacted"] == {"BOOL": True}
    assert "data" not in stored["Item"]
    projection.close()


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS region, profile or credentials anywhere (env, files, instance metadata)."""
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_from_uri_without_a_region_is_a_one_line_config_error(no_aws_config: None) -> None:
    with pytest.raises(ConfigError, match="region") as raised:
        from_uri("dynamodb://Table")
    assert "\n" not in str(raised.value)
    assert "dynamodb://Table" in str(raised.value)


def test_from_uri_with_an_unknown_profile_or_partial_credentials_is_a_config_error(
    no_aws_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY"):
        from_uri("dynamodb://Table")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ConfigError, match="no-such-profile"):
        from_uri("dynamodb://Table?overflow=s3://bucket/big")


def test_creating_the_table_without_credentials_is_a_config_error(
    no_aws_config: None,
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,  # noqa: F811
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    with pytest.raises(ConfigError, match="credentials"):
        from_uri(f"dynamodb://{unique_name('nocreds')}?create=true")


def test_a_waiter_that_stops_on_an_error_is_classified(moto_endpoint: str) -> None:  # noqa: F811
    client = aws_client("dynamodb")
    calls: list[str] = []

    def throttle_the_waiter(request: Any, **_: Any) -> AWSResponse | None:
        # The first DescribeTable (table missing) and CreateTable reach moto; the waiter's
        # DescribeTable is throttled, so the waiter stops on an error response.
        calls.append(request.headers["X-Amz-Target"].decode())
        if calls.count("DynamoDB_20120810.DescribeTable") < 2:
            return None
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        headers: Any = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    client.meta.events.register("before-send.dynamodb.DescribeTable", throttle_the_waiter)
    name = unique_name("waiter")
    projection = DynamoDbProjection(client, name, retry=NO_SLEEP)
    with pytest.raises(ThrottledError, match="ThrottlingException"):
        projection.ensure_table()
    projection.close()
    aws_client("dynamodb").delete_table(TableName=name)


class _Raw:
    """The ``raw`` body botocore's ``AWSResponse`` streams from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body
