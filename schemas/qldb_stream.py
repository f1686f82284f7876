"""QLDB Streams records (one Ion value per Kinesis user record) as typed frozen values.

Every user record QLDB writes is ``{qldbStreamArn, recordType, payload}`` in Ion binary, with
``recordType`` one of ``CONTROL``, ``BLOCK_SUMMARY`` or ``REVISION_DETAILS``
(https://docs.aws.amazon.com/qldb/latest/developerguide/streams.records.html).

Guarantees of :func:`decode_stream_record`:

* It returns exactly one of :class:`ControlRecord`, :class:`BlockSummaryRecord` or
  :class:`RevisionDetailsRecord`, or raises a :class:`~core.errors.PoisonError` subclass:
  :class:`~core.errors.DecodeError` for bytes that are not one Ion value,
  :class:`~core.errors.InvalidRecordError` for an unknown ``recordType`` or a payload that
  lacks or mistypes a field, always with a reason naming the field.
* The raw decoded Ion values needed for hash verification are kept (``raw``): the BLOCK_SUMMARY
  payload struct and the REVISION_DETAILS revision struct (inside ``revision.raw``).
* A BLOCK_SUMMARY's optional ``redactionInfo`` (``{revisions: [{blockAddress, tableId,
  documentId, version}]}``, written by ``REDACT_REVISION``) is typed as
  :attr:`BlockSummaryRecord.redactions`; it names the redacted revision by its block, table
  *id*, document id and version only (no table name, no ``dataHash``, no metadata). A
  malformed entry makes the whole record invalid.

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidRecordError
from core.model import BlockAddress
from schemas.ion_values import loads
from schemas.journal import (
    JournalBlock,
    JournalRevision,
    is_null,
    parse_address,
    parse_block,
    parse_revision,
    text_value,
    to_hash_bytes,
)
from schemas.limits import MAX_INT64

CONTROL = "CONTROL"
BLOCK_SUMMARY = "BLOCK_SUMMARY"
REVISION_DETAILS = "REVISION_DETAILS"
RECORD_TYPES = (CONTROL, BLOCK_SUMMARY, REVISION_DETAILS)


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """``CONTROL``: ``CREATED`` is a stream's first record, ``COMPLETED`` its last (if bounded)."""

    stream_arn: str
    control_type: str


@dataclass(frozen=True, slots=True)
class RevisionSummary:
    """One ``revisionSummaries`` entry; ``document_id`` is ``None`` for system revisions."""

    hash: bytes
    document_id: str | None


@dataclass(frozen=True, slots=True)
class RedactedRevision:
    """One ``redactionInfo.revisions`` entry: the revision a ``REDACT_REVISION`` redacted.

    ``address`` is the block of the *redacted revision* (not of the redaction); the table is
    named by its id only.
    """

    address: BlockAddress
    table_id: str
    document_id: str
    version: int


@dataclass(frozen=True, slots=True)
class BlockSummaryRecord:
    """``BLOCK_SUMMARY``: one per committed journal block.

    ``block`` is the payload typed as a journal block header (no ``revisions``);
    ``revision_summaries`` lists every revision hash of the block in order; ``redactions`` the
    revisions its ``redactionInfo`` redacts (empty for every other block); ``raw`` is the
    decoded payload struct as read, for hash verification.
    """

    stream_arn: str
    block: JournalBlock
    revision_summaries: tuple[RevisionSummary, ...]
    raw: Any = field(repr=False, compare=False)
    redactions: tuple[RedactedRevision, ...] = ()


@dataclass(frozen=True, slots=True)
class RevisionDetailsRecord:
    """``REVISION_DETAILS``: one per user-document revision, with the table it belongs to."""

    stream_arn: str
    table_name: str
    table_id: str | None
    revision: JournalRevision


StreamRecordValue = ControlRecord | BlockSummaryRecord | RevisionDetailsRecord


def decode_stream_record(data: bytes, *, exact: bool = True) -> StreamRecordValue:
    """Decode one QLDB stream user record (Ion binary or text) into its typed form.

    ``exact=False`` decodes faster (structs as plain dicts) for records that are only projected;
    keep the default when the raw values will be hash-verified.

    Raises:
        DecodeError: ``data`` is not exactly one Ion value.
        InvalidRecordError: unknown ``recordType`` or a missing or mistyped field.
    """
    value = loads(data, exact=exact)
    if not isinstance(value, Mapping):
        msg = f"QLDB stream record must be an Ion struct, got {type(value).__name__}"
        raise InvalidRecordError(msg)
    record_type = text_value(value.get("recordType"), "recordType")
    stream_arn = text_value(value.get("qldbStreamArn"), "qldbStreamArn")
    payload = value.get("payload")
    if not isinstance(payload, Mapping):
        msg = f"{record_type} record lacks a payload struct"
        raise InvalidRecordError(msg)
    if record_type == REVISION_DETAILS:
        return _revision_details(stream_arn, payload)
    if record_type == BLOCK_SUMMARY:
        return _block_summary(stream_arn, payload)
    if record_type == CONTROL:
        control = text_value(payload.get("controlRecordType"), "payload.controlRecordType")
        return ControlRecord(stream_arn=stream_arn, control_type=control)
    msg = f"unknown QLDB stream recordType {record_type!r} (expected one of {RECORD_TYPES})"
    raise InvalidRecordError(msg)


def _revision_details(stream_arn: str, payload: Mapping[str, Any]) -> RevisionDetailsRecord:
    table_info = payload.get("tableInfo")
    if not isinstance(table_info, Mapping):
        msg = "REVISION_DETAILS payload lacks a tableInfo struct"
        raise InvalidRecordError(msg)
    table_name = text_value(table_info.get("tableName"), "payload.tableInfo.tableName")
    raw_id = table_info.get("tableId")
    table_id = None if is_null(raw_id) else text_value(raw_id, "payload.tableInfo.tableId")
    raw_revision = payload.get("revision")
    if is_null(raw_revision):
        msg = f"REVISION_DETAILS payload for table {table_name} lacks a revision"
        raise InvalidRecordError(msg)
    revision = parse_revision(raw_revision, f"REVISION_DETAILS {table_name}")
    if revision.metadata is None:
        msg = f"REVISION_DETAILS revision for table {table_name} lacks metadata"
        raise InvalidRecordError(msg)
    if revision.address is None:
        msg = (
            f"REVISION_DETAILS revision {revision.metadata.doc_id} "
            f"v{revision.metadata.version} lacks blockAddress"
        )
        raise InvalidRecordError(msg)
    return RevisionDetailsRecord(
        stream_arn=stream_arn, table_name=table_name, table_id=table_id, revision=revision
    )


def _block_summary(stream_arn: str, payload: Mapping[str, Any]) -> BlockSummaryRecord:
    block = parse_block(payload)
    raw_summaries = payload.get("revisionSummaries")
    summaries: list[RevisionSummary] = []
    if not is_null(raw_summaries):
        if not isinstance(raw_summaries, list):
            msg = "BLOCK_SUMMARY revisionSummaries must be a list"
            raise InvalidRecordError(msg)
        for index, entry in enumerate(raw_summaries):
            if not isinstance(entry, Mapping):
                msg = f"BLOCK_SUMMARY revisionSummaries[{index}] must be a struct"
                raise InvalidRecordError(msg)
            what = f"BLOCK_SUMMARY revisionSummaries[{index}]"
            entry_hash = entry.get("hash")
            if is_null(entry_hash):
                msg = f"{what} lacks hash"
                raise InvalidRecordError(msg)
            doc = entry.get("documentId")
            summaries.append(
                RevisionSummary(
                    hash=to_hash_bytes(entry_hash, f"{what}.hash"),
                    document_id=None if is_null(doc) else text_value(doc, f"{what}.documentId"),
                )
            )
    return BlockSummaryRecord(
        stream_arn=stream_arn,
        block=block,
        revision_summaries=tuple(summaries),
        raw=payload,
        redactions=_redactions(payload.get("redactionInfo")),
    )


def _redactions(info: Any) -> tuple[RedactedRevision, ...]:
    """Type ``redactionInfo``; absent or null means none."""
    if is_null(info):
        return ()
    if not isinstance(info, Mapping):
        msg = "BLOCK_SUMMARY redactionInfo must be a struct"
        raise InvalidRecordError(msg)
    entries = info.get("revisions")
    if is_null(entries):
        return ()
    if not isinstance(entries, list):
        msg = "BLOCK_SUMMARY redactionInfo.revisions must be a list"
        raise InvalidRecordError(msg)
    out: list[RedactedRevision] = []
    for index, entry in enumerate(entries):
        what = f"BLOCK_SUMMARY redactionInfo.revisions[{index}]"
        if not isinstance(entry, Mapping):
            msg = f"{what} must be a struct"
            raise InvalidRecordError(msg)
        table_id = text_value(entry.get("tableId"), f"{what}.tableId")
        doc_id = text_value(entry.get("documentId"), f"{what}.documentId")
        if not table_id or not doc_id:
            msg = f"{what} has an empty tableId or documentId"
            raise InvalidRecordError(msg)
        version = entry.get("version")
        if (
            isinstance(version, bool)
            or not isinstance(version, int)
            or not 0 <= version <= MAX_INT64
        ):
            msg = f"{what}.version must be a non-negative 64-bit integer"
            raise InvalidRecordError(msg)
        out.append(
            RedactedRevision(
                address=parse_address(entry.get("blockAddress"), what),
                table_id=table_id,
                document_id=doc_id,
                version=int(version),
            )
        )
    return tuple(out)
