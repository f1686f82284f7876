"""The S3 projection under the contract suite, against a moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.model import DocKey
from projections.aws_errors import aws_retry
from projections.s3 import S3Projection, parse_object_key
from tests.support.moto_server import aws_client, unique_name
from tests.support.projection_harness import CurrentRow, Harness, HistoryRow
from tests.support.s3_readback import list_keys, read_json

NAME = "s3"
PREFIX = "cdc/projection"


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    client = aws_client("s3")
    bucket = unique_name("contract")
    client.create_bucket(Bucket=bucket)
    projection = S3Projection(client, bucket, PREFIX, retry=aws_retry(sleep=lambda _: None))

    def read_objects(kind: str) -> list[tuple[DocKey, int | None, dict[str, Any]]]:
        out = []
        for key in list_keys(client, bucket, PREFIX + "/"):
            parsed = parse_object_key(key, PREFIX)
            if parsed is not None and parsed[0] == kind:
                body = read_json(client, bucket, key)
                assert (body["ledgerTable"], body["documentId"]) == (
                    parsed[1].table,
                    parsed[1].doc_id,
                )
                out.append((parsed[1], parsed[2], body))
        return out

    def read_current() -> dict[DocKey, CurrentRow]:
        return {
            doc: CurrentRow(
                version=body["version"],
                deleted=body["deleted"],
                redacted=body["redacted"],
                data=body["data"],
                tx_id=body["txId"],
                tx_time=body["txTime"],
                revision_hash=body["revisionHash"],
            )
            for doc, _, body in read_objects("current")
        }

    def read_history() -> dict[tuple[DocKey, int], HistoryRow]:
        out = {}
        for doc, version, body in read_objects("revisions"):
            assert version == body["version"]
            out[(doc, body["version"])] = HistoryRow(
                deleted=body["deleted"],
                redacted=body["redacted"],
                data=body["data"],
                tx_id=body["txId"],
                tx_time=body["txTime"],
                revision_hash=body["revisionHash"],
                data_hash=body["dataHash"],
            )
        return out

    def reset() -> None:
        keys = list_keys(client, bucket)
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": chunk})

    try:
        yield Harness(projection, read_current, read_history, reset, max_examples=15)
    finally:
        projection.close()
