"""``qldb-cdc snapshot --to s3://``: every file uploaded under a new snapshot id, then the
``_latest.json`` pointer; an upload that fails leaves the pointer on the previous snapshot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from consumers.cli import main
from core.errors import CdcError
from projections import s3_snapshot
from projections.s3_target import parse
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.views_exports import write_views_export

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = unique_name("snap")
    aws_client("s3").create_bucket(Bucket=name)
    return name


def latest(bucket: str) -> dict[str, str]:
    body = aws_client("s3").get_object(Bucket=bucket, Key="lake/_latest.json")["Body"].read()
    pointer: dict[str, str] = json.loads(body)
    return pointer


def test_snapshots_are_published_whole_and_the_pointer_moves_last(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src")
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    args = ["snapshot", "--from", f"sqlite:///{db}", "--to", f"s3://{bucket}/lake", "--history"]
    assert main(args) == 0
    first = latest(bucket)["snapshot"]
    assert f"published to s3://{bucket}/lake/{first}" in capsys.readouterr().out
    client = aws_client("s3")
    key = f"lake/{first}/Person/current.parquet"
    table = pq.read_table(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert table.to_pylist()[0]["name"] == "p1"
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=latest(bucket)["manifest"])["Body"].read()
    )
    assert {t["ledgerTable"] for t in manifest["tables"]} == {"Person", "Mixed", "documents"}

    # A second snapshot whose upload fails half way: the pointer stays on the first.
    real = client.put_object

    def failing(**kwargs: Any) -> Any:
        if str(kwargs["Key"]).endswith("Mixed/current.parquet"):  # every attempt, so after
            error: Any = {"Error": {"Code": "AccessDenied", "Message": "denied"}}  # retries too
            raise ClientError(error, "PutObject")
        return real(**kwargs)

    client.put_object = failing
    local = tmp_path / "local"
    assert main(["snapshot", "--from", f"sqlite:///{db}", "--to", str(local)]) == 0
    with pytest.raises(CdcError):
        s3_snapshot.publish(local, parse(f"s3://{bucket}/lake"), client=client)
    assert latest(bucket)["snapshot"] == first
    client.put_object = real
    second = s3_snapshot.publish(local, parse(f"s3://{bucket}/lake"), client=client)
    assert latest(bucket)["snapshot"] == second != first and second > first
