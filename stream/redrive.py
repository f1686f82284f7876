"""Redrive: re-read the Kinesis batches a Lambda event source mapping discarded, and apply them.

After its bounded retries the event source mapping sends only the batch's metadata to its
OnFailure destination (``schemas.kinesis_failure``). :func:`redrive` reads those messages from
an SQS queue, re-reads each range from Kinesis while the stream still retains it and applies it
through :func:`stream.pipeline.process_batch`, the Lambda handler's own path. Guarantees:

* **Deleted only after success.** A message is deleted when its whole range was re-read
  (``startSequenceNumber`` to ``endSequenceNumber`` inclusive) and every record was applied or,
  with a dead-letter sink, dead-lettered. Every other outcome keeps it in the queue
  (:class:`Outcome`): past retention, a malformed message, poison records without a dead-letter
  sink, a target or Kinesis that kept failing, a read that hit its bounds, a dry run. Kept
  messages are made visible again at the end of the run (``ChangeMessageVisibility`` 0); the
  queue's own redrive policy (``maxReceiveCount``) still applies to them.
* **The same bytes as the Lambda event.** ``GetRecords`` returns the raw record (the event's
  base64 decoded), so KPL aggregates are de-aggregated by ``schemas.kpl`` inside the pipeline,
  exactly as for the Lambda handler. Redelivery of records the targets already hold is harmless:
  every projection write is conditioned on the QLDB version (counted stale).
* **Past retention is loud.** ``TrimmedDataAccessException``, a start sequence number Kinesis
  refuses (``InvalidArgumentException``), a first record after ``startSequenceNumber`` (the
  start was trimmed) or a shard holding nothing from the start on: the range is gone, nothing is
  applied, the message is kept and its report says which export to replay instead
  (:func:`replay_hint`).
* **Bounded.** At most ``max_messages`` messages per run (each message id handled once); per
  message at most :attr:`ReadLimits.max_calls` ``GetRecords`` calls and
  :attr:`ReadLimits.max_empty_reads` empty pages in a row; an empty page with
  ``MillisBehindLatest == 0`` (or a closed shard) ends the read. Throttling
  (``ProvisionedThroughputExceededException``) and other retryable AWS errors are retried with
  :class:`core.retry.Retry`; an expired iterator is renewed after the last record read, at most
  as many times as the retry has attempts.
* **Classified failures.** Denied access and missing streams or queues
  (:class:`~core.errors.UserInputError`) stop the run (the command exits 2); a Kinesis error
  that stays retryable keeps that message and goes on with the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import CdcError, InvalidRecordError, PoisonError, RetryableError, UserInputError
from core.retry import Retry
from dead_letters.sinks import DeadLetterSink, ListDeadLetterSink
from projections.aws_errors import checked_call, classify_client_error, error_code
from projections.base import Projection
from schemas.kinesis import StreamRecord, from_get_records
from schemas.kinesis_failure import KinesisBatchFailure, parse_failure_record
from stream.pipeline import BatchCounts, process_batch

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_sqs import SQSClient

SQS_MAX_RECEIVE = 10
"""ReceiveMessage returns at most ten messages."""
DEFAULT_MAX_CALLS = 200
"""``GetRecords`` calls per message by default: a batch is at most 10,000 records."""
EXPORT_MARGIN = timedelta(hours=1)
"""How far before the batch's first arrival the suggested export starts: QLDB commits a
revision (its ``txTime``) before the stream delivers it, usually by seconds, more when the
stream was lagging."""


class Outcome(StrEnum):
    """What became of one message."""

    APPLIED = "applied"
    """Re-read and applied (poison dead-lettered); the message was deleted."""
    DRY_RUN = "dry-run"
    """Re-read and decoded only (``--dry-run``); kept."""
    PAST_RETENTION = "past-retention"
    """The range is no longer in the stream; kept. Replay an export instead."""
    POISON = "poison"
    """A malformed message, a range the shard does not hold, or poison records without a
    dead-letter sink; kept."""
    RETRY = "retry"
    """A target or Kinesis kept failing, or the read hit its bounds; kept. Re-run later."""
    SKIPPED = "skipped"
    """Another function's message (``function``); made visible again, untouched."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Bounds of one range read.

    Attributes:
        max_calls: ``GetRecords`` calls per message (a batch is at most 10,000 records).
        max_empty_reads: empty pages in a row that still report records behind.
        page_size: ``GetRecords`` ``Limit`` (1 to 10,000).
    """

    max_calls: int = DEFAULT_MAX_CALLS
    max_empty_reads: int = 20
    page_size: int = 1000


@dataclass(frozen=True, slots=True)
class RedriveOptions:
    """How :func:`redrive` runs.

    Attributes:
        max_messages: distinct messages handled in this run.
        dry_run: re-read and decode, apply nothing, delete nothing.
        wait_seconds: SQS long polling of each ``ReceiveMessage`` (0 to 20).
        visibility_timeout: seconds a received message stays hidden while it is redriven.
        verify: recompute every revision hash; mismatches are poison (as ``CDC_VERIFY_HASHES``).
        limits: bounds of each range read.
        function: handle only the messages of this Lambda function (its name or ARN, matched
            against ``requestContext.functionArn``); ``None`` handles every message.
    """

    max_messages: int = 100
    dry_run: bool = False
    wait_seconds: int = 1
    visibility_timeout: int = 300
    verify: bool = False
    limits: ReadLimits = ReadLimits()
    function: str | None = None


def same_function(wanted: str, function_arn: str | None) -> bool:
    """True when ``function_arn`` (``arn:aws:lambda:R:A:function:NAME[:QUALIFIER]``) is the
    function ``wanted`` names: the same ARN (qualifier ignored) or the same name."""
    if function_arn is None:
        return False
    if wanted.startswith("arn:"):
        return _unqualified(function_arn) == _unqualified(wanted)
    return _unqualified(function_arn).rsplit(":", 1)[-1] == wanted


def _unqualified(arn: str) -> str:
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else arn


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One received SQS message."""

    message_id: str
    receipt_handle: str
    body: str


def transient(exc: Exception) -> bool:
    """What the redrive retries in place: a :class:`RetryableError` that waiting may fix (not
    denied access or a missing stream or queue, which a person must fix first)."""
    return isinstance(exc, RetryableError) and not isinstance(exc, UserInputError)


class SqsQueue:
    """The OnFailure queue: receive, delete, make visible again; every AWS error classified
    (``projections.aws_errors``) and the retryable ones retried with ``retry``."""

    def __init__(self, client: SQSClient, url: str, retry: Retry) -> None:
        self._client = client
        self._url = url
        self._retry = retry

    def receive(
        self, count: int, *, wait_seconds: int, visibility_timeout: int
    ) -> list[QueueMessage]:
        """Up to ``count`` (at most 10) messages."""
        response = self._retry.run(
            lambda: checked_call(
                self._client.receive_message,
                QueueUrl=self._url,
                MaxNumberOfMessages=max(1, min(SQS_MAX_RECEIVE, count)),
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=visibility_timeout,
            ),
            retry_if=transient,
        )
        out = []
        for item in response.get("Messages") or []:
            out.append(
                QueueMessage(
                    message_id=str(item.get("MessageId", "")),
                    receipt_handle=str(item["ReceiptHandle"]),
                    body=str(item.get("Body", "")),
                )
            )
        return out

    def delete(self, message: QueueMessage) -> None:
        """Delete ``message`` (after its range was applied)."""
        self._retry.run(
            lambda: checked_call(
                self._client.delete_message,
                QueueUrl=self._url,
                ReceiptHandle=message.receipt_handle,
            ),
            retry_if=transient,
        )

    def release(self, message: QueueMessage) -> None:
        """Make a kept message visible again now, for the next run or consumer."""
        self._retry.run(
            lambda: checked_call(
                self._client.change_message_visibility,
                QueueUrl=self._url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=0,
            ),
            retry_if=transient,
        )


@dataclass
class RangeRead:
    """The records of one range, or why they could not all be read.

    Attributes:
        records: outer records read, in shard order, all within the range.
        calls: ``GetRecords`` calls made.
        outcome: ``None`` when the whole range was read; else why not (past retention, poison,
            retry) with ``reason``.
        reason: one sentence for the report.
    """

    records: list[StreamRecord] = field(default_factory=list)
    calls: int = 0
    outcome: Outcome | None = None
    reason: str = ""


class _PastRetention(Exception):
    """Kinesis says the data is gone (not a CdcError: never retried)."""


class _ExpiredIterator(Exception):
    """The shard iterator expired (renewed by the reader)."""


def read_range(
    client: KinesisClient, batch: KinesisBatchFailure, retry: Retry, limits: ReadLimits
) -> RangeRead:
    """Re-read ``batch``'s range (see the module docstring for the rules and bounds).

    Raises:
        UserInputError: Kinesis denied access or has no such stream or shard (the run stops).
    """
    read = RangeRead()
    try:
        _read_into(read, client, batch, retry, limits)
    except _PastRetention as exc:
        return RangeRead(read.records, read.calls, Outcome.PAST_RETENTION, str(exc))
    except UserInputError:
        raise
    except PoisonError as exc:
        reason = f"Kinesis refused the request: {exc}"
        return RangeRead(read.records, read.calls, Outcome.POISON, reason)
    except RetryableError as exc:
        reason = f"Kinesis kept failing: {exc}"
        return RangeRead(read.records, read.calls, Outcome.RETRY, reason)
    return read


def _read_into(
    read: RangeRead,
    client: KinesisClient,
    batch: KinesisBatchFailure,
    retry: Retry,
    limits: ReadLimits,
) -> None:
    iterator = _iterator(client, batch, retry, after=None)
    empty = 0
    renewals = 0
    while True:
        if read.calls >= limits.max_calls:
            read.outcome = Outcome.RETRY
            read.reason = (
                f"{read.calls} GetRecords calls did not reach the end sequence number "
                f"(read {len(read.records)} records)"
            )
            return
        read.calls += 1
        try:
            page = retry.run(
                partial(
                    _call,
                    client.get_records,
                    StreamARN=batch.stream_arn,  # as recommended (and moto needs it)
                    ShardIterator=iterator,
                    Limit=limits.page_size,
                ),
                retry_if=transient,
            )
        except _ExpiredIterator:
            renewals += 1
            if renewals > retry.backoff.attempts:
                msg = f"the shard iterator expired {renewals} times"
                raise RetryableError(msg) from None
            last = read.records[-1].sequence_number if read.records else None
            iterator = _iterator(client, batch, retry, after=last)
            continue
        items = page.get("Records") or []
        if _take(read, items, batch):
            return
        following = page.get("NextShardIterator")
        caught_up = page.get("MillisBehindLatest") == 0
        empty = 0 if items else empty + 1
        if following is None or (not items and caught_up):
            if not read.records:
                msg = f"the shard holds no record from {batch.start_sequence_number} on"
                raise _PastRetention(msg)
            read.outcome = Outcome.POISON
            read.reason = (
                f"the shard's records end at {read.records[-1].sequence_number}, before the "
                f"end sequence number: the message does not match this shard"
            )
            return
        if empty > limits.max_empty_reads:
            read.outcome = Outcome.RETRY
            read.reason = f"{empty} empty GetRecords pages in a row before the end of the range"
            return
        iterator = str(following)


def _take(read: RangeRead, items: Sequence[Any], batch: KinesisBatchFailure) -> bool:
    """Add the page's records of the range to ``read``; True once the end is reached."""
    for item in items:
        record = from_get_records(item, batch.shard_id)
        if not record.sequence_number.isdigit():
            msg = f"GetRecords returned a non-decimal sequence number {record.sequence_number!r}"
            raise InvalidRecordError(msg)
        sequence = int(record.sequence_number)
        if sequence < batch.start:
            continue  # AT_SEQUENCE_NUMBER never returns these; never applied if it did
        if not read.records and sequence != batch.start:
            msg = (
                f"the first record the shard holds from the start on is {sequence}, not "
                f"{batch.start_sequence_number}: the start of the range was trimmed"
            )
            raise _PastRetention(msg)
        if sequence > batch.end:
            return True
        read.records.append(record)
        if sequence == batch.end:
            return True
    return False


def _iterator(
    client: KinesisClient, batch: KinesisBatchFailure, retry: Retry, *, after: str | None
) -> str:
    response = retry.run(
        lambda: _call(
            client.get_shard_iterator,
            StreamARN=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER" if after is None else "AFTER_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.start_sequence_number if after is None else after,
        ),
        retry_if=transient,
    )
    return str(response["ShardIterator"])


def _call(method: Callable[..., Any], /, **kwargs: Any) -> Any:
    """A Kinesis call; the codes that mean "gone" or "renew" are told apart, the rest
    classified by ``projections.aws_errors``."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        if code == "TrimmedDataAccessException":
            msg = f"Kinesis: {code}: {message}"
            raise _PastRetention(msg) from exc
        if code == "InvalidArgumentException" and "StartingSequenceNumber" in kwargs:
            msg = (
                f"Kinesis refused the sequence number ({code}: {message}): it is past the "
                "stream's retention or not from this shard"
            )
            raise _PastRetention(msg) from exc
        if code == "ExpiredIteratorException":
            raise _ExpiredIterator(message) from exc
        raise classify_client_error(exc) from exc
    except BotoCoreError as exc:
        raise classify_client_error(exc) from exc


def replay_hint(batch: KinesisBatchFailure, margin: timedelta = EXPORT_MARGIN) -> str:
    """What to replay instead of a range past retention: an export covering its ``txTime``.

    Every record's ``txTime`` is at or before its arrival in Kinesis, so the export ends at the
    last arrival and starts ``margin`` before the first one.
    """
    first = _instant(batch.first_arrival)
    last = _instant(batch.last_arrival) or _instant(batch.timestamp)
    if last is None:
        return (
            "replay an export covering the txTime of this batch instead (the message gives no "
            "arrival time)"
        )
    start = (first or last) - margin
    return (
        f"replay an export covering txTime {_iso(start)} .. {_iso(last)} instead "
        f"(export-journal-to-s3 with InclusiveStartTime at or before {_iso(start)} and "
        f"ExclusiveEndTime after {_iso(last)}, then qldb-cdc replay)"
    )


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MessageReport:
    """What happened to one message (one line of progress).

    Attributes:
        message_id: the SQS message id.
        outcome: see :class:`Outcome`.
        batch: the parsed record, ``None`` for a malformed message.
        records: outer records re-read.
        counts: the pipeline's counts, when the range was applied.
        reason: why it was kept (empty when applied).
    """

    message_id: str
    outcome: Outcome
    batch: KinesisBatchFailure | None = None
    records: int = 0
    counts: BatchCounts | None = None
    reason: str = ""

    @property
    def kept(self) -> bool:
        """True unless the message was deleted."""
        return self.outcome is not Outcome.APPLIED

    def line(self) -> str:
        """One line: outcome, range, counts or reason."""
        where = self.batch.range_text if self.batch else f"message {self.message_id}"
        if self.outcome is Outcome.APPLIED and self.counts is not None:
            c = self.counts
            return (
                f"applied: {where}: {self.records} records re-read, {c.revisions} revisions, "
                f"{c.applied} applied, {c.stale} stale, {c.poison} dead-lettered; message deleted"
            )
        if self.outcome is Outcome.SKIPPED:
            return f"skipped: {where}: {self.reason}; message left for its own redrive"
        if self.outcome is Outcome.DRY_RUN:
            c = self.counts or BatchCounts()
            return (
                f"dry run: {where}: {self.records} records re-read, {c.revisions} revisions, "
                f"{c.poison} poison; nothing applied, message kept"
            )
        return f"{self.outcome.value}: {where}: {self.reason}; message kept"


@dataclass
class RedriveSummary:
    """Totals of one run (the summary line)."""

    messages: int = 0
    records: int = 0
    applied: int = 0
    stale: int = 0
    past_retention: int = 0
    poison: int = 0
    retry: int = 0
    dry_run: int = 0
    skipped: int = 0
    deleted: int = 0
    kept: int = 0
    dead_lettered: int = 0

    def add(self, report: MessageReport) -> None:
        """Count one message."""
        self.messages += 1
        self.records += report.records
        if report.counts is not None and report.outcome is Outcome.APPLIED:
            self.applied += report.counts.applied
            self.stale += report.counts.stale
            self.dead_lettered += report.counts.poison
        if report.kept:
            self.kept += 1
        else:
            self.deleted += 1
        if report.outcome is Outcome.PAST_RETENTION:
            self.past_retention += 1
        elif report.outcome is Outcome.POISON:
            self.poison += 1
        elif report.outcome is Outcome.RETRY:
            self.retry += 1
        elif report.outcome is Outcome.DRY_RUN:
            self.dry_run += 1
        elif report.outcome is Outcome.SKIPPED:
            self.skipped += 1

    def line(self) -> str:
        """``redrive: N messages, ...`` (one line)."""
        return (
            f"redrive: {self.messages} message{'' if self.messages == 1 else 's'}, "
            f"{self.records} records re-read, "
            f"{self.applied} applied, {self.stale} stale, {self.dead_lettered} dead-lettered; "
            f"{self.deleted} deleted, {self.kept} kept ({self.past_retention} past retention, "
            f"{self.poison} poison, {self.retry} to retry, {self.dry_run} dry run, "
            f"{self.skipped} of other functions)"
        )


@dataclass
class Redriver:
    """Everything one run needs.

    Attributes:
        queue: the OnFailure queue.
        kinesis: the Kinesis client for a region (the stream's, from its ARN).
        projections: every target, opened.
        dead_letters: where poison records go; ``None`` keeps the message instead.
        retry: the AWS retry (throttling, 5xx, timeouts).
        options: see :class:`RedriveOptions`.
    """

    queue: SqsQueue
    kinesis: Callable[[str], KinesisClient]
    projections: Sequence[Projection]
    dead_letters: DeadLetterSink | None
    retry: Retry
    options: RedriveOptions = RedriveOptions()

    def run(self, on_message: Callable[[MessageReport], None]) -> RedriveSummary:
        """Redrive up to ``max_messages`` messages; call ``on_message`` after each one.

        Every message received and not deleted is made visible again before returning, also
        when the run stops on an error (then a failure to do so never hides that error: the
        message only stays hidden until its visibility timeout).
        """
        summary = RedriveSummary()
        seen: set[str] = set()
        kept: list[QueueMessage] = []
        try:
            while len(seen) < self.options.max_messages:
                page = self.queue.receive(
                    self.options.max_messages - len(seen),
                    wait_seconds=self.options.wait_seconds,
                    visibility_timeout=self.options.visibility_timeout,
                )
                fresh = [m for m in page if m.message_id not in seen]
                if not fresh:
                    break
                for message in fresh:
                    kept.append(message)
                    if len(seen) >= self.options.max_messages:
                        continue  # received beyond the bound: only made visible again
                    seen.add(message.message_id)
                    report = self.handle(message)
                    if not report.kept:
                        self.queue.delete(message)
                        kept.remove(message)
                    summary.add(report)
                    on_message(report)
        except BaseException:
            for message in kept:
                # The error in flight matters; a message not released reappears after its
                # visibility timeout.
                with suppress(CdcError):
                    self.queue.release(message)
            raise
        for message in kept:
            self.queue.release(message)
        return summary

    def handle(self, message: QueueMessage) -> MessageReport:
        """Parse, re-read and apply one message (it is not deleted here)."""
        try:
            batch = parse_failure_record(message.body)
        except PoisonError as exc:
            return MessageReport(
                message.message_id,
                Outcome.POISON,
                reason=f"not a Kinesis OnFailure invocation record: {exc}",
            )
        wanted = self.options.function
        if wanted is not None and not same_function(wanted, batch.function_arn):
            return MessageReport(
                message.message_id,
                Outcome.SKIPPED,
                batch,
                reason=f"a message of {batch.function_arn or 'an unnamed function'}",
            )
        read = read_range(self.kinesis(batch.region), batch, self.retry, self.options.limits)
        report = MessageReport(message.message_id, Outcome.RETRY, batch, len(read.records))
        if read.outcome is Outcome.PAST_RETENTION:
            report.outcome = Outcome.PAST_RETENTION
            report.reason = f"past the stream's retention ({read.reason}): {replay_hint(batch)}"
            return report
        if read.outcome is not None:
            report.outcome = read.outcome
            report.reason = read.reason
            return report
        if self.options.dry_run:
            # Decode only: no projection, poison held in memory.
            decoded = process_batch(
                read.records, (), ListDeadLetterSink(), verify=self.options.verify
            )
            report.counts = decoded.counts
            report.outcome = Outcome.DRY_RUN
            return report
        self._apply(read.records, report)
        return report

    def _apply(self, records: list[StreamRecord], report: MessageReport) -> None:
        held: ListDeadLetterSink | None = None
        sink: DeadLetterSink
        if self.dead_letters is None:
            held = sink = ListDeadLetterSink()
        else:
            sink = self.dead_letters
        outcome = process_batch(records, self.projections, sink, verify=self.options.verify)
        report.counts = outcome.counts
        if outcome.retry_from is not None:
            report.outcome = Outcome.RETRY
            report.reason = (
                f"a target kept failing from {outcome.retry_from.position} on "
                f"({outcome.counts.retried} retryable failures; nothing lost, re-run)"
            )
            return
        if held is not None and held.letters:
            first = held.letters[0]
            report.outcome = Outcome.POISON
            report.reason = (
                f"{len(held.letters)} poison record(s), first at {first.shard_id}/"
                f"{first.sequence_number}: {first.reason[:300]} (re-run with --dead-letter FILE "
                "to set them aside)"
            )
            return
        report.outcome = Outcome.APPLIED
