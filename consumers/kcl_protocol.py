"""The KCL MultiLangDaemon protocol: JSON lines between the Java daemon and this child process.

The daemon starts one child per shard lease and talks to it over the child's stdin/stdout, one
JSON object per line. Sources (checked against the reference client):

* ``awslabs/amazon-kinesis-client-python`` ``amazon_kclpy/kcl.py`` (``_IOHandler``,
  ``Checkpointer.checkpoint``, ``KCLProcess._handle_a_line``), ``amazon_kclpy/messages.py``
  (message fields), ``amazon_kclpy/dispatch.py`` (action names), ``amazon_kclpy/v3/processor.py``
  (``lease_lost``/``shard_ended``/``shutdown_requested`` semantics) and
  ``amazon_kclpy/checkpoint_error.py`` (checkpoint errors are Java exception names);
* the Java ``software.amazon.kinesis.multilang`` package (``MultiLangDaemon``,
  ``MultiLangProtocol``, ``messages.*Message``) of ``awslabs/amazon-kinesis-client``.

Messages from the daemon (:func:`parse_message`)::

    {"action":"initialize","shardId":..,"sequenceNumber":..,"subSequenceNumber":..}
    {"action":"processRecords","records":[{"data":<base64>,"partitionKey":..,
        "sequenceNumber":..,"subSequenceNumber":..,"approximateArrivalTimestamp":<ms>}],
        "millisBehindLatest":..}
    {"action":"leaseLost"}   {"action":"shardEnded"}   {"action":"shutdownRequested"}
    {"action":"shutdown","reason":"TERMINATE"|"ZOMBIE"}      (KCL 1.x daemons)
    {"action":"checkpoint","sequenceNumber":..,"subSequenceNumber":..,"error":null|"<Name>"}

Messages from the child (:class:`DaemonChannel`): ``{"action":"status","responseFor":<action>}``
after each message has been handled, and ``{"action":"checkpoint","sequenceNumber":..,
"subSequenceNumber":..}`` whose reply is the daemon's ``checkpoint`` message above. A ``null``
sequence number checkpoints at the daemon's default position: SHARD_END while handling
``shardEnded``, the end of the latest delivered batch otherwise.

Guarantees of this module:

* stdout carries protocol lines only. Like kclpy, every line is written as ``"\\n{json}\\n"`` and
  flushed, so stray output from elsewhere cannot be interleaved into a protocol line; the reader
  skips blank lines.
* A line that is not a protocol message raises :class:`ProtocolError` (never ignored).
* A checkpoint reply carrying an error raises :class:`CheckpointError` with the Java exception
  name; :func:`checkpoint_with_retry` classifies it (retry with backoff, lease gone, or fatal).
  Anything but a checkpoint reply while a checkpoint is pending is a :class:`ProtocolError`: the
  Java daemon answers a pending checkpoint before it sends anything else, and the message read
  instead would otherwise be lost (kclpy reports it as ``InvalidStateException``, which is
  retried here).

``amazon_kclpy`` is not used even when importable (it does not install here: its setup downloads
the daemon's jars from Maven Central). Its ``KCLProcess._perform_action`` re-raises
``SystemExit`` (since kclpy 1.9.0) but catches every other ``Exception`` a processor raises, logs
it and still replies ``status``; a processor built on it would have to turn every failure into
``SystemExit`` so that a batch that failed to reach the projections is never acknowledged. This
module lets any failure end the process before ``status``.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from core.errors import CdcError
from core.retry import Backoff, Retry

RETRYABLE_CHECKPOINT_ERRORS = frozenset(
    {"ThrottlingException", "KinesisClientLibDependencyException", "InvalidStateException"}
)
"""Java exceptions after which the same checkpoint may succeed later, retried with backoff as the
reference sample (``samples/sample_kclpy_app.py`` ``checkpoint``) retries them: DynamoDB
throttling, a dependency failure, and ``InvalidStateException`` (the lease table is missing or
not ready, or the lease row could not be read: a state of the lease table, not of this
processor, so a later checkpoint may well succeed)."""

LEASE_GONE_CHECKPOINT_ERRORS = frozenset({"ShutdownException"})
"""Java exceptions meaning this processor no longer holds the lease: another worker may already
process the shard, so the checkpoint is not retried (the sample skips it too)."""


class ProtocolError(CdcError):
    """The daemon sent something that is not a protocol message; the child cannot continue."""


class CheckpointError(CdcError):
    """The daemon answered a checkpoint request with an error.

    Attributes:
        name: the Java exception name sent by the daemon (``ThrottlingException``...).
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"checkpoint failed: {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Initialize:
    """``initialize``: the shard this child processes and the checkpoint it resumes from."""

    shard_id: str
    sequence_number: str | None
    sub_sequence_number: int | None
    action: str = "initialize"


@dataclass(frozen=True, slots=True)
class ProcessRecords:
    """``processRecords``: de-aggregated user records, in shard order, as raw JSON objects."""

    records: tuple[dict[str, Any], ...]
    millis_behind_latest: int | None
    action: str = "processRecords"


@dataclass(frozen=True, slots=True)
class LeaseLost:
    """``leaseLost`` (or KCL 1.x ``shutdown`` with reason ZOMBIE): never checkpoint."""

    action: str = "leaseLost"


@dataclass(frozen=True, slots=True)
class ShardEnded:
    """``shardEnded`` (or KCL 1.x ``shutdown`` with reason TERMINATE): checkpoint SHARD_END."""

    action: str = "shardEnded"


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """``shutdownRequested``: the worker is stopping; a last checkpoint is allowed."""

    action: str = "shutdownRequested"


@dataclass(frozen=True, slots=True)
class CheckpointReply:
    """The daemon's answer to a checkpoint request; ``error`` is a Java exception name or None."""

    sequence_number: str | None
    sub_sequence_number: int | None
    error: str | None
    action: str = "checkpoint"


Message = Initialize | ProcessRecords | LeaseLost | ShardEnded | ShutdownRequested | CheckpointReply
"""Every message the daemon can send."""


def parse_message(line: str) -> Message:
    """Decode one non-blank protocol line; raise ProtocolError for anything else.

    The ``action`` the child must echo in its status reply is ``message.action``; for a KCL 1.x
    ``shutdown`` message that is ``"shutdown"``, which this function preserves.
    """
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        msg = f"daemon line is not JSON: {line[:200]!r}"
        raise ProtocolError(msg) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("action"), str):
        msg = f"daemon message without an action: {line[:200]!r}"
        raise ProtocolError(msg)
    action: str = obj["action"]
    try:
        return _decode(action, obj)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"malformed {action!r} message ({exc!r}): {line[:200]!r}"
        raise ProtocolError(msg) from exc


def _decode(action: str, obj: dict[str, Any]) -> Message:
    if action == "initialize":
        return Initialize(
            shard_id=str(obj["shardId"]),
            sequence_number=_opt_str(obj.get("sequenceNumber")),
            sub_sequence_number=_opt_int(obj.get("subSequenceNumber")),
        )
    if action == "processRecords":
        records = obj["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            msg = "records must be a list of objects"
            raise TypeError(msg)
        return ProcessRecords(tuple(records), _opt_int(obj.get("millisBehindLatest")))
    if action == "leaseLost":
        return LeaseLost()
    if action == "shardEnded":
        return ShardEnded()
    if action == "shutdownRequested":
        return ShutdownRequested()
    if action == "shutdown":
        reason = obj["reason"]
        if reason == "TERMINATE":
            return ShardEnded(action="shutdown")
        if reason == "ZOMBIE":
            return LeaseLost(action="shutdown")
        msg = f"unknown shutdown reason {reason!r}"
        raise ValueError(msg)
    if action == "checkpoint":
        error = obj.get("error")
        return CheckpointReply(
            sequence_number=_opt_str(obj.get("sequenceNumber")),
            sub_sequence_number=_opt_int(obj.get("subSequenceNumber")),
            error=None if error is None else str(error),
        )
    msg = f"unknown action {action!r}"
    raise ValueError(msg)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


class DaemonChannel:
    """The child's side of the connection: reads daemon messages, writes replies.

    Not thread-safe; one channel per process, used by one loop.
    """

    def __init__(self, incoming: TextIO, outgoing: TextIO) -> None:
        """Wrap the daemon's stream (usually stdin) and the protocol stream (usually stdout)."""
        self._in = incoming
        self._out = outgoing

    def read_message(self) -> Message | None:
        """The next message, skipping blank lines; ``None`` when the daemon closed the stream."""
        while True:
            line = self._in.readline()
            if not line:
                return None
            if line.strip():
                return parse_message(line)

    def messages(self) -> Iterator[Message]:
        """Every message until the daemon closes the stream."""
        while (message := self.read_message()) is not None:
            yield message

    def send_status(self, response_for: str) -> None:
        """Tell the daemon that the message with action ``response_for`` has been handled."""
        self._write({"action": "status", "responseFor": response_for})

    def checkpoint(self, sequence_number: str | None, sub_sequence_number: int | None) -> None:
        """Ask the daemon to checkpoint and wait for its answer.

        ``None`` for both checkpoints at the daemon's default position (SHARD_END during
        ``shardEnded``). Raises CheckpointError with the daemon's exception name when the reply
        carries one, and ProtocolError when the daemon answers with anything but a checkpoint
        message or the stream ends.
        """
        self._write(
            {
                "action": "checkpoint",
                "sequenceNumber": sequence_number,
                "subSequenceNumber": sub_sequence_number,
            }
        )
        reply = self.read_message()
        if reply is None:
            msg = "daemon closed the stream while a checkpoint was pending"
            raise ProtocolError(msg)
        if not isinstance(reply, CheckpointReply):
            msg = f"daemon sent {reply.action!r} while a checkpoint was pending"
            raise ProtocolError(msg)
        if reply.error is not None:
            raise CheckpointError(reply.error)

    def _write(self, message: dict[str, Any]) -> None:
        self._out.write(f"\n{json.dumps(message)}\n")
        self._out.flush()


class CheckpointOutcome(enum.Enum):
    """What happened to a checkpoint request after retries."""

    DONE = "done"
    """The daemon stored the checkpoint."""
    GAVE_UP = "gave_up"
    """Still failing retryably after every attempt; a later checkpoint covers this position."""
    LEASE_GONE = "lease_gone"
    """ShutdownException: this processor no longer holds the lease."""


def checkpoint_with_retry(
    channel: DaemonChannel,
    sequence_number: str | None,
    sub_sequence_number: int | None,
    backoff: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _line: None,
) -> CheckpointOutcome:
    """Checkpoint, retrying retryable errors with backoff, and classify the result.

    Mirrors the reference sample (``samples/sample_kclpy_app.py`` ``checkpoint``): retryable names
    (:data:`RETRYABLE_CHECKPOINT_ERRORS`, ``InvalidStateException`` included) are retried up to
    ``backoff.attempts`` times, after which the outcome is ``GAVE_UP``;
    :data:`LEASE_GONE_CHECKPOINT_ERRORS` give ``LEASE_GONE`` at once. Any other exception name
    (``IllegalArgumentException`` for a position the daemon rejects...) is a bug on one side and
    is re-raised as CheckpointError (the sample logs and retries those; retrying a position the
    daemon refuses cannot succeed).
    """
    for attempt in Retry(backoff, sleep).attempts():
        try:
            channel.checkpoint(sequence_number, sub_sequence_number)
        except CheckpointError as exc:
            if exc.name in LEASE_GONE_CHECKPOINT_ERRORS:
                log(f"checkpoint at {sequence_number}/{sub_sequence_number}: {exc.name}")
                return CheckpointOutcome.LEASE_GONE
            if exc.name not in RETRYABLE_CHECKPOINT_ERRORS:
                raise
            log(
                f"checkpoint at {sequence_number}/{sub_sequence_number}: {exc.name} "
                f"(attempt {attempt}/{backoff.attempts})"
            )
        else:
            return CheckpointOutcome.DONE
    return CheckpointOutcome.GAVE_UP
