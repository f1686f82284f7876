"""Distributed replay handlers and S3 sources, against a moto S3 server over HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consumers.cli import main
from consumers.replay_lambda import objects_handler, plan_handler
from core.errors import ConfigError, RetryableError, UserInputError
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["aws_env", "moto_endpoint"]

CONFIG = SimulationConfig(documents=40, revisions=600, seed=3)


def upload(folder: Path, s3: S3Client, bucket: str, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket,
                Key=prefix + str(path.relative_to(folder)),
                Body=path.read_bytes(),
            )


def dump(db: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT * FROM documents ORDER BY 1, 2").fetchall()
    rows += con.execute("SELECT * FROM revisions ORDER BY 1, 2, 3").fetchall()
    con.close()
    return rows


@pytest.fixture
def exported(tmp_path: Path, moto_endpoint: str) -> tuple[Path, str, str]:
    folder = tmp_path / "export"
    # manifest keys are full S3 keys, so the export is written with its prefix
    write_export(
        folder,
        CONFIG,
        ExportFormat.ION_TEXT,
        blocks_per_object=40,
        split_exports=2,
        prefix="ledger1/",
    )
    s3 = aws_client("s3", moto_endpoint)
    bucket = unique_name("exports")
    s3.create_bucket(Bucket=bucket)
    upload(folder, s3, bucket, "")
    return folder, bucket, "ledger1/"


def test_plan_then_objects_equals_local_replay(
    exported: tuple[Path, str, str], tmp_path: Path, moto_endpoint: str
) -> None:
    folder, bucket, prefix = exported
    s3 = aws_client("s3", moto_endpoint)
    work = unique_name("work")
    s3.create_bucket(Bucket=work)
    env = {"CDC_REPLAY_WORK_BUCKET": work}
    plan = plan_handler({"bucket": bucket, "prefix": prefix}, None, s3=s3, env=env)
    assert plan["planBucket"] == work
    assert plan["planKey"].startswith("replay-plans/")
    items = json.loads(s3.get_object(Bucket=work, Key=plan["planKey"])["Body"].read())
    assert len(items) == plan["objects"] > 2
    assert {item["format"] for item in items} == {"ION_TEXT"}

    db = tmp_path / "distributed.db"
    target = {"targets": [f"sqlite:///{db}"], "executionId": "x"}
    # GIVEN the Map hands out batches in reverse order (any order must converge)
    batches = [items[i : i + 3] for i in range(0, len(items), 3)][::-1]
    results = [
        objects_handler({"Items": b, "BatchInput": target}, None, s3=s3, env={}) for b in batches
    ]
    assert sum(r["applied"] for res in results for r in res["objects"]) > 0
    reference = tmp_path / "local.db"
    assert main(["replay", str(folder), "--to", str(reference), "--no-progress"]) == 0
    assert dump(db) == dump(reference)

    # WHEN a batch is redelivered THEN its objects are skipped (already complete)
    again = objects_handler({"Items": batches[0], "BatchInput": target}, None, s3=s3, env={})
    assert all(r["skipped"] for r in again["objects"])


def test_plan_without_manifest_is_a_user_error(moto_endpoint: str) -> None:
    s3 = aws_client("s3", moto_endpoint)
    bucket = unique_name("empty")
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(UserInputError, match=r"no \*\.completed\.manifest"):
        plan_handler(
            {"bucket": bucket, "prefix": "x/"}, None, s3=s3, env={"CDC_REPLAY_WORK_BUCKET": bucket}
        )


def test_cli_replays_straight_from_s3(
    exported: tuple[Path, str, str], tmp_path: Path, aws_env: str
) -> None:
    folder, bucket, prefix = exported
    db, reference = tmp_path / "s3.db", tmp_path / "local.db"
    assert (
        main(["replay", f"s3://{bucket}/{prefix}", "--to", str(db), "--no-progress", "--verify"])
        == 0
    )
    assert main(["replay", str(folder), "--to", str(reference), "--no-progress"]) == 0
    assert dump(db) == dump(reference)
    parallel = tmp_path / "s3-workers.db"
    assert (
        main(
            [
                "replay",
                f"s3://{bucket}/{prefix}",
                "--to",
                str(parallel),
                "--no-progress",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    assert dump(parallel) == dump(reference)
    assert main(["replay", f"s3://{bucket}/nothing-here/", "--to", str(db)]) == 2


def test_objects_handler_takes_targets_from_the_secret(
    exported: tuple[Path, str, str], tmp_path: Path, moto_endpoint: str
) -> None:
    _folder, bucket, prefix = exported
    s3, secrets = aws_client("s3", moto_endpoint), aws_client("secretsmanager", moto_endpoint)
    db = tmp_path / "from-secret.db"
    arn = secrets.create_secret(Name=unique_name("targets"), SecretString=f"sqlite:///{db}")["ARN"]
    work = unique_name("work")
    s3.create_bucket(Bucket=work)
    plan = plan_handler(
        {"bucket": bucket, "prefix": prefix}, None, s3=s3, env={"CDC_REPLAY_WORK_BUCKET": work}
    )
    items = json.loads(s3.get_object(Bucket=work, Key=plan["planKey"])["Body"].read())
    env = {"CDC_TARGETS_SECRET_ARN": arn}
    result = objects_handler(
        {"Items": items, "BatchInput": {}}, None, s3=s3, secrets=secrets, env=env
    )
    assert all(not r["skipped"] for r in result["objects"])
    assert sqlite3.connect(db).execute("SELECT count(*) FROM revisions").fetchone()[0] == (
        CONFIG.revisions
    )
    with pytest.raises(ConfigError, match="no targets"):
        objects_handler({"Items": items, "BatchInput": {}}, None, s3=s3, env={})


def test_objects_handler_reports_a_down_target_as_retryable(
    exported: tuple[Path, str, str], moto_endpoint: str
) -> None:
    from tests.support.moto_server import dead_endpoint

    _folder, bucket, prefix = exported
    s3 = aws_client("s3", moto_endpoint)
    port = dead_endpoint().rsplit(":", 1)[1]
    item = {"bucket": bucket, "key": f"{prefix}x/S.0-1.ion", "exportId": "e", "format": None}
    env = {"CDC_TARGETS": f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=2"}
    with pytest.raises(RetryableError) as info:
        objects_handler({"Items": [item], "BatchInput": {}}, None, s3=s3, env=env)
    # Step Functions retries by error name: the name must be the one the state machine lists
    assert type(info.value).__name__ == "RetryableError"


def test_objects_handler_fails_at_once_on_a_missing_object(
    exported: tuple[Path, str, str], tmp_path: Path, moto_endpoint: str
) -> None:
    # GIVEN a plan item whose data object is gone from S3 (deleted after planning)
    _folder, bucket, prefix = exported
    s3 = aws_client("s3", moto_endpoint)
    item = {"bucket": bucket, "key": f"{prefix}gone/S.0-1.ion", "exportId": "e", "format": None}
    env = {"CDC_TARGETS": f"sqlite:///{tmp_path / 'out.db'}"}
    with pytest.raises(UserInputError) as info:
        objects_handler({"Items": [item], "BatchInput": {}}, None, s3=s3, env=env)
    # THEN it is a mistake to fix, under a name the state machine does not retry
    assert type(info.value).__name__ not in {"RetryableError", "ThrottledError"}
    assert "gone/S.0-1.ion" in str(info.value)
