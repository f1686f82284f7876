"""The DynamoDB projection under the contract suite, against a moto server over HTTP.

DynamoDB keeps current state only (``read_history`` is ``None``). Documents above 400 KB go to
an S3 overflow bucket, and ``read_current`` resolves them through ``read_document`` (which
verifies their SHA-256).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.model import DocKey
from projections.aws_errors import aws_retry
from projections.dynamodb import DynamoDbProjection
from projections.large_documents import OverflowLocation
from tests.support.dynamodb_readback import item_row, scan_all
from tests.support.moto_server import aws_client, unique_name
from tests.support.projection_harness import CurrentRow, Harness

NAME = "dynamodb"


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    client = aws_client("dynamodb")
    s3 = aws_client("s3")
    table = unique_name("contract")
    bucket = unique_name("overflow")
    s3.create_bucket(Bucket=bucket)
    projection = DynamoDbProjection(
        client,
        table,
        s3_client=s3,
        overflow=OverflowLocation(bucket, "big-docs"),
        retry=aws_retry(sleep=lambda _: None),
    )
    projection.ensure_table()

    def read_current() -> dict[DocKey, CurrentRow]:
        return {
            DocKey(item["ledgerTable"]["S"], item["pk"]["S"]): item_row(item, s3)
            for item in scan_all(client, table)
        }

    def reset() -> None:
        for item in scan_all(client, table):
            client.delete_item(TableName=table, Key={"pk": item["pk"]})
        checkpoints = projection.checkpoint_table
        for item in scan_all(client, checkpoints):
            key = {"exportId": item["exportId"], "objectKey": item["objectKey"]}
            client.delete_item(TableName=checkpoints, Key=key)

    try:
        yield Harness(projection, read_current, None, reset, max_examples=20)
    finally:
        projection.close()
        client.delete_table(TableName=table)
        client.delete_table(TableName=projection.checkpoint_table)
