"""The Projection protocol and the report every ``apply`` returns.

Contract of :meth:`Projection.apply` (all projections, tested by ``tests/contract``):

* For each document, the stored current state becomes the change with the highest version ever
  applied (at an equal version a redaction wins over the unredacted copy). Deletes store a
  tombstone (``deleted=true`` plus the version, no data); nothing is ever physically deleted.
* A change that cannot win (older or equal version) is a success counted as ``stale``.
* Input order and duplicates do not matter; ``apply`` may coalesce the batch first.
* A change that could not be written is returned in ``failures`` with a :class:`RetryableError`
  (try again later: throttling, 5xx, timeouts) or a :class:`PoisonError` (can never be stored);
  only poison is ever dead-lettered.
  ``apply`` raises ``RetryableError`` itself only when nothing in the call can succeed.

Contract of :meth:`Projection.iter_current_state` (``qldb-cdc reconcile``): every stored
document exactly once (tombstones and redactions included, checkpoints never), streamed in
pages or through a cursor so memory does not grow with the number of documents.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from changes.reconcile import DocState
from changes.table_lifecycle import BlockLifecycle, LedgerTable
from core.errors import PoisonError, RetryableError
from core.ion_kinds import IonKind
from core.model import Change
from projections.athena_ddl import AthenaDdl
from projections.duckdb_views import DuckDbViews
from projections.view_plan import ViewsPlan
from schemas.view_mapping import ViewMapping


@dataclass(frozen=True, slots=True)
class Failure:
    """A change that was not written, and why: a :class:`PoisonError` or a
    :class:`RetryableError` (mypy checks it).

    Should an error of neither class get here anyway (an unclassified :class:`CdcError`), it
    counts as retryable: the change is kept (never dead-lettered, never checkpointed past).
    """

    change: Change
    error: PoisonError | RetryableError

    @property
    def retryable(self) -> bool:
        """True when the same change should be tried again later: every failure but poison."""
        return not self.poison

    @property
    def poison(self) -> bool:
        """True when the change can never be written and belongs in the dead-letter sink."""
        return isinstance(self.error, PoisonError)


@dataclass(slots=True)
class ApplyReport:
    """Counts of one ``apply`` call.

    Attributes:
        received: changes passed in, duplicates included.
        applied: current-state writes that took effect (inserts, updates, tombstones, redactions).
        stale: changes rejected by the version condition (older or duplicate).
        superseded: changes not written because a newer change for the same document was in the
            same batch (coalesced away).
        tombstones: applied deletes (a subset of ``applied``).
        redactions: applied redactions of the current state (a subset of ``applied``).
        history_written: new or newly redacted rows in revision history, for projections that
            keep one.
        history_redactions: redacted rows among ``history_written`` (a redaction of an older
            version changes history only, so ``redactions`` does not count it).
        failures: changes that were not written.
    """

    received: int = 0
    applied: int = 0
    stale: int = 0
    superseded: int = 0
    tombstones: int = 0
    redactions: int = 0
    history_written: int = 0
    history_redactions: int = 0
    failures: list[Failure] = field(default_factory=list)

    def merge(self, other: ApplyReport) -> None:
        """Add ``other``'s counts and failures to this report."""
        self.received += other.received
        self.applied += other.applied
        self.stale += other.stale
        self.superseded += other.superseded
        self.tombstones += other.tombstones
        self.redactions += other.redactions
        self.history_written += other.history_written
        self.history_redactions += other.history_redactions
        self.failures.extend(other.failures)


@runtime_checkable
class Projection(Protocol):
    """A read-side target. Implementations take their clients in ``__init__`` and read no env."""

    @property
    def name(self) -> str:
        """Short target name for logs, metrics and dead-letter keys (``sqlite``, ``s3``...)."""
        ...

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Make the target reflect ``changes`` under the contract in the module docstring."""
        ...

    def completed_objects(self, export_id: str) -> set[str]:
        """Export data-object keys whose changes this target has fully applied (replay resume)."""
        ...

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Record that every change of data object ``key`` has been applied to this target."""
        ...

    def iter_current_state(self) -> Iterator[DocState]:
        """Every stored document's current state, streamed (see the module docstring)."""
        ...

    def close(self) -> None:
        """Release connections; the projection is unusable afterwards."""
        ...


@runtime_checkable
class TableLifecycleProjection(Protocol):
    """Optional second protocol: a target that records ledger table lifecycle.

    The replay engine sends table events (CREATE/DROP/UNDROP TABLE statements) and table
    identities (name/id pairs) to every target that implements it (``isinstance`` check);
    other targets simply do not receive them. Contract (``changes.table_lifecycle``): storing is
    idempotent and order-independent, the state is ``changes.table_lifecycle.fold`` of
    everything stored, and no document data is ever deleted on DROP.
    """

    def apply_table_lifecycle(self, lifecycle: BlockLifecycle) -> None:
        """Store the events and identities; raise ``RetryableError`` when nothing was stored."""
        ...

    def ledger_tables(self) -> list[LedgerTable]:
        """Every known table's state, by name."""
        ...

    def active_tables(self) -> list[str]:
        """Names of the tables that are not dropped (``ACTIVE``), sorted."""
        ...

    def dropped_tables(self) -> list[str]:
        """Names of the dropped (``INACTIVE``) tables, sorted; their documents are kept."""
        ...


@runtime_checkable
class DocumentTableLookup(Protocol):
    """Optional protocol: a target that can name the ledger table of a document it stores from
    the document id alone (QLDB document ids are unique in a ledger).

    The stream pipeline asks it only for redaction notices (``BLOCK_SUMMARY.redactionInfo``,
    which names the table by id) whose table id neither the batch nor a recorded table
    lifecycle names, so a deployment without a SQL target can still apply them. Contract: a
    name is returned only for a document the target holds (live, deleted or redacted), and
    never when the target recorded a different table id for it; reads are bounded (a few
    requests, never a scan of the documents).
    """

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        """The ledger table of stored document ``document_id``, or ``None`` when not held.

        Raises:
            RetryableError: the target could not be read.
        """
        ...


@runtime_checkable
class TypedViewProjection(Protocol):
    """Optional protocol: a target that keeps the Ion kinds of every field and builds typed
    views from them (SQLite, PostgreSQL; README "Typed views").

    Contract: the kinds of every change's fields (``Change.field_kinds``) are stored in the
    same transaction as its data, as a union (so in any order and duplication); views are
    built from the projection alone.
    """

    def field_types(self) -> dict[str, dict[str, frozenset[IonKind]]]:
        """ledger table -> field -> every Ion kind recorded for it."""
        ...

    def refresh_views(self, mapping: ViewMapping, *, leave_out: Collection[str] = ()) -> ViewsPlan:
        """Drop the typed views qldb-cdc created and create the planned ones, atomically;
        ``leave_out`` tables get none. Raise ``ConfigError`` for an unusable mapped name."""
        ...


@runtime_checkable
class DdlProjection(Protocol):
    """Optional protocol: a target whose typed tables are created elsewhere, from DDL it
    prints (S3: Athena / Glue ``CREATE EXTERNAL TABLE``; README "S3 / Athena").

    Contract: like :class:`TypedViewProjection`, the kinds of every stored change's fields are
    recorded (a union, written before the batch counts as done), so the DDL is built from the
    target alone; building it changes nothing in the target.
    """

    @property
    def uri(self) -> str:
        """The target's URI (for the hint that ``qldb-cdc views --to URI`` prints the DDL)."""
        ...

    def field_types(self) -> dict[str, dict[str, frozenset[IonKind]]]:
        """ledger table -> field -> every Ion kind recorded for it."""
        ...

    def athena_ddl(self, mapping: ViewMapping, *, leave_out: Collection[str] = ()) -> AthenaDdl:
        """The DDL of every ledger table; ``leave_out`` tables get none. Raise
        ``ConfigError`` for an unusable mapped name."""
        ...

    def duckdb_views(
        self, mapping: ViewMapping, *, leave_out: Collection[str] = (), root: str | None = None
    ) -> DuckDbViews:
        """DuckDB ``CREATE OR REPLACE VIEW`` statements of every ledger table, reading the
        target or ``root`` (a local copy of its objects)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One stored document state or revision, as a snapshot reads it (``data`` is the JSON
    text of ``core.json_codec``, ``None`` for tombstones and redactions)."""

    document_id: str
    version: int
    tx_id: str
    tx_time: str
    deleted: bool
    redacted: bool
    data: str | None


@runtime_checkable
class SnapshotSource(Protocol):
    """Optional protocol: a projection a columnar snapshot can be read from (SQLite,
    PostgreSQL; ``qldb-cdc snapshot``).

    Contract: :meth:`iter_rows` reads one consistent state of one ledger table with constant
    memory (a cursor), ordered by document id (and version for history).
    """

    def field_records(self) -> list[tuple[str, str, str]]:
        """Every recorded (ledger table, field, Ion kind or numeric shape mark)."""
        ...

    def consistent_read(self) -> contextlib.AbstractContextManager[None]:
        """A block in which every read sees one state (the field records and every table as
        of one moment), whatever is written meanwhile."""
        ...

    def stored_tables(self) -> list[str]:
        """The ledger tables with documents, sorted."""
        ...

    def iter_rows(self, table: str, *, history: bool) -> Iterator[StoredRow]:
        """The live documents of ``table`` (``history``: every revision, tombstones too)."""
        ...
