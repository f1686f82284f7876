"""Publishing a finished Parquet snapshot folder to S3 (``qldb-cdc snapshot --to s3://``).

S3 has no rename, so a snapshot is made visible by a pointer written last::

    <prefix>/<snapshot id>/...           the snapshot's files, as in the local folder
    <prefix>/_latest.json                {"snapshot": "<snapshot id>", "manifest": "<key>"}

Every file of the snapshot is uploaded first (each ``PutObject`` atomic, retried on throttling,
5xx and connection errors by :func:`projections.aws_errors.aws_retry`); only then is
``_latest.json`` replaced. A reader that follows the pointer sees a whole snapshot, the previous
or the new one; an interrupted upload leaves files under a snapshot id nothing points to.
Earlier snapshots are kept (expire them with a lifecycle rule on the prefix). Snapshot ids are
the UTC time and a random part (``20261204T191500Z-3f9a1c``), so they sort by time.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from projections.aws_errors import aws_retry, checked_call, client_config, configured_client
from projections.s3_target import S3Target

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LATEST = "_latest.json"


def new_snapshot_id(now: dt.datetime | None = None) -> str:
    """A snapshot id that sorts by time."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def publish(
    folder: Path, target: S3Target, *, client: S3Client | None = None, snapshot_id: str = ""
) -> str:
    """Upload every file under ``folder`` to ``<prefix>/<snapshot id>/``, then point
    ``<prefix>/_latest.json`` at it; return the snapshot id.

    Raises:
        RetryableError: an upload failed after the retries (nothing points at the new files).
        PoisonError: S3 rejected a request as invalid (permissions, bucket).
        ConfigError: the AWS configuration is unusable.
    """
    s3 = client if client is not None else _client(target)
    snapshot = snapshot_id or new_snapshot_id()
    base = f"{target.prefix}/{snapshot}" if target.prefix else snapshot
    retry = aws_retry()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{base}/{path.relative_to(folder).as_posix()}"
        body = path.read_bytes()
        retry.run(functools.partial(_put, s3, target.bucket, key, body))
    pointer = json.dumps(
        {"snapshot": snapshot, "manifest": f"{base}/_manifest.json"}, ensure_ascii=True
    ).encode("ascii")
    latest = f"{target.prefix}/{LATEST}" if target.prefix else LATEST
    retry.run(functools.partial(_put, s3, target.bucket, latest, pointer))
    return snapshot


def _put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    checked_call(s3.put_object, Bucket=bucket, Key=key, Body=body)


def _client(target: S3Target) -> S3Client:
    config = client_config(4)
    return configured_client(
        lambda: boto3.client("s3", config=config), f"the snapshot target {target.uri}"
    )
