"""Documents above 400 KB: S3 offload, content addressing and hash verification (moto server)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from core import json_codec
from core.errors import ConfigError, VerificationError
from projections.aws_errors import aws_retry
from projections.dynamodb import DynamoDbProjection, read_document
from projections.large_documents import (
    DocumentRef,
    OffloadedDocumentCorruptError,
    OverflowLocation,
    encode,
    fetch,
    offload,
)
from tests.support.builders import make_change
from tests.support.moto_server import aws_client, moto_endpoint, unique_name  # noqa: F401 - fixture

Setup = tuple[DynamoDbProjection, Any, Any, str]
BIG = {"payload": "é" * 230_000, "price": Decimal("1.50"), "n": 1}


@pytest.fixture
def setup(moto_endpoint: str) -> Iterator[Setup]:  # noqa: F811
    dynamodb, s3 = aws_client("dynamodb"), aws_client("s3")
    table, bucket = unique_name("big"), unique_name("overflow")
    s3.create_bucket(Bucket=bucket)
    projection = DynamoDbProjection(
        dynamodb,
        table,
        s3_client=s3,
        overflow=OverflowLocation(bucket, "docs/big"),
        retry=aws_retry(sleep=lambda _: None),
    )
    projection.ensure_table()
    yield projection, dynamodb, s3, table
    projection.close()
    dynamodb.delete_table(TableName=table)
    dynamodb.delete_table(TableName=projection.checkpoint_table)


def test_big_document_round_trip_through_s3(
    setup: Setup,
) -> None:
    projection, dynamodb, s3, table = setup
    report = projection.apply([make_change("big", 0, data=BIG), make_change("small", 0)])
    assert (report.applied, report.failures) == (2, [])
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "big"}})["Item"]
    assert "data" not in item
    ref = DocumentRef.from_attribute(item["dataRef"])
    body = encode(BIG)
    assert ref.sha256 == hashlib.sha256(body).hexdigest()
    assert ref.key == f"docs/big/{ref.sha256}.json"
    assert ref.size == len(body)
    stored = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
    assert stored == body
    document = read_document(item, s3)
    assert document == BIG
    assert str(document["price"]) == "1.50"
    small = dynamodb.get_item(TableName=table, Key={"pk": {"S": "small"}})["Item"]
    assert "dataRef" not in small
    assert read_document(small, s3) == json_codec.loads(json_codec.dumps(make_change("small").data))


def test_tampered_offloaded_document_fails_verification(
    setup: Setup,
) -> None:
    projection, dynamodb, s3, table = setup
    projection.apply([make_change("big", 0, data=BIG)])
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "big"}})["Item"]
    ref = DocumentRef.from_attribute(item["dataRef"])
    tampered = encode({**BIG, "n": 2})
    s3.put_object(Bucket=ref.bucket, Key=ref.key, Body=tampered)
    with pytest.raises(OffloadedDocumentCorruptError, match=ref.sha256) as info:
        read_document(item, s3)
    assert isinstance(info.value, VerificationError)


def test_offload_is_idempotent_and_content_addressed(moto_endpoint: str) -> None:  # noqa: F811
    s3 = aws_client("s3")
    bucket = unique_name("cas")
    s3.create_bucket(Bucket=bucket)
    location = OverflowLocation.parse(f"s3://{bucket}/p/q/")
    first = offload(s3, location, encode(BIG))
    second = offload(s3, location, encode(BIG))  # HTTP 412 inside: already stored
    assert first == second
    other = offload(s3, location, encode({**BIG, "n": 3}))
    assert other.key != first.key
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == sorted([first.key, other.key])
    assert fetch(s3, first) == BIG


def test_newer_big_version_replaces_older_and_stale_big_change_is_counted(
    setup: Setup,
) -> None:
    projection, dynamodb, s3, table = setup
    v1 = make_change("big", 1, data={**BIG, "n": 2})
    assert projection.apply([v1]).applied == 1
    assert projection.apply([make_change("big", 0, data=BIG)]).stale == 1
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "big"}})["Item"]
    assert read_document(item, s3) == {**BIG, "n": 2}


def test_overflow_location_parsing() -> None:
    assert OverflowLocation.parse("s3://b/x/y/") == OverflowLocation("b", "x/y")
    assert OverflowLocation("b").key_for("ab") == "ab.json"
    with pytest.raises(ConfigError):
        OverflowLocation.parse("https://b/x")
    with pytest.raises(OffloadedDocumentCorruptError):
        DocumentRef.from_attribute({"M": {"bucket": {"S": "b"}}})
