"""Lambda handlers of the distributed replay (Step Functions distributed Map in template.yaml).

``plan_handler`` reads every completed manifest under ``s3://bucket/prefix`` and writes the
ordered list of data objects as a JSON array to ``s3://$CDC_REPLAY_WORK_BUCKET/replay-plans/``.
``objects_handler`` replays the batch of objects the Map hands it, exactly as
``qldb-cdc replay`` does for one object: stream the object, apply every change to every target,
then record the object complete in each target. Objects may run in any order and concurrently
because every write is version-conditioned. A failure is raised with its class name
(``RetryableError``, ``ThrottledError``...) so the state machine retries only what is retryable;
changes no target can store go to the SQS dead-letter queue (``CDC_DEAD_LETTER_QUEUE_URL``),
never silently dropped.

Configuration comes from :class:`consumers.settings.Settings` (read from the environment once per
invocation); every target is parsed before any object is read, so a bad URI fails the batch
before any work.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from consumers.settings import (
    ENV_TARGETS,
    ENV_TARGETS_SECRET_ARN,
    ENV_WORK_BUCKET,
    SecretsClient,
    Settings,
    parse_targets,
    secret_targets,
)
from core.errors import ConfigError, PoisonError, RetryableError, UserInputError
from dead_letters.sinks import SqsDeadLetterSink
from exports.plan import ExportObject, plan_exports
from exports.store import S3ExportStore
from projections.base import Projection
from projections.closing import closing_all
from projections.targets import parse_target
from replay.engine import ChangeDeadLetters, ReplayOptions, replay_object
from schemas.journal_export import ExportFormat, parse_object_key, parse_started_manifest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

PLAN_PREFIX = "replay-plans/"
"""Where plans are written in ``CDC_REPLAY_WORK_BUCKET`` (:data:`ENV_WORK_BUCKET`)."""


def _s3() -> S3Client:
    import boto3  # I/O edge only

    return boto3.client("s3")


def _settings(env: Mapping[str, str] | None) -> Settings:
    """The settings of both handlers: no variable is required here (each handler says what it
    needs), every one given is validated."""
    return Settings.from_env(
        os.environ if env is None else env, require_dead_letter_queue=False, require_targets=False
    )


def plan_handler(
    event: Mapping[str, Any],
    context: object,
    *,
    s3: S3Client | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write the replay plan for ``event = {"bucket", "prefix", "strand"?}``; return where it is.

    ``strand`` picks one strand when the prefix holds exports of several (otherwise refused).
    """
    settings = _settings(env)
    bucket = event.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        msg = 'plan input needs {"bucket": "<export bucket>", "prefix": "<export prefix>"}'
        raise UserInputError(msg)
    prefix = str(event.get("prefix") or "")
    strand = event.get("strand")
    if strand is not None and not isinstance(strand, str):
        msg = 'plan input "strand" must be a strand id (a string)'
        raise UserInputError(msg)
    work_bucket = settings.work_bucket
    if work_bucket is None:
        msg = f"{ENV_WORK_BUCKET} is not set"
        raise ConfigError(msg)
    client = s3 if s3 is not None else _s3()
    store = S3ExportStore(client, bucket, prefix)
    plan = plan_exports(store, strand)
    formats = _export_formats(store, plan.export_ids)
    items = [
        {
            "bucket": bucket,
            "key": obj.key,
            "exportId": obj.export_id,
            "format": formats.get(obj.export_id),
        }
        for obj in plan.objects
    ]
    plan_key = f"{PLAN_PREFIX}{'-'.join(plan.export_ids)[:200]}-{uuid.uuid4().hex}.json"
    client.put_object(
        Bucket=work_bucket,
        Key=plan_key,
        Body=json.dumps(items).encode(),
        ContentType="application/json",
    )
    return {
        "planBucket": work_bucket,
        "planKey": plan_key,
        "objects": len(items),
        "warnings": list(plan.warnings),
    }


def _export_formats(store: S3ExportStore, export_ids: Sequence[str]) -> dict[str, str | None]:
    """``outputFormat`` from each started manifest when present (it is optional)."""
    formats: dict[str, str | None] = {}
    for export_id in export_ids:
        key = f"{store.prefix}{export_id}.started.manifest"
        try:
            started = parse_started_manifest(store.read_bytes(key))
        except (UserInputError, PoisonError):
            formats[export_id] = None  # absent or unreadable: each object's format is detected
            continue
        value = started.get("outputFormat")
        formats[export_id] = str(value).upper() if value else None
    return formats


def objects_handler(
    event: Mapping[str, Any],
    context: object,
    *,
    s3: S3Client | None = None,
    sqs: SQSClient | None = None,
    secrets: SecretsClient | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Replay the objects of one distributed-Map batch; see the module docstring."""
    settings = _settings(env)
    items = event.get("Items")
    if not isinstance(items, list):
        msg = 'objects input needs {"Items": [...]} as the distributed Map ItemBatcher sends it'
        raise UserInputError(msg)
    batch_input = event.get("BatchInput") or {}
    specs = [parse_target(uri) for uri in _targets(batch_input.get("targets"), settings, secrets)]
    client = s3 if s3 is not None else _s3()
    queue_url = settings.dead_letter_queue_url
    dead_letters = None
    if queue_url is not None:
        if sqs is None:
            import boto3  # I/O edge only

            sqs = boto3.client("sqs")
        dead_letters = ChangeDeadLetters(SqsDeadLetterSink(sqs, queue_url))
    targets: list[Projection] = []
    try:
        with closing_all(targets):
            targets.extend(spec.open() for spec in specs)
            results = [_replay_item(item, client, targets, dead_letters) for item in items]
    except UserInputError:
        # Something to fix, not to wait for (also AccessDeniedError and MissingResourceError,
        # which are retryable for a stream): fail at once under its own name, never retried.
        raise
    except RetryableError as exc:
        if type(exc) is RetryableError:
            raise
        # Step Functions retries by error name: report every retryable subclass by one name.
        raise RetryableError(str(exc)) from exc
    return {"objects": results}


def _targets(
    override: object, settings: Settings, secrets: SecretsClient | None = None
) -> tuple[str, ...]:
    """Execution-input targets, else ``CDC_TARGETS`` plus those in ``CDC_TARGETS_SECRET_ARN``."""
    if isinstance(override, list) and override:
        return parse_targets(",".join(str(u) for u in override), "BatchInput.targets")
    targets = settings.targets
    secret_arn = settings.targets_secret_arn
    if secret_arn is not None:
        if secrets is None:
            import boto3  # I/O edge only

            secrets = boto3.client("secretsmanager")
        targets += secret_targets(secrets, secret_arn)
    if not targets:
        msg = (
            f"no targets: set {ENV_TARGETS} or {ENV_TARGETS_SECRET_ARN}, or name targets in the "
            "execution input"
        )
        raise ConfigError(msg)
    return targets


def _replay_item(
    item: Mapping[str, Any],
    client: S3Client,
    targets: Sequence[Projection],
    dead_letters: ChangeDeadLetters | None,
) -> dict[str, Any]:
    bucket, key, export_id = item.get("bucket"), item.get("key"), item.get("exportId")
    if not all(isinstance(v, str) and v for v in (bucket, key, export_id)):
        msg = f"plan item needs bucket, key and exportId strings: {dict(item)!r}"
        raise UserInputError(msg)
    obj = ExportObject(str(export_id), str(key), parse_object_key(str(key)))
    pending = [t for t in targets if obj.key not in t.completed_objects(obj.export_id)]
    result: dict[str, Any] = {"key": key, "exportId": export_id, "skipped": not pending}
    if not pending:
        return result
    fmt_name = item.get("format")
    fmt = ExportFormat(str(fmt_name).lower()) if fmt_name else None
    store = S3ExportStore(client, str(bucket), "")
    outcome = replay_object(store, obj, pending, ReplayOptions(fmt=fmt, dead_letters=dead_letters))
    reports = outcome.summary.targets.values()
    result.update(
        revisions=outcome.summary.revisions_read,
        applied=sum(r.applied for r in reports),
        stale=sum(r.stale for r in reports),
        tombstones=sum(r.tombstones for r in reports),
        redactions=sum(r.redactions for r in reports),
        poison=outcome.summary.dead_lettered,
    )
    return result
