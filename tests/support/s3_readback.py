"""Reading an S3 projection's objects back (all pages)."""

from __future__ import annotations

from typing import Any

from core import json_codec


def list_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` (all pages)."""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys


def read_json(client: Any, bucket: str, key: str) -> dict[str, Any]:
    body: dict[str, Any] = json_codec.loads(
        client.get_object(Bucket=bucket, Key=key)["Body"].read()
    )
    return body
