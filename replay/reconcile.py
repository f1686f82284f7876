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
from exports.object_blocks import iter_object_blocks
from exports.plan import ExportPlan
from exports.store import ExportStore
from projections.base import Projection
from replay.progress import Progress
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

    @property
    def matches(self) -> bool:
        """True when every target matches the export (``newer`` documents allowed)."""
        return all(t.comparison.matches for t in self.targets)

    def lines(self) -> list[str]:
        """The human summary: one table per target, sample ids, one verdict line."""
        out: list[str] = []
        for target in self.targets:
            out += _target_lines(target)
        differing = sum(not t.comparison.matches for t in self.targets)
        verdict = "OK" if not differing else f"{differing} of {len(self.targets)} targets differ"
        out.append(
            f"reconcile: {verdict}; {self.documents} documents from {self.revisions} revisions "
            f"in {self.objects} objects, {self.elapsed_s:.1f}s"
        )
        return out

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
            "targets": [
                {
                    "position": t.position,
                    "target": t.name,
                    "matches": t.comparison.matches,
                    "tables": [
                        {"table": name, **_counts(counts)}
                        for name, counts in sorted(t.comparison.tables.items())
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
) -> ExpectedState:
    """Fold every change of ``plan``'s objects into an :class:`ExpectedState` (counted into
    ``result`` when given)."""
    state = ExpectedState()
    counts = result if result is not None else ReconcileResult()
    for obj in plan.objects:
        for block, _fmt in iter_object_blocks(store, obj, fmt, exact=False):
            interrupts.check()  # amazon-ion's C extension may have swallowed a Ctrl-C
            counts.blocks += 1
            state.note_block(block.address)
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
) -> ReconcileResult:
    """Read the export once, then compare every target with it (see the module docstring)."""
    started = time.monotonic()
    result = ReconcileResult()
    try:
        expected = expected_state(store, plan, fmt, progress, result)
    finally:
        if progress is not None:
            progress.finish()
    result.documents = len(expected)
    result.export_ends = expected.ends
    for position, target in enumerate(targets, start=1):
        states = _checked(target.iter_current_state())
        comparison = compare(expected, states, keep_all=keep_all, sample_size=SAMPLE_IDS)
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
