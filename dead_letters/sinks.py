"""Dead-letter sinks: where poison records go, with their raw bytes and the reason.

A dead letter is the only way a record may leave the stream path without reaching the
projections, so writing one must succeed or be reported: every sink here raises (or reports)
:class:`~core.errors.RetryableError` when a letter could not be stored, and the caller then
reports the record as failed so Kinesis redelivers it. Nothing is ever silently dropped.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ConfigError, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_MAX_BODY = 256 * 1024
"""SQS's classic maximum message (and SendMessageBatch request payload) size in bytes."""
SQS_MAX_BATCH = 10
"""SendMessageBatch accepts at most ten entries."""
_RAW_CHUNK = 150 * 1024
"""Raw bytes per SQS message; base64 (x4/3) plus the JSON envelope stays under SQS_MAX_BODY."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that can never be processed, with enough context to replay or inspect it.

    Attributes:
        raw: the exact bytes that failed (the KPL user record, or the outer record when it could
            not be de-aggregated).
        shard_id: the Kinesis shard, when known.
        sequence_number: the outer Kinesis sequence number.
        sub_sequence_number: the index inside the KPL aggregate, ``None`` for an outer record.
        reason: why it is poison (the error message).
        error_class: the error class name (``DecodeError``, ``VerificationError``...).
        target: the projection that refused the record, for per-target failures.
        document_key: ``table/docId@version`` when the record was decoded that far.
        raw_format: what ``raw`` holds when it is not the Kinesis user record itself:
            ``ion_binary`` (an export revision, re-encoded), ``json_line`` (the JSON Lines line of
            the export block holding the revision, exactly as read) or ``none`` (no encoding
            of the value exists; ``reason`` says why and the position names the source).
    """

    raw: bytes
    shard_id: str | None
    sequence_number: str
    sub_sequence_number: int | None
    reason: str
    error_class: str
    target: str | None = None
    document_key: str | None = None
    raw_format: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form (raw bytes as standard base64) used by the SQS sink."""
        return {
            "rawBase64": base64.b64encode(self.raw).decode("ascii"),
            "shardId": self.shard_id,
            "sequenceNumber": self.sequence_number,
            "subSequenceNumber": self.sub_sequence_number,
            "reason": self.reason,
            "errorClass": self.error_class,
            "target": self.target,
            "documentKey": self.document_key,
            **({"rawFormat": self.raw_format} if self.raw_format is not None else {}),
        }


@runtime_checkable
class DeadLetterSink(Protocol):
    """Stores one dead letter; raises RetryableError when it could not be stored."""

    def put(self, letter: DeadLetter) -> None:
        """Store ``letter`` durably or raise RetryableError."""
        ...


@runtime_checkable
class BatchDeadLetterSink(DeadLetterSink, Protocol):
    """A sink that can store many letters in fewer calls."""

    def put_many(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Store ``letters``; return the ones that could not be stored (empty on success)."""
        ...


@dataclass
class ListDeadLetterSink:
    """Keeps letters in memory (tests and dry runs). ``fail`` makes every put fail retryably."""

    letters: list[DeadLetter] = field(default_factory=list)
    fail: bool = False

    def put(self, letter: DeadLetter) -> None:
        """Append ``letter``, or raise RetryableError when ``fail`` is set."""
        if self.fail:
            msg = "dead-letter sink unavailable (ListDeadLetterSink.fail is set)"
            raise RetryableError(msg)
        self.letters.append(letter)


class SqsDeadLetterSink:
    """Sends dead letters to an SQS queue as JSON (raw bytes in base64).

    Guarantees: a letter whose raw bytes do not fit one message is split into several messages
    sharing ``letterId`` with ``part``/``parts`` set, so nothing is truncated. Entries are sent
    with SendMessageBatch (at most 10 and 256 KiB per call) and per-entry failures are checked;
    a letter counts as stored only when all its parts were accepted.
    """

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        """Use an SQS ``client`` (boto3) and the target ``queue_url``."""
        self._client = client
        self._queue_url = queue_url

    def put(self, letter: DeadLetter) -> None:
        """Store one letter or raise RetryableError."""
        failed = self.put_many([letter])
        if failed:
            msg = f"could not write dead letter for {letter.sequence_number} to SQS"
            raise RetryableError(msg)

    def put_many(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Store ``letters``; return those with at least one part SQS did not accept."""
        entries: list[tuple[int, dict[str, str]]] = []
        for index, letter in enumerate(letters):
            entries.extend((index, body) for body in _bodies(letter))
        failed_letters: set[int] = set()
        for chunk in _batches(entries):
            failed_letters |= self._send(chunk)
        return [letters[i] for i in sorted(failed_letters)]

    def _send(self, chunk: list[tuple[int, dict[str, str]]]) -> set[int]:
        request: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "MessageBody": body["body"]} for n, (_, body) in enumerate(chunk)
        ]
        try:
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=request)
        except (ClientError, BotoCoreError):
            # Throttling, 5xx, timeouts, a missing queue or credentials: the letters are not
            # stored, so the records they came from must be redelivered.
            return {index for index, _ in chunk}
        failed = response.get("Failed") or []
        return {chunk[int(entry["Id"])][0] for entry in failed}


def _bodies(letter: DeadLetter) -> list[dict[str, str]]:
    base = letter.to_json_dict()
    raw = letter.raw
    parts = max(1, -(-len(raw) // _RAW_CHUNK))
    if parts == 1:
        return [{"body": json.dumps(base)}]
    letter_id = str(uuid.uuid4())
    out = []
    for part in range(parts):
        piece = raw[part * _RAW_CHUNK : (part + 1) * _RAW_CHUNK]
        body = dict(base, rawBase64=base64.b64encode(piece).decode("ascii"))
        body.update(letterId=letter_id, part=part, parts=parts, rawLength=len(raw))
        out.append({"body": json.dumps(body)})
    return out


def _batches(
    entries: list[tuple[int, dict[str, str]]],
) -> list[list[tuple[int, dict[str, str]]]]:
    batches: list[list[tuple[int, dict[str, str]]]] = []
    current: list[tuple[int, dict[str, str]]] = []
    size = 0
    for entry in entries:
        length = len(entry[1]["body"].encode("utf-8"))
        if current and (len(current) == SQS_MAX_BATCH or size + length > SQS_MAX_BODY):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += length
    if current:
        batches.append(current)
    return batches


class JsonLinesDeadLetterSink:
    """Appends dead letters to a local file, one JSON object per line (local runs and tests).

    Each letter is written with one ``write`` call of a whole line, flushed and ``fsync``-ed before
    ``put`` returns; several processes may append to the same file (``O_APPEND``). A failed write
    raises RetryableError, so the record is retried rather than lost.
    """

    def __init__(self, path: str | Path) -> None:
        """Append to ``path`` (created if missing; its folder must exist)."""
        self._path = Path(path)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The file letters are appended to."""
        return self._path

    def check_writable(self) -> None:
        """Create the file (empty) if missing and open it for appending, before any work.

        Raises:
            ConfigError: the folder is missing, the path is a folder, or the file cannot be
                created or written; one line saying what to change.
        """
        where = f"dead-letter file {self._path}"
        folder = self._path.parent
        if not folder.is_dir():
            msg = f"{where}: folder {folder} does not exist (create it first)"
            raise ConfigError(msg)
        if self._path.is_dir():
            msg = f"{where} is a folder; give a file name such as {self._path / 'dead.jsonl'}"
            raise ConfigError(msg)
        try:
            with self._path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            msg = f"{where} cannot be written: {exc.strerror or exc}"
            raise ConfigError(msg) from None

    def put(self, letter: DeadLetter) -> None:
        """Store ``letter`` durably or raise RetryableError."""
        line = json.dumps(letter.to_json_dict(), sort_keys=True) + "\n"
        try:
            with self._lock, self._path.open("a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            msg = f"could not append dead letter to {self._path}: {exc}"
            raise RetryableError(msg) from exc


class OncePerBatchDeadLetterSink:
    """Wraps a sink so a batch retried in-process dead-letters each poison record only once.

    The identity of a letter is (sequence number, sub-sequence number, target, document key,
    error class); a letter already stored through this wrapper is not sent again. Use one wrapper
    per batch: a record redelivered later by Kinesis is a new delivery and is dead-lettered again.
    """

    def __init__(self, inner: DeadLetterSink) -> None:
        """Forward first-seen letters to ``inner``."""
        self._inner = inner
        self._stored: set[tuple[object, ...]] = set()

    def put(self, letter: DeadLetter) -> None:
        """Store ``letter`` unless an identical one was stored through this wrapper."""
        identity = (
            letter.sequence_number,
            letter.sub_sequence_number,
            letter.target,
            letter.document_key,
            letter.error_class,
        )
        if identity in self._stored:
            return
        self._inner.put(letter)
        self._stored.add(identity)
