"""``qldb-cdc reconcile``: compare projections with the final state an export implies.

The export is read once, with the replay's reader (``exports.object_blocks``,
``changes.from_qldb.block_changes``: same formats, ``--strand`` plan, interrupt checks and
progress), and folded into :class:`changes.reconcile.ExpectedState` (memory O(documents)). Then
each target's :meth:`~projections.base.Projection.iter_current_state` is streamed through
:func:`changes.reconcile.compare`. Nothing is written to any target.

Guarantees: every document of the export and of each target is counted once per target; a
target matches when it has no difference but ``newer`` (ahead of the export, as after a stream
cut-over); revisions the replay would dead-letter (poison) are not part of the expected state
and are counted in :attr:`ReconcileResult.revisions_rejected`.

With ``skip_dropped``, the ledger tables the *export's own* table lifecycle ends dropped
(``DROP TABLE`` with no later ``UNDROP TABLE``, :func:`changes.table_lifecycle.fold` over the
export's statements) are left out of every target's comparison and named in
:attr:`ReconcileResult.skipped_tables`: the export is the reference, a target may keep no
lifecycle at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from changes.from_qldb import block_changes
from changes.reconcile import (
    Comparison,
    Difference,
    DifferenceKind,
    DocState,
    ExpectedState,
    TableCounts,
    compare,
)
from changes.table_lifecycle import INACTIVE, LedgerTable, fold
from exports.object_blocks import iter_object_blocks
from exports.plan import ExportPlan
from exports.store import ExportStore
from projections.base import Projection
from replay.progress import Progress
from replay.table_lifecycle import LifecycleQueue
from runtime import interrupts
from schemas.journal_export import ExportFormat

SAMPLE_IDS = 5
"""Document ids named per kind of difference in the summary."""


@dataclass
class TargetComparison:
    """One target's comparison, labelled for output (``name`` is the projection's name, never
    its URI, which may hold a password)."""

    position: int
    name: str
    comparison: Comparison


@dataclass
class ReconcileResult:
    """What ``qldb-cdc reconcile`` found."""

    objects: int = 0
    blocks: int = 0
    revisions: int = 0
    revisions_rejected: int = 0
    documents: int = 0
    export_ends: dict[str, int] = field(default_factory=dict)
    targets: list[TargetComparison] = field(default_factory=list)
    elapsed_s: float = 0.0
    skip_dropped: bool = False
    skipped_tables: dict[str, LedgerTable] = field(default_factory=dict)
    """With ``skip_dropped``: the tables the export ends dropped, by name (left out)."""
    skipped_documents: dict[str, int] = field(default_factory=dict)
    """The export's documents of each skipped table."""

    @property
    def matches(self) -> bool:
        """True when every target matches the export (``newer`` documents allowed)."""
        return all(t.comparison.matches for t in self.targets)

    def lines(self) -> list[str]:
        """The human summary: one table per target, sample ids, one verdict line."""
        out: list[str] = []
        for target in self.targets:
            out += _target_lines(target)
        if self.skip_dropped:
            out.append(self._skipped_line())
        differing = sum(not t.comparison.matches for t in self.targets)
        verdict = "OK" if not differing else f"{differing} of {len(self.targets)} targets differ"
        out.append(
            f"reconcile: {verdict}; {self.documents} documents from {self.revisions} revisions "
            f"in {self.objects} objects, {self.elapsed_s:.1f}s"
        )
        return out

    def _skipped_line(self) -> str:
        if not self.skipped_tables:
            return "skipped: no table is dropped in the export (--skip-dropped left out nothing)"
        names = ", ".join(
            f"{shown(name)} ({self.skipped_documents.get(name, 0)} documents)"
            for name in sorted(self.skipped_tables)
        )
        n = len(self.skipped_tables)
        return f"skipped {n} tables dropped in the export (DROP TABLE), not compared: {names}"

    def report(self) -> dict[str, Any]:
        """Everything, as JSON-ready values (for ``--report``)."""
        return {
            "matches": self.matches,
            "export": {
                "objects": self.objects,
                "blocks": self.blocks,
                "revisions": self.revisions,
                "revisions_rejected": self.revisions_rejected,
                "documents": self.documents,
                "last_block": [
                    {"strand": s, "sequence_no": n} for s, n in self.export_ends.items()
                ],
            },
            "skip_dropped": self.skip_dropped,
            "skipped_tables": [
                {
                    "table": name,
                    "table_id": table.table_id,
                    "dropped_tx_id": table.last_tx_id,
                    "dropped_tx_time": table.last_tx_time,
                    "documents": self.skipped_documents.get(name, 0),
                }
                for name, table in sorted(self.skipped_tables.items())
            ],
            "targets": [
                {
                    "position": t.position,
                    "target": t.name,
                    "matches": t.comparison.matches,
                    "tables": [
                        {"table": name, **_counts(counts)}
                        for name, counts in sorted(t.comparison.tables.items())
                    ],
                    "skipped_tables": [
                        {"table": name, "documents": n}
                        for name, n in sorted(t.comparison.skipped.items())
                    ],
                    "differences": [_difference(d) for d in t.comparison.all_differences or []],
                }
                for t in self.targets
            ],
        }


def expected_state(
    store: ExportStore,
    plan: ExportPlan,
    fmt: ExportFormat | None = None,
    progress: Progress | None = None,
    result: ReconcileResult | None = None,
    *,
    lifecycle: LifecycleQueue | None = None,
) -> ExpectedState:
    """Fold every change of ``plan``'s objects into an :class:`ExpectedState` (counted into
    ``result`` when given); every block's table lifecycle is queued into ``lifecycle`` when
    given."""
    state = ExpectedState()
    counts = result if result is not None else ReconcileResult()
    for obj in plan.objects:
        for block, _fmt in iter_object_blocks(store, obj, fmt, exact=False):
            interrupts.check()  # amazon-ion's C extension may have swallowed a Ctrl-C
            counts.blocks += 1
            state.note_block(block.address)
            if lifecycle is not None:
                lifecycle.read(block)
            found = block_changes(block)
            state.add_all(found.changes)
            read = (
                len(found.changes)
                + found.skipped_system
                + found.skipped_no_table
                + len(found.rejected)
            )
            counts.revisions += read
            counts.revisions_rejected += len(found.rejected)
            if progress is not None:
                progress.advance(revisions=read)
        counts.objects += 1
        if progress is not None:
            progress.advance(
                objects=1, nbytes=(store.size(obj.key) or 0) if progress.total_bytes else 0
            )
    return state


def reconcile(
    store: ExportStore,
    plan: ExportPlan,
    targets: Sequence[Projection],
    *,
    fmt: ExportFormat | None = None,
    keep_all: bool = False,
    progress: Progress | None = None,
    skip_dropped: bool = False,
) -> ReconcileResult:
    """Read the export once, then compare every target with it (see the module docstring)."""
    started = time.monotonic()
    result = ReconcileResult(skip_dropped=skip_dropped)
    lifecycle = LifecycleQueue() if skip_dropped else None
    try:
        expected = expected_state(store, plan, fmt, progress, result, lifecycle=lifecycle)
    finally:
        if progress is not None:
            progress.finish()
    result.documents = len(expected)
    result.export_ends = expected.ends
    if lifecycle is not None:
        tables = fold(lifecycle.pending.events, lifecycle.pending.identities)
        result.skipped_tables = {n: t for n, t in tables.items() if t.status == INACTIVE}
        result.skipped_documents = dict.fromkeys(result.skipped_tables, 0)
        for key in expected.doc_keys():
            if key.table in result.skipped_documents:
                result.skipped_documents[key.table] += 1
    for position, target in enumerate(targets, start=1):
        states = _checked(target.iter_current_state())
        comparison = compare(
            expected,
            states,
            keep_all=keep_all,
            sample_size=SAMPLE_IDS,
            skip_tables=result.skipped_tables,
        )
        result.targets.append(TargetComparison(position, target.name, comparison))
    result.elapsed_s = time.monotonic() - started
    return result


def _checked(states: Iterator[DocState]) -> Iterator[DocState]:
    """``states``, checking for a signal every 10 000 rows (listing can take minutes)."""
    for i, state in enumerate(states):
        if i % 10_000 == 0:
            interrupts.check()
        yield state


def _counts(counts: TableCounts) -> dict[str, Any]:
    return {
        "expected": {
            "documents": counts.expected,
            "live": counts.expected_live,
            "tombstones": counts.expected_tombstones,
            "redacted": counts.expected_redacted,
        },
        "found": {
            "documents": counts.found,
            "live": counts.found_live,
            "tombstones": counts.found_tombstones,
            "redacted": counts.found_redacted,
        },
        "differences": {kind.value: n for kind, n in counts.differences.items()},
    }


def _state(state: DocState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "version": state.version,
        "deleted": state.deleted,
        "redacted": state.redacted,
        "revision_hash": state.revision_hash,
        "block": None
        if state.block is None
        else {"strand": state.block.strand_id, "sequence_no": state.block.sequence_no},
    }


def _difference(d: Difference) -> dict[str, Any]:
    return {
        "kind": d.kind.value,
        "table": d.key.table,
        "document_id": d.key.doc_id,
        "expected": _state(d.expected),
        "actual": _state(d.actual),
    }


_COLUMNS = (
    "expected",
    "live",
    "tombstones",
    "redacted",
    "found",
    *(k.value for k in DifferenceKind),
)


def shown(name: str) -> str:
    """A document or table name for the terminal: as is when printable, else its ``repr``."""
    return name if name.isprintable() and name.strip() == name and name else repr(name)


def _target_lines(target: TargetComparison) -> list[str]:
    c = target.comparison
    verdict = "matches the export" if c.matches else "DIFFERS from the export"
    newer = c.total(DifferenceKind.NEWER)
    if newer:
        verdict += f" ({newer} documents newer than the export)"
    rows = [("table", *_COLUMNS)]
    for name, t in sorted(c.tables.items()):
        values = (
            t.expected,
            t.expected_live,
            t.expected_tombstones,
            t.expected_redacted,
            t.found,
            *(t.differences[k] for k in DifferenceKind),
        )
        rows.append((shown(name), *(str(v) for v in values)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [f"target {target.position} ({target.name}): {verdict}"]
    out += [
        "  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    if c.skipped:
        held = ", ".join(f"{shown(name)} ({n} documents)" for name, n in sorted(c.skipped.items()))
        out.append(f"  skipped (dropped in the export): {held}")
    for kind in DifferenceKind:
        sample = c.samples.get(kind, [])
        if not sample:
            continue
        total = c.total(kind)
        ids = ", ".join(f"{shown(d.key.table)}/{shown(d.key.doc_id)}" for d in sample)
        more = f" and {total - len(sample)} more" if total > len(sample) else ""
        label = "newer than the export" if kind is DifferenceKind.NEWER else kind.value
        out.append(f"  {label}: {ids}{more}")
    return out
