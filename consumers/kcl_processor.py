"""KCL record processor: the child process a MultiLangDaemon starts for each shard lease.

Run as ``python -m consumers.kcl_processor`` (the ``executableName`` of the daemon's properties
file, see ``deploy/kcl/``). It speaks the JSON-line protocol of :mod:`consumers.kcl_protocol` on
stdin/stdout and writes every log line to stderr; ``sys.stdout`` is pointed at stderr at start-up
so a stray ``print`` in any library can never corrupt the protocol stream.

Guarantees:

* **Checkpoint only after every projection acknowledged.** Each ``processRecords`` batch goes
  through :func:`stream.pipeline.process_batch`. When it reports ``retry_from`` (a target
  failed retryably), the *whole* batch is processed again in-process with bounded exponential
  backoff; this is safe because every projection write is conditioned on the QLDB version, so
  re-applying is idempotent. Only when a run reports nothing to retry is the checkpoint written,
  at the ``(sequenceNumber, subSequenceNumber)`` of the batch's last record.
* **A batch that keeps failing stops the process.** After the last attempt the processor logs the
  reason to stderr and exits with status 4 *without* replying ``status`` and without
  checkpointing. The Java daemon treats a dead child as fatal (``MultiLangShardRecordProcessor``
  ``stopProcessing`` exits the JVM); once restarted by its supervisor, or on another worker after
  ``failoverTimeMillis``, the lease resumes from the last checkpoint, so nothing is skipped.
* **Poison never blocks.** Undecodable or invalid records are written to the dead-letter sink
  (with their raw bytes and reason) by ``process_batch`` (records the daemon sent malformed JSON
  for are dead-lettered here), so the checkpoint still advances past them. A dead-letter sink
  that cannot store a letter is a retryable failure of the batch.
* **Lease semantics.** ``leaseLost``: never checkpoint again (another worker may own the shard).
  ``shardEnded``: always checkpoint with no sequence number (SHARD_END) before replying, so
  child shards can start; KCL's ``ShutdownTask`` rejects a shard end whose processor did not
  (``Application didn't checkpoint at end of shard``), and the multilang daemon has already
  stopped the child by then, so the shard would stay unfinished until the worker restarts.
  ``shutdownRequested``: checkpoint the last fully applied position if it was not checkpointed
  yet (graceful lease hand-off in KCL 3).
* **Checkpoint errors** (as the reference sample ``samples/sample_kclpy_app.py`` handles them).
  ``ThrottlingException``, ``KinesisClientLibDependencyException`` and ``InvalidStateException``
  are retried with backoff a bounded number of times; if they persist the position is left for
  the next checkpoint (records after the last stored checkpoint are simply re-applied,
  idempotently), and the next batch checkpoints as usual. ``ShutdownException`` (the lease is
  gone) is not retried and ends checkpointing of batches for this process; the SHARD_END
  checkpoint is still attempted. A SHARD_END checkpoint still failing after every attempt ends
  the process without ``status`` (exit 4), so the daemon restarts and the shard end is retried
  instead of being left unfinished. Any other error name is a fatal protocol fault (exit 4).

Exit status (``consumers/exit_codes.py``): 0 when the daemon closes stdin; 4 (retryable) when a
batch could not be acknowledged, the shard end could not be checkpointed or the protocol broke;
2 for a configuration error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from consumers.exit_codes import ExitCode
from consumers.kcl_protocol import (
    CheckpointError,
    CheckpointOutcome,
    DaemonChannel,
    Initialize,
    LeaseLost,
    Message,
    ProcessRecords,
    ProtocolError,
    ShardEnded,
    ShutdownRequested,
    checkpoint_with_retry,
)
from consumers.settings import ENV_DEAD_LETTER_QUEUE_URL, ENV_TARGETS, Settings
from core.errors import (
    CdcError,
    ConfigError,
    PoisonError,
    RetryableError,
    UserInputError,
)
from core.retry import Backoff, Retry
from dead_letters.sinks import (
    DeadLetter,
    DeadLetterSink,
    JsonLinesDeadLetterSink,
    OncePerBatchDeadLetterSink,
    SqsDeadLetterSink,
)
from projections.base import Projection
from projections.closing import closing_all
from projections.targets import parse_target
from schemas.kinesis import StreamRecord, from_kcl
from stream.pipeline import BatchOutcome
from stream.pipeline import process_batch as pipeline_process_batch

LOG = logging.getLogger("qldb_cdc.kcl")

EXIT_OK = ExitCode.OK
EXIT_BATCH_FAILED = ExitCode.RETRYABLE  # the shard resumes from the last checkpoint
EXIT_CONFIG = ExitCode.USER_MISTAKE

Position = tuple[str, int | None]
"""A checkpointable shard position: (sequenceNumber, subSequenceNumber)."""

ProcessBatch = Callable[..., BatchOutcome]
"""The signature of :func:`stream.pipeline.process_batch` (injectable for unit tests)."""


class BatchNotAcknowledgedError(RetryableError):
    """A batch still had failing targets after every in-process attempt; the worker must stop."""


class ShardEndNotCheckpointedError(RetryableError):
    """The SHARD_END checkpoint still failed after every attempt; the worker must stop."""


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    """Retry bounds and options of one processor.

    Attributes:
        batch_backoff: attempts and delays for re-processing a batch some target rejected.
        checkpoint_backoff: attempts and delays for a throttled checkpoint.
        verify: recompute every revision's hash and dead-letter mismatches
            (``CDC_VERIFY_HASHES``).
    """

    batch_backoff: Backoff = field(default_factory=lambda: Backoff(6, 0.5, 20.0))
    checkpoint_backoff: Backoff = field(default_factory=lambda: Backoff(5, 1.0, 10.0))
    verify: bool = False


class KclRecordProcessor:
    """Handles the daemon's messages for one shard lease (see the module guarantees)."""

    def __init__(
        self,
        channel: DaemonChannel,
        projections: Sequence[Projection],
        dead_letters: DeadLetterSink,
        config: ProcessorConfig | None = None,
        *,
        process_batch: ProcessBatch = pipeline_process_batch,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Bind the protocol channel, the targets and the dead-letter sink."""
        self._channel = channel
        self._projections = list(projections)
        self._dead_letters = dead_letters
        self._config = config or ProcessorConfig()
        self._process_batch = process_batch
        self._sleep = sleep
        self.shard_id: str | None = None
        self.applied: Position | None = None
        """The last position whose batch every projection acknowledged."""
        self.checkpointed: Position | None = None
        """The last position the daemon confirmed storing."""
        self.may_checkpoint = True
        """False once the lease is gone (``leaseLost``, or a checkpoint's ShutdownException)."""

    def run(self) -> int:
        """Handle messages until the daemon closes stdin; return the process exit status."""
        try:
            for message in self._channel.messages():
                self.handle(message)
                self._channel.send_status(message.action)
        except (BatchNotAcknowledgedError, ShardEndNotCheckpointedError) as exc:
            LOG.error("stopping without checkpoint: %s", exc)
            return EXIT_BATCH_FAILED
        except (ProtocolError, CheckpointError) as exc:
            LOG.error("MultiLangDaemon protocol failure: %s", exc)
            return EXIT_BATCH_FAILED
        except UserInputError as exc:  # e.g. a PostgreSQL target whose database does not exist
            LOG.error("stopping without checkpoint: %s", exc)
            return EXIT_CONFIG
        return EXIT_OK

    def handle(self, message: Message) -> None:
        """Act on one daemon message (the caller replies ``status`` afterwards)."""
        if isinstance(message, Initialize):
            self.shard_id = message.shard_id
            LOG.info(
                "initialize shard %s at %s/%s",
                message.shard_id,
                message.sequence_number,
                message.sub_sequence_number,
            )
        elif isinstance(message, ProcessRecords):
            self.process_records(message)
        elif isinstance(message, LeaseLost):
            LOG.info("lease lost for shard %s: not checkpointing", self.shard_id)
            self.may_checkpoint = False
        elif isinstance(message, ShardEnded):
            self.shard_ended()
        elif isinstance(message, ShutdownRequested):
            if self.applied is not None and self.applied != self.checkpointed:
                LOG.info("shutdown requested: checkpointing %s", self.applied)
                self._checkpoint(*self.applied)
        else:
            msg = f"unexpected {message.action!r} message outside a checkpoint exchange"
            raise ProtocolError(msg)

    def process_records(self, message: ProcessRecords) -> None:
        """Apply one batch to every projection, then checkpoint its last record.

        Raises:
            BatchNotAcknowledgedError: some target still failed after every attempt.
        """
        position = _last_position(message.records)
        records, letters = self._decode_records(message.records)
        backoff = self._config.batch_backoff
        dead_letters = OncePerBatchDeadLetterSink(self._dead_letters)
        for attempt in Retry(backoff, self._sleep).attempts():
            reason = self._attempt(records, letters, dead_letters)
            if reason is None:
                break
            LOG.warning(
                "batch of %d records ending at %s, attempt %d/%d: %s",
                len(message.records),
                position,
                attempt,
                backoff.attempts,
                reason,
            )
            if attempt == backoff.attempts:
                msg = (
                    f"batch of {len(message.records)} records ending at {position} still "
                    f"failing after {attempt} attempts: {reason}"
                )
                raise BatchNotAcknowledgedError(msg)
        if position is not None:
            self.applied = position
            self._checkpoint(*position)

    def shard_ended(self) -> None:
        """Checkpoint SHARD_END, whatever happened to earlier checkpoints.

        Raises:
            ShardEndNotCheckpointedError: still failing retryably after every attempt.
        """
        LOG.info("shard %s ended: checkpointing SHARD_END", self.shard_id)
        outcome = self._checkpoint_now(None, None)
        if outcome is CheckpointOutcome.GAVE_UP:
            msg = (
                f"SHARD_END checkpoint of shard {self.shard_id} still failing after "
                f"{self._config.checkpoint_backoff.attempts} attempts"
            )
            raise ShardEndNotCheckpointedError(msg)
        if outcome is CheckpointOutcome.LEASE_GONE:
            LOG.warning(
                "shard %s ended after its lease was lost: its new owner ends it", self.shard_id
            )

    def _attempt(
        self,
        records: list[StreamRecord],
        letters: list[DeadLetter],
        dead_letters: OncePerBatchDeadLetterSink,
    ) -> str | None:
        """One try at the batch; the reason it must be retried, or None when acknowledged.

        Every dead letter goes through ``dead_letters``, one wrapper per batch, so a batch retried
        in-process stores each poison record once.
        """
        try:
            for letter in letters:
                dead_letters.put(letter)
            outcome = self._process_batch(
                records, self._projections, dead_letters, verify=self._config.verify
            )
        except RetryableError as exc:
            return f"{type(exc).__name__}: {exc}"
        LOG.info("batch counts: %s", outcome.counts)
        if outcome.retry_from is not None:
            return f"a target asked to retry from {outcome.retry_from.position}"
        return None

    def _decode_records(
        self, raw: Sequence[dict[str, Any]]
    ) -> tuple[list[StreamRecord], list[DeadLetter]]:
        records: list[StreamRecord] = []
        letters: list[DeadLetter] = []
        for record in raw:
            try:
                records.append(from_kcl(record, self.shard_id))
            except PoisonError as exc:
                letters.append(
                    DeadLetter(
                        raw=json.dumps(record, sort_keys=True).encode("utf-8"),
                        shard_id=self.shard_id,
                        sequence_number=str(record.get("sequenceNumber", "")),
                        sub_sequence_number=_opt_int(record.get("subSequenceNumber")),
                        reason=f"malformed KCL record: {exc}",
                        error_class=type(exc).__name__,
                    )
                )
        return records, letters

    def _checkpoint(self, sequence_number: str | None, sub_sequence_number: int | None) -> None:
        """Checkpoint a batch position unless the lease is gone; a failure leaves it for later."""
        if not self.may_checkpoint:
            LOG.warning("lease lost earlier; not checkpointing %s", sequence_number)
            return
        outcome = self._checkpoint_now(sequence_number, sub_sequence_number)
        if outcome is CheckpointOutcome.GAVE_UP:
            LOG.warning("checkpoint at %s left for later (still failing)", sequence_number)

    def _checkpoint_now(
        self, sequence_number: str | None, sub_sequence_number: int | None
    ) -> CheckpointOutcome:
        outcome = checkpoint_with_retry(
            self._channel,
            sequence_number,
            sub_sequence_number,
            self._config.checkpoint_backoff,
            sleep=self._sleep,
            log=LOG.warning,
        )
        if outcome is CheckpointOutcome.DONE:
            if sequence_number is not None:
                self.checkpointed = (sequence_number, sub_sequence_number)
        elif outcome is CheckpointOutcome.LEASE_GONE:
            self.may_checkpoint = False
        return outcome


def _last_position(records: Sequence[dict[str, Any]]) -> Position | None:
    """The position of the batch's last record that has a sequence number."""
    for record in reversed(records):
        sequence = record.get("sequenceNumber")
        if isinstance(sequence, str) and sequence:
            return sequence, _opt_int(record.get("subSequenceNumber"))
    return None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- composition root


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m consumers.kcl_processor",
        description="QLDB CDC record processor for the KCL MultiLangDaemon (stdin/stdout).",
    )
    parser.add_argument("--targets", help="comma-separated projection URIs (CDC_TARGETS)")
    sink = parser.add_mutually_exclusive_group()
    sink.add_argument("--dead-letter-queue-url", help="SQS queue URL (CDC_DEAD_LETTER_QUEUE_URL)")
    sink.add_argument("--dead-letter-file", help="append dead letters to this JSON-lines file")
    parser.add_argument(
        "--batch-attempts", type=int, default=6, help="tries per batch before exiting (6)"
    )
    parser.add_argument(
        "--checkpoint-attempts", type=int, default=5, help="tries per throttled checkpoint (5)"
    )
    parser.add_argument(
        "--retry-base-seconds", type=float, default=0.5, help="first backoff delay (0.5)"
    )
    parser.add_argument(
        "--retry-cap-seconds", type=float, default=20.0, help="largest backoff delay (20)"
    )
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point: configure from env and flags, then serve the daemon until it hangs up.

    ``sys.stdout`` points at stderr while this runs (restored on return), so only protocol
    lines reach the daemon's pipe.
    """
    protocol_out = sys.stdout
    sys.stdout = sys.stderr
    try:
        return _serve(argv, os.environ if env is None else env, protocol_out)
    finally:
        sys.stdout = protocol_out


def _serve(argv: Sequence[str] | None, env: Mapping[str, str], protocol_out: TextIO) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args, env)
        logging.basicConfig(
            stream=sys.stderr,
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s",
        )
        projections, sink, config = _configure(args, settings)
    except UserInputError as exc:
        sys.stderr.write(f"qldb-cdc kcl: {exc}\n")
        return EXIT_CONFIG
    except CdcError as exc:
        sys.stderr.write(f"qldb-cdc kcl: cannot start: {type(exc).__name__}: {exc}\n")
        return EXIT_BATCH_FAILED
    channel = DaemonChannel(sys.stdin, protocol_out)
    with closing_all(projections):
        return KclRecordProcessor(channel, projections, sink, config).run()


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """``Settings.from_env`` with the command-line flags overriding their variables."""
    merged = dict(env)
    if args.targets:
        merged[ENV_TARGETS] = args.targets
    if args.dead_letter_queue_url:
        merged[ENV_DEAD_LETTER_QUEUE_URL] = args.dead_letter_queue_url
    settings = Settings.from_env(merged, require_dead_letter_queue=not args.dead_letter_file)
    if args.dead_letter_file and settings.dead_letter_queue_url:
        msg = "give one dead-letter sink: --dead-letter-file or an SQS queue URL, not both"
        raise ConfigError(msg)
    return settings


def _configure(
    args: argparse.Namespace, settings: Settings
) -> tuple[list[Projection], DeadLetterSink, ProcessorConfig]:
    try:
        backoff = Backoff(args.batch_attempts, args.retry_base_seconds, args.retry_cap_seconds)
        checkpoint_backoff = replace(backoff, attempts=args.checkpoint_attempts)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    config = ProcessorConfig(backoff, checkpoint_backoff, verify=settings.verify_hashes)
    specs = [parse_target(uri) for uri in settings.targets]  # before any sink or client exists
    sink = _dead_letter_sink(args.dead_letter_file, settings.dead_letter_queue_url)
    projections: list[Projection] = []
    try:
        for spec in specs:
            projections.append(spec.open())
    except CdcError:
        with closing_all(projections):
            raise
    return projections, sink, config


def _dead_letter_sink(path: str | None, queue_url: str | None) -> DeadLetterSink:
    if path:
        sink = JsonLinesDeadLetterSink(path)
        sink.check_writable()
        return sink
    if not queue_url:
        msg = "no dead-letter sink: set CDC_DEAD_LETTER_QUEUE_URL or pass --dead-letter-file"
        raise ConfigError(msg)
    import boto3

    return SqsDeadLetterSink(boto3.client("sqs"), queue_url)


if __name__ == "__main__":
    sys.exit(main())
