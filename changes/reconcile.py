"""Expected final state of every document and its comparison with a projection's state. Pure.

``qldb-cdc reconcile`` folds every change of an export into :class:`ExpectedState` (one small
tuple per document: memory O(documents), not O(revisions)), then streams a projection's
:class:`DocState` rows through :func:`compare`.

Guarantees:

* :class:`ExpectedState` keeps, per :class:`~core.model.DocKey`, the change that wins under
  :func:`core.model.wins` (the rule of every projection): any permutation or duplication of the
  changes gives the same state as in-order application.
* :func:`compare` reports every document exactly once, as a match or as one
  :class:`Difference` of one :class:`DifferenceKind`; the per-table counts in
  :class:`Comparison` add up (``documents`` expected and found, live, tombstones, redacted).
* A projection ahead of the export (a higher version, a redaction of the exported version, or
  a document committed in a block after the export's last block of that strand) is
  :attr:`DifferenceKind.NEWER`, which :attr:`Comparison.matches` does not count as a mismatch:
  a stream cut-over legitimately moves a projection past its export.
* Only the metadata QLDB hashes are compared: version, deleted, redacted and the revision hash.
  The revision hash covers the document's data, so it is the data check; a projection that
  altered data but kept the hash is not detected (see README "Reconciling").
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from core.model import BlockAddress, Change, DocKey, wins


@dataclass(frozen=True, slots=True)
class DocState:
    """The current state of one document, as expected from the export or stored by a target.

    ``block`` is the committing block when the target keeps it (``None`` otherwise); it only
    decides whether a document unknown to the export was committed after it.
    """

    key: DocKey
    version: int
    deleted: bool
    redacted: bool
    revision_hash: str
    block: BlockAddress | None = None

    @property
    def live(self) -> bool:
        """Neither a tombstone nor redacted."""
        return not (self.deleted or self.redacted)


def block_of(strand: object, seq: object) -> BlockAddress | None:
    """The block address a target stored, or ``None`` when it has none (or not in that form)."""
    if isinstance(strand, str) and isinstance(seq, int) and not isinstance(seq, bool):
        return BlockAddress(strand, seq)
    return None


_Slot = tuple[int, bool, bool, str, str, int]
"""(version, deleted, redacted, revision hash, block strand, block sequence number)."""


class ExpectedState:
    """The winning state of every document of an export, folded change by change."""

    def __init__(self) -> None:
        """Start empty."""
        self._docs: dict[DocKey, _Slot] = {}
        self._ends: dict[str, int] = {}
        self._strands: dict[str, str] = {}
        self.changes = 0

    def add(self, change: Change) -> None:
        """Fold one change in (``Change.supersedes`` decides); also tracks the export's end."""
        self.changes += 1
        block = change.block
        self.note_block(block)
        seen = self._docs.get(change.key)
        redacted = change.is_redacted
        if seen is None or wins(change.version, redacted, seen[0], seen[2]):
            self._docs[change.key] = (
                change.version,
                change.is_tombstone,
                redacted,
                change.revision_hash,
                self._strands.setdefault(block.strand_id, block.strand_id),  # one copy kept
                block.sequence_no,
            )

    def add_all(self, changes: Iterable[Change]) -> None:
        """:meth:`add` each change."""
        for change in changes:
            self.add(change)

    def note_block(self, block: BlockAddress) -> None:
        """Record that the export holds ``block`` (blocks without user revisions end it too)."""
        end = self._ends.get(block.strand_id)
        if end is None or block.sequence_no > end:
            self._ends[block.strand_id] = block.sequence_no

    def __len__(self) -> int:
        """Documents in the export."""
        return len(self._docs)

    def get(self, key: DocKey) -> DocState | None:
        """The expected state of ``key``, or ``None`` when the export never mentions it."""
        slot = self._docs.get(key)
        return None if slot is None else _state(key, slot)

    def doc_keys(self) -> Iterator[DocKey]:
        """Every expected document's key, in no particular order."""
        return iter(self._docs)

    def __iter__(self) -> Iterator[DocState]:
        """Every expected document, in no particular order."""
        for key, slot in self._docs.items():
            yield _state(key, slot)

    def after_export(self, block: BlockAddress | None) -> bool:
        """Whether ``block`` lies after the last block of its strand in the export."""
        if block is None:
            return False
        end = self._ends.get(block.strand_id)
        return end is not None and block.sequence_no > end

    @property
    def ends(self) -> dict[str, int]:
        """The last block sequence number of each strand in the export."""
        return dict(self._ends)


def _state(key: DocKey, slot: _Slot) -> DocState:
    version, deleted, redacted, revision_hash, strand, seq = slot
    return DocState(key, version, deleted, redacted, revision_hash, BlockAddress(strand, seq))


class DifferenceKind(enum.Enum):
    """How a stored document differs from the export's final state."""

    MISSING = "missing"
    """In the export, not in the target."""
    EXTRA = "extra"
    """In the target, never in the export (and not committed after it)."""
    STALE = "stale"
    """A lower version than the export's, or the exported redaction not applied."""
    WRONG_HASH = "wrong_hash"
    """Same version, another revision hash: the stored revision is not the exported one."""
    WRONG_DATA = "wrong_data"
    """Same version and hash, but a tombstone where the export has data (or the reverse)."""
    NEWER = "newer"
    """Ahead of the export (a later version, redaction or document): not a mismatch."""


MISMATCHES = tuple(k for k in DifferenceKind if k is not DifferenceKind.NEWER)
"""The kinds that make a target differ from the export."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One document that does not match: what the export says and what the target holds."""

    kind: DifferenceKind
    key: DocKey
    expected: DocState | None
    actual: DocState | None


def classify(expected: DocState | None, actual: DocState, ahead: bool) -> DifferenceKind | None:
    """The difference between an expected and a stored state, ``None`` when they match.

    ``ahead`` says whether ``actual`` was committed after the export (only used when the export
    does not know the document).
    """
    if expected is None:
        return DifferenceKind.NEWER if ahead else DifferenceKind.EXTRA
    if actual.version != expected.version:
        return DifferenceKind.NEWER if actual.version > expected.version else DifferenceKind.STALE
    if actual.revision_hash != expected.revision_hash:
        return DifferenceKind.WRONG_HASH
    if actual.redacted != expected.redacted:
        return DifferenceKind.NEWER if actual.redacted else DifferenceKind.STALE
    if actual.deleted != expected.deleted:
        return DifferenceKind.WRONG_DATA
    return None


@dataclass
class TableCounts:
    """Counts of one ledger table: documents expected and found, and the differences."""

    expected: int = 0
    expected_live: int = 0
    expected_tombstones: int = 0
    expected_redacted: int = 0
    found: int = 0
    found_live: int = 0
    found_tombstones: int = 0
    found_redacted: int = 0
    differences: dict[DifferenceKind, int] = field(
        default_factory=lambda: dict.fromkeys(DifferenceKind, 0)
    )

    def count_expected(self, state: DocState) -> None:
        """Count one expected document."""
        self.expected += 1
        self.expected_live += state.live
        self.expected_tombstones += state.deleted
        self.expected_redacted += state.redacted and not state.deleted

    def count_found(self, state: DocState) -> None:
        """Count one stored document."""
        self.found += 1
        self.found_live += state.live
        self.found_tombstones += state.deleted
        self.found_redacted += state.redacted and not state.deleted

    @property
    def mismatches(self) -> int:
        """Differences that are not merely ``newer``."""
        return sum(self.differences[k] for k in MISMATCHES)


@dataclass
class Comparison:
    """The comparison of one target with the export.

    ``samples`` keeps the first ``sample_size`` differences of each kind (for the summary);
    ``all_differences`` keeps every difference only when asked (``keep_all``, for the report).
    ``skipped`` counts, per ledger table left out of the comparison (``skip_tables`` of
    :func:`compare`), the target's documents of that table; those tables have no ``tables`` entry.
    """

    tables: dict[str, TableCounts] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    samples: dict[DifferenceKind, list[Difference]] = field(default_factory=dict)
    all_differences: list[Difference] | None = None
    sample_size: int = 5

    def table(self, name: str) -> TableCounts:
        """The counts of ledger table ``name`` (created empty)."""
        counts = self.tables.get(name)
        if counts is None:
            counts = self.tables[name] = TableCounts()
        return counts

    def record(self, difference: Difference) -> None:
        """Count ``difference`` and keep it (as a sample, and in full when asked)."""
        self.table(difference.key.table).differences[difference.kind] += 1
        sample = self.samples.setdefault(difference.kind, [])
        if len(sample) < self.sample_size:
            sample.append(difference)
        if self.all_differences is not None:
            self.all_differences.append(difference)

    def total(self, kind: DifferenceKind) -> int:
        """Differences of ``kind`` over every table."""
        return sum(t.differences[kind] for t in self.tables.values())

    @property
    def matches(self) -> bool:
        """True when no table has a difference other than ``newer``."""
        return all(t.mismatches == 0 for t in self.tables.values())


def compare(
    expected: ExpectedState,
    actual: Iterable[DocState],
    *,
    keep_all: bool = False,
    sample_size: int = 5,
    skip_tables: Collection[str] = (),
) -> Comparison:
    """Compare a target's stored states (streamed, each document once) with ``expected``.

    Documents of the ledger tables in ``skip_tables`` (on either side) are left out: never a
    difference, only counted per table in :attr:`Comparison.skipped` (target side).

    Memory: the set of keys seen, O(documents). A key the target lists twice counts once (the
    first row).
    """
    skip = frozenset(skip_tables)
    result = Comparison(all_differences=[] if keep_all else None, sample_size=sample_size)
    result.skipped = dict.fromkeys(sorted(skip), 0)
    for state in expected:
        if state.key.table not in skip:
            result.table(state.key.table).count_expected(state)
    seen: set[DocKey] = set()
    for state in actual:
        if state.key in seen:
            continue
        seen.add(state.key)
        if skip and state.key.table in skip:
            result.skipped[state.key.table] += 1
            continue
        result.table(state.key.table).count_found(state)
        want = expected.get(state.key)
        kind = classify(want, state, expected.after_export(state.block))
        if kind is not None:
            result.record(Difference(kind, state.key, want, state))
    for key in expected.doc_keys():
        if key not in seen and key.table not in skip:
            result.record(Difference(DifferenceKind.MISSING, key, expected.get(key), None))
    return result
