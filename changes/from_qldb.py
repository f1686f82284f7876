"""Turn QLDB revisions (from export blocks or stream REVISION_DETAILS) into :class:`Change`.

Kind inference (QLDB never states it):
``data`` present -> INSERT when ``version == 0`` else UPDATE; ``dataHash`` without ``data`` ->
REDACTION; neither -> DELETE.

A redaction committed while a stream runs reaches it only as a ``BLOCK_SUMMARY``'s
``redactionInfo`` (QLDB never sends the redacted revision again): :func:`redaction_notice` turns
one entry into a REDACTION change of that document and version, a *redaction notice*
(``Change.is_redaction_notice``). Pure.
"""

from __future__ import annotations

import base64
from binascii import b2a_base64 as _b64
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import InvalidRecordError, PoisonError
from core.ion_kinds import FieldKinds
from core.model import BlockAddress, Change, ChangeKind, DocKey, ExportOrigin, Origin, StreamOrigin
from schemas.ion_values import has_plain_form, plain_with_kinds
from schemas.journal import JournalBlock, JournalRevision, RejectedRevision
from schemas.qldb_stream import BlockSummaryRecord, RedactedRevision, RevisionDetailsRecord


@dataclass(frozen=True, slots=True)
class BlockChanges:
    """The projectable changes of one block, what was skipped (counted) and what is poison.

    ``rejected`` holds the block's revisions that break the format (see
    ``schemas.journal.RejectedRevision``) and those whose data has no plain form (nested too
    deeply, a symbol with unknown text); they are never projected and must be dead-lettered.
    """

    changes: list[Change]
    skipped_system: int
    skipped_no_table: int
    rejected: list[RejectedRevision]


def to_change(
    revision: JournalRevision,
    table: str,
    *,
    table_id: str | None = None,
    block: BlockAddress | None = None,
    origin: Origin | None = None,
) -> Change:
    """Build the change for one user revision of a document in ``table``."""
    meta = revision.metadata
    if meta is None:
        msg = "internal system revisions (hash only) have no change"
        raise InvalidRecordError(msg)
    address = revision.address or block
    if address is None:
        msg = f"document {meta.doc_id} v{meta.version} has no blockAddress"
        raise InvalidRecordError(msg)
    if revision.data is not None:
        kind = ChangeKind.INSERT if meta.version == 0 else ChangeKind.UPDATE
        data, kinds = plain_with_kinds(revision.data)
    elif revision.data_hash is not None:
        kind, data, kinds = ChangeKind.REDACTION, None, ()
    else:
        kind, data, kinds = ChangeKind.DELETE, None, ()
    return Change(
        key=DocKey(table, meta.doc_id),
        version=meta.version,
        kind=kind,
        data=data,
        tx_id=meta.tx_id,
        tx_time=meta.tx_time,
        block=address,
        revision_hash=base64.b64encode(revision.hash).decode("ascii"),
        data_hash=(
            None
            if revision.data_hash is None
            else base64.b64encode(revision.data_hash).decode("ascii")
        ),
        table_id=table_id,
        origin=origin,
        field_kinds=kinds,
    )


def stream_change(record: RevisionDetailsRecord, origin: StreamOrigin | None = None) -> Change:
    """The change of one stream ``REVISION_DETAILS`` record (kind inferred as for exports).

    Raises:
        InvalidRecordError: the revision has no metadata or no blockAddress.
    """
    return to_change(record.revision, record.table_name, table_id=record.table_id, origin=origin)


def redaction_notice(
    record: BlockSummaryRecord,
    redacted: RedactedRevision,
    table_name: str,
    origin: StreamOrigin | None = None,
) -> Change:
    """The REDACTION change of one ``redactionInfo`` entry of the stream record ``record``.

    ``table_name`` is the name of the table whose id the entry names (the entry has only the
    id). The change has the redacted revision's key, version and block; what the entry does not
    say stays unknown: ``revision_hash`` is empty and ``data_hash`` ``None`` (which makes it a
    notice), and ``tx_id`` / ``tx_time`` are the redacting block's ``transactionId`` and
    ``blockTimestamp``. Projections keep the revision's own metadata when they have it, or
    take it from a copy that arrives later (``Change.history_copy``).

    Raises:
        InvalidRecordError: the block summary lacks ``transactionId`` or ``blockTimestamp``.
    """
    block = record.block
    tx_id = block.transaction_id
    tx_time = block.timestamp
    if not tx_id or not tx_time:
        at = f"{block.address.strand_id}/{block.address.sequence_no}"
        msg = f"BLOCK_SUMMARY {at} with redactionInfo lacks transactionId or blockTimestamp"
        raise InvalidRecordError(msg)
    return Change(
        key=DocKey(table_name, redacted.document_id),
        version=redacted.version,
        kind=ChangeKind.REDACTION,
        data=None,
        tx_id=tx_id,
        tx_time=tx_time,
        block=redacted.address,
        revision_hash="",
        data_hash=None,
        table_id=redacted.table_id,
        origin=origin,
    )


def block_changes(
    block: JournalBlock, origin: ExportOrigin | None = None, *, keep_raw: bool = False
) -> BlockChanges:
    """Changes for every user revision of an export block, in block order.

    Hash-only system revisions are skipped and counted. A user revision whose document is not in
    ``transactionInfo.documents`` cannot be given a table; it is skipped and counted too.
    Revisions that are poison are returned in ``rejected``. Each change's ``origin`` is
    ``origin``; with ``keep_raw`` (and an ``origin``) it is a copy with ``raw``, the revision as
    decoded, and ``source``, the block's bytes when the reader kept them (dead-letter sinks use
    them).
    """
    changes: list[Change] = []
    rejected = list(block.rejected)
    system = no_table = 0
    documents = block.documents
    block_address = block.address
    for revision in block.revisions:
        meta = revision.metadata
        if meta is None:
            system += 1
            continue
        ref = documents.get(meta.doc_id)
        if ref is None:
            no_table += 1
            continue
        # Without raw values every change of the block shares one (read-only) origin.
        where = (
            ExportOrigin(origin.export_id, origin.key, revision.raw, block.source)
            if keep_raw and origin is not None
            else origin
        )
        # Inlined to_change (same result): this loop runs once per revision of a replay.
        data = revision.data
        data_hash = revision.data_hash
        kinds: FieldKinds = ()
        if data is not None:
            kind = ChangeKind.INSERT if meta.version == 0 else ChangeKind.UPDATE
            try:
                data, kinds = plain_with_kinds(data)
            except PoisonError as exc:
                at = f"block {block_address.strand_id}/{block_address.sequence_no}"
                reason = f"{at}: document {meta.doc_id} v{meta.version}: {exc}"
                rejected.append(
                    RejectedRevision(None, reason, meta.doc_id, meta.version, revision.raw)
                )
                continue
        elif data_hash is not None:
            kind = ChangeKind.REDACTION
        else:
            kind = ChangeKind.DELETE
        changes.append(
            Change(
                DocKey(ref.table_name, meta.doc_id),
                meta.version,
                kind,
                data,
                meta.tx_id,
                meta.tx_time,
                revision.address or block_address,
                _b64(revision.hash, newline=False).decode("ascii"),
                None if data_hash is None else _b64(data_hash, newline=False).decode("ascii"),
                ref.table_id,
                where,
                kinds,
            )
        )
    return BlockChanges(
        changes=changes, skipped_system=system, skipped_no_table=no_table, rejected=rejected
    )


def rejected_revisions(block: JournalBlock) -> list[RejectedRevision]:
    """``block_changes(block).rejected``, without building the changes.

    For callers that only list what a replay would dead-letter (``qldb-cdc verify``): the data
    of a revision is converted (the exact same way, same messages) only when the cheap
    :func:`~schemas.ion_values.has_plain_form` cannot tell that it converts.
    """
    rejected = list(block.rejected)
    documents = block.documents
    for revision in block.revisions:
        meta = revision.metadata
        if meta is None or meta.doc_id not in documents:
            continue
        data = revision.data
        if data is None or has_plain_form(data):
            continue
        try:
            plain_with_kinds(data)  # as block_changes converts it
        except PoisonError as exc:
            at = f"block {block.address.strand_id}/{block.address.sequence_no}"
            reason = f"{at}: document {meta.doc_id} v{meta.version}: {exc}"
            rejected.append(RejectedRevision(None, reason, meta.doc_id, meta.version, revision.raw))
    return rejected


def iter_changes(blocks: list[JournalBlock]) -> Iterator[Change]:
    """All changes of ``blocks`` in order (convenience for tests and small inputs)."""
    for block in blocks:
        yield from block_changes(block).changes
