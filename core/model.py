"""Frozen value types for document revisions, independent of where they were read from.

The QLDB document ``version`` is the only ordering authority: two changes to the same
:class:`DocKey` are ordered by version alone, never by arrival, Kinesis sequence number or
block position.

A change also says where it came from (:attr:`Change.origin`): an :class:`ExportOrigin` (export
object, and the revision's own bytes when a dead-letter sink needs them) or a
:class:`StreamOrigin` (the Kinesis record), so failures can be reported back to the source.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from core.fast_init import fast_init
from core.ion_kinds import FieldKinds


class ChangeKind(enum.Enum):
    """What a revision did to its document, inferred from its shape (QLDB never says)."""

    INSERT = "insert"
    """``version == 0`` with ``data``."""
    UPDATE = "update"
    """``version > 0`` with ``data``."""
    DELETE = "delete"
    """No ``data`` and no ``dataHash``: a durable tombstone, never a physical delete."""
    REDACTION = "redaction"
    """``dataHash`` without ``data``: the revision's content was redacted, the document lives on."""


@fast_init
@dataclass(frozen=True, slots=True, order=True)
class DocKey:
    """Identity of a projected document: (ledger table name, QLDB document id)."""

    table: str
    doc_id: str


@fast_init
@dataclass(frozen=True, slots=True, order=True)
class BlockAddress:
    """Where a block sits in the journal; ``sequence_no`` grows by one per block in a strand."""

    strand_id: str
    sequence_no: int


@fast_init
@dataclass(frozen=True, slots=True)
class ExportOrigin:
    """Where an export change came from: the data object, and what a dead letter keeps of it.

    Attributes:
        export_id: the export the object belongs to.
        key: the data object's key.
        raw: the revision as decoded (an Ion value), or ``None`` when not kept.
        source: the bytes of the block holding the revision as read (JSON Lines exports), or
            ``None``.
    """

    export_id: str
    key: str
    raw: object = field(default=None, repr=False)
    source: bytes | None = field(default=None, repr=False)


class StreamPosition(Protocol):
    """What is reported about the Kinesis record a stream change came from
    (``schemas.kinesis.StreamRecord`` is one)."""

    @property
    def data(self) -> bytes:
        """The record's bytes."""
        ...

    @property
    def shard_id(self) -> str | None:
        """The shard, when known."""
        ...

    @property
    def sequence_number(self) -> str:
        """The outer Kinesis sequence number."""
        ...

    @property
    def sub_sequence_number(self) -> int | None:
        """The index inside a KPL aggregate, ``None`` for an outer record."""
        ...


@dataclass(frozen=True, slots=True)
class StreamOrigin:
    """Where a stream change came from: the index of its outer record in the batch and the user
    record."""

    index: int
    record: StreamPosition


Origin = ExportOrigin | StreamOrigin
"""What :attr:`Change.origin` holds when known."""


@fast_init
@dataclass(frozen=True, slots=True)
class Change:
    """One user-document revision, normalised.

    Attributes:
        key: (ledger table, document id).
        version: ``metadata.version``, 0-based, the only ordering authority.
        kind: insert, update, delete or redaction.
        data: the document as plain Python (see ``schemas.ion_values.to_plain``); ``None`` for
            deletes and redactions.
        tx_id: ``metadata.txId``.
        tx_time: ``metadata.txTime`` as ISO-8601 text with its original precision and offset.
        block: the block that committed the revision.
        revision_hash: base64 of the revision hash (SHA-256).
        data_hash: base64 of ``dataHash`` for redactions, else ``None``.
        table_id: the QLDB table id when known.
        origin: the record the change came from (:class:`ExportOrigin` or
            :class:`StreamOrigin`), used to report failures back to the source; not part of
            equality.
        field_kinds: the Ion type of each top-level field of ``data`` as decoded
            (:mod:`core.ion_kinds`); ``()`` when there is no data or nobody recorded them. Not
            part of equality: it says how the revision was read, ``revision_hash`` says which.
    """

    key: DocKey
    version: int
    kind: ChangeKind
    data: dict[str, Any] | None
    tx_id: str
    tx_time: str
    block: BlockAddress
    revision_hash: str
    data_hash: str | None = None
    table_id: str | None = None
    origin: Origin | None = field(default=None, compare=False, hash=False)
    field_kinds: FieldKinds = field(default=(), compare=False, hash=False, repr=False)

    @property
    def is_tombstone(self) -> bool:
        """True for deletes: the projection keeps ``deleted=true`` and the version, no data."""
        return self.kind is ChangeKind.DELETE

    @property
    def is_redacted(self) -> bool:
        """True for redactions: the revision's data is gone, its metadata and hash remain."""
        return self.kind is ChangeKind.REDACTION

    def supersedes(self, other: Change) -> bool:
        """Whether this change must replace ``other`` (same key) in a current-state projection.

        See :func:`wins`.
        """
        return wins(self.version, self.is_redacted, other.version, other.is_redacted)

    @property
    def is_redaction_notice(self) -> bool:
        """True for a redaction known only from a stream ``BLOCK_SUMMARY.redactionInfo``.

        Such a change names the revision (table, document id, version, block) but not its
        metadata: ``revision_hash`` is empty, ``data_hash`` is ``None`` and ``tx_id`` /
        ``tx_time`` are those of the *redacting* transaction. Every other change carries the
        revision's own metadata.
        """
        return self.kind is ChangeKind.REDACTION and not self.revision_hash

    def replaces_in_history(self, seen: Change | None) -> bool:
        """Whether this copy of a revision changes ``seen``, the stored copy of the same
        (key, version): when there is none, when this one is redacted and ``seen`` is not, when
        ``seen`` is a redaction notice and this copy brings the revision's metadata, or when
        both are redacted and only this one has the ``dataHash``."""
        return (
            seen is None
            or (self.is_redacted and not seen.is_redacted)
            or (seen.is_redaction_notice and not self.is_redaction_notice)
            or (
                self.is_redacted
                and self.data_hash is not None
                and seen.is_redacted
                and seen.data_hash is None
            )
        )

    def history_copy(self, seen: Change | None) -> Change | None:
        """What the history slot of this revision holds once this copy arrives over ``seen``,
        or ``None`` when ``seen`` stays as it is (see :meth:`replaces_in_history`).

        The stored copy is the merge of every copy: redacted (no data) as soon as one copy is,
        with the revision's own metadata as soon as one copy has it (a redaction notice keeps
        the metadata already stored; the unredacted copy arriving after a notice brings its
        metadata but not its data) and with the ``dataHash`` as soon as a redacted copy with
        one (an export's) arrives. The merge is commutative and idempotent, so any order and
        duplication of the copies gives the same row.
        """
        if not self.replaces_in_history(seen):
            return None
        if seen is None:
            return self
        if self.is_redaction_notice:
            return replace(seen, kind=ChangeKind.REDACTION, data=None, field_kinds=())
        if self.is_redacted:
            return self
        # seen is a notice: this (unredacted or deleted) copy brings the metadata only
        return replace(self, kind=ChangeKind.REDACTION, data=None, data_hash=None, field_kinds=())


def wins(version: int, redacted: bool, stored_version: int, stored_redacted: bool) -> bool:
    """The one ordering rule of every projection's current state.

    A higher version always wins. At equal versions only a redaction wins over the unredacted
    copy of the same revision (the redaction happened later in the journal); everything else at
    an equal version is a duplicate.
    """
    if version != stored_version:
        return version > stored_version
    return redacted and not stored_redacted
