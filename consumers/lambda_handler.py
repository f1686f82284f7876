"""AWS Lambda entry point for a Kinesis event source mapping carrying QLDB Streams records.

Deploy with ``FunctionResponseTypes: [ReportBatchItemFailures]``. Guarantees:

* Every record of the event is applied, dead-lettered (SQS, raw bytes + reason) or reported in
  ``batchItemFailures``. Only the earliest failed outer record is reported: Lambda restarts the
  shard from there and redelivery of later records is harmless because every projection write is
  conditioned on the QLDB version.
* Configuration is read and validated on the first invocation (settings, projections and
  clients are then reused across invocations); a configuration error fails that invocation with
  one clear sentence and is retried by Lambda, never turning records into poison.
* Logs are structured JSON (powertools ``Logger``) and never contain document contents; every
  line carries the invocation's request id, function name and ``cold_start`` flag
  (``@logger.inject_lambda_context``). Metrics are CloudWatch EMF (powertools ``Metrics``,
  namespace from ``POWERTOOLS_METRICS_NAMESPACE``, default ``QldbCdc``) flushed by
  ``@metrics.log_metrics`` after every invocation, also when it raises (then with
  ``BatchErrors``); the first successful invocation of an execution environment also emits
  powertools' ``ColdStart`` metric. An empty event publishes no metric and no warning.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from consumers.settings import Settings, secret_targets
from core.errors import PoisonError, RetryableError
from dead_letters.sinks import DeadLetter, DeadLetterSink, SqsDeadLetterSink
from projections.base import Projection
from projections.closing import closing_all
from projections.targets import parse_target
from schemas.ion_values import c_extension_enabled
from schemas.kinesis import StreamRecord, from_lambda
from stream.pipeline import BatchCounts, process_batch

DEFAULT_NAMESPACE = "QldbCdc"
SERVICE = "qldb-cdc"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE),
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
)

_COUNT_METRICS = (
    ("revisions", "Revisions"),
    ("applied", "Applied"),
    ("stale", "Stale"),
    ("tombstones", "Tombstones"),
    ("redactions", "Redactions"),
    ("poison", "Poison"),
    ("retried", "Retried"),
)

_NO_METRICS_WARNING = "No application metrics to publish"
"""The start of the warning ``log_metrics`` emits when an invocation added no metric (an empty
event); the filter powertools' metrics documentation gives for handlers that may publish none."""


@dataclass
class StreamHandler:
    """The handler's state, built once per execution environment.

    Attributes:
        projections: every target of ``CDC_TARGETS``.
        dead_letters: the dead-letter sink.
        verify: recompute revision hashes before applying.
        clock: wall clock in epoch seconds (injected for the record-age metric).
    """

    projections: Sequence[Projection]
    dead_letters: DeadLetterSink
    verify: bool = False
    clock: Callable[[], float] = time.time

    def handle(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Process one Lambda Kinesis event; return the partial-batch-failure response.

        The batch's metrics are added to the module's ``metrics``; :func:`handler` flushes them.
        """
        started = time.perf_counter()
        raw_records = event.get("Records") or []
        if not raw_records:  # powertools' data classes and batch utilities reject empty batches
            return {"batchItemFailures": []}
        parsed: list[StreamRecord] = []
        positions: list[int] = []
        failed_positions: set[int] = set()
        unreadable = 0
        for position, item in enumerate(KinesisStreamEvent(dict(event)).records):
            try:
                parsed.append(from_lambda(item.raw_event))
                positions.append(position)
            except PoisonError as exc:
                unreadable += 1
                if not self._dead_letter_unreadable(item.raw_event, exc):
                    failed_positions.add(position)
        outcome = process_batch(parsed, self.projections, self.dead_letters, verify=self.verify)
        counts = outcome.counts
        counts.poison += unreadable
        counts.records += unreadable
        counts.retried += len(failed_positions)
        failed_positions.update(positions[i] for i in outcome.failed_indexes)
        failures: list[dict[str, str]] = []
        if failed_positions:
            first = raw_records[min(failed_positions)].get("kinesis") or {}
            failures.append({"itemIdentifier": str(first.get("sequenceNumber", ""))})
        arrivals = [r.arrival for r in parsed if r.arrival is not None]
        oldest_ms = (self.clock() - min(arrivals)) * 1000.0 if arrivals else None
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._publish(counts, latency_ms, oldest_ms, failures)
        return {"batchItemFailures": failures}

    def _dead_letter_unreadable(self, raw_event: Mapping[str, Any], exc: PoisonError) -> bool:
        kinesis = raw_event.get("kinesis") or {}
        data = kinesis.get("data") if isinstance(kinesis, Mapping) else None
        raw = data.encode("utf-8") if isinstance(data, str) else json.dumps(raw_event).encode()
        event_id = str(raw_event.get("eventID", ""))
        letter = DeadLetter(
            raw=raw,
            shard_id=event_id.split(":", 1)[0] if ":" in event_id else None,
            sequence_number=str(kinesis.get("sequenceNumber", "")),
            sub_sequence_number=None,
            reason=f"unreadable Lambda Kinesis record: {exc}",
            error_class=type(exc).__name__,
        )
        try:
            self.dead_letters.put(letter)
        except RetryableError:
            return False
        return True

    def _publish(
        self,
        counts: BatchCounts,
        latency_ms: float,
        oldest_ms: float | None,
        failures: list[dict[str, str]],
    ) -> None:
        for attribute, name in _COUNT_METRICS:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(counts, attribute))
        metrics.add_metric(name="BatchLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
        if oldest_ms is not None:
            metrics.add_metric(
                name="OldestRecordAge", unit=MetricUnit.Milliseconds, value=max(0.0, oldest_ms)
            )
        summary = {name: getattr(counts, name) for name in counts.__dataclass_fields__}
        logger.info(
            "batch processed",
            extra={
                "counts": summary,
                "batch_latency_ms": round(latency_ms, 3),
                "oldest_record_age_ms": None if oldest_ms is None else round(oldest_ms, 3),
                "retry_from": failures[0]["itemIdentifier"] if failures else None,
            },
        )


_state: StreamHandler | None = None


def build_handler(env: Mapping[str, str]) -> StreamHandler:
    """Build the handler from environment variables (validated; raises ConfigError)."""
    settings = Settings.from_env(env)
    logger.setLevel(settings.log_level)
    if not c_extension_enabled():
        logger.warning(
            "amazon-ion is running WITHOUT its C extension: decoding is about 13x slower and "
            "will not keep up with a Kinesis shard; deploy a binary amazon-ion wheel"
        )
    assert settings.dead_letter_queue_url is not None  # required by Settings.from_env
    sink = SqsDeadLetterSink(boto3.client("sqs"), settings.dead_letter_queue_url)
    targets = settings.targets
    if settings.targets_secret_arn is not None:
        client = boto3.client("secretsmanager")
        targets += secret_targets(client, settings.targets_secret_arn)
    specs = [parse_target(uri) for uri in targets]  # every URI checked before any is opened
    projections = [spec.open() for spec in specs]
    logger.info(
        "stream handler configured",
        extra={"targets": [p.name for p in projections], "verify_hashes": settings.verify_hashes},
    )
    return StreamHandler(projections=projections, dead_letters=sink, verify=settings.verify_hashes)


def reset() -> None:
    """Forget the cached handler (closing its projections); the next call rebuilds it."""
    global _state  # noqa: PLW0603 - the per-execution-environment cache Lambda reuses
    state = _state
    _state = None
    if state is not None:
        with closing_all(state.projections):
            pass


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event holds document contents.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def _instrumented(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One invocation; the decorators add the context to the logs and flush the metrics."""
    global _state  # noqa: PLW0603 - the per-execution-environment cache Lambda reuses
    try:
        if _state is None:
            _state = build_handler(os.environ)
        return _state.handle(event)
    except Exception:
        # Not handled here: re-raised for Lambda to retry the batch, but counted, and flushed by
        # log_metrics with whatever the invocation had added.
        metrics.add_metric(name="BatchErrors", unit=MetricUnit.Count, value=1)
        raise


def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """Lambda entry point: see the module docstring.

    ``context`` is the Lambda context object (``aws_request_id``, ``function_name``,
    ``memory_limit_in_mb`` and ``invoked_function_arn`` are read by powertools).
    """
    with warnings.catch_warnings():  # the Lambda runtime calls one handler at a time
        warnings.filterwarnings("ignore", message=_NO_METRICS_WARNING, category=UserWarning)
        response: dict[str, list[dict[str, str]]] = _instrumented(event, context)
    return response
