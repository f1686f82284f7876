"""In-memory projection: the reference semantics every real projection is tested against.

It keeps the same two views as the SQL projections (current state per document and every
revision once) in dictionaries. The contract suite (``tests/contract``) checks every real
projection's final state and per-batch counts against it. It stores any Python value, so it
never fails (not even for text that is not valid UTF-8, which real targets reject as poison).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from changes.coalesce import coalesce
from changes.reconcile import DocState
from changes.table_lifecycle import (
    ACTIVE,
    INACTIVE,
    BlockLifecycle,
    LedgerTable,
    TableEvent,
    TableIdentity,
    fold,
)
from core.model import Change, ChangeKind, DocKey
from projections.base import ApplyReport


@dataclass
class MemoryProjection:
    """Reference projection; ``documents`` and ``revisions`` hold the winning changes."""

    documents: dict[DocKey, Change] = field(default_factory=dict)
    revisions: dict[tuple[DocKey, int], Change] = field(default_factory=dict)
    checkpoints: dict[str, set[str]] = field(default_factory=dict)
    table_events: set[TableEvent] = field(default_factory=set)
    table_identities: set[TableIdentity] = field(default_factory=set)

    @property
    def name(self) -> str:
        """Always ``memory``."""
        return "memory"

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Apply with the version rule of ``Change.supersedes``; never fails."""
        batch = coalesce(changes)
        report = ApplyReport(received=batch.received, superseded=batch.superseded)
        for key, change in batch.latest.items():
            current = self.documents.get(key)
            if current is None or change.supersedes(current):
                self.documents[key] = change
                report.applied += 1
                report.tombstones += change.kind is ChangeKind.DELETE
                report.redactions += change.kind is ChangeKind.REDACTION
            else:
                report.stale += 1
        for slot, change in batch.revisions.items():
            merged = change.history_copy(self.revisions.get(slot))
            if merged is not None:
                self.revisions[slot] = merged
                report.history_written += 1
                report.history_redactions += change.is_redacted
        return report

    def apply_table_lifecycle(self, lifecycle: BlockLifecycle) -> None:
        """Keep the events and identities as sets (the state is their fold)."""
        self.table_events.update(lifecycle.events)
        self.table_identities.update(lifecycle.identities)

    def ledger_tables(self) -> list[LedgerTable]:
        """``changes.table_lifecycle.fold`` of everything applied, by name."""
        return list(fold(self.table_events, self.table_identities).values())

    def active_tables(self) -> list[str]:
        """Tables not dropped, sorted."""
        return [t.table_name for t in self.ledger_tables() if t.status == ACTIVE]

    def dropped_tables(self) -> list[str]:
        """Dropped tables, sorted."""
        return [t.table_name for t in self.ledger_tables() if t.status == INACTIVE]

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        """The table of a held document with that id (``DocumentTableLookup``)."""
        held = [*self.documents.values(), *self.revisions.values()]
        for change in held:
            if change.key.doc_id == document_id and change.table_id in (None, table_id):
                return change.key.table
        return None

    def completed_objects(self, export_id: str) -> set[str]:
        """Keys marked complete for ``export_id``."""
        return set(self.checkpoints.get(export_id, set()))

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Remember ``key`` as complete."""
        self.checkpoints.setdefault(export_id, set()).add(key)

    def iter_current_state(self) -> Iterator[DocState]:
        """The state of every document in ``documents``."""
        for key, change in list(self.documents.items()):
            yield DocState(
                key,
                change.version,
                change.is_tombstone,
                change.is_redacted,
                change.revision_hash,
                change.block,
            )

    def close(self) -> None:
        """Nothing to release."""
