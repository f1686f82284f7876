"""Every random decision of a synthetic ledger, made once, in journal order.

The planner decides which transactions happen (DDL, user, redaction), which documents they
touch, what each revision does and when; it computes no hash and builds no Ion value. The block
builder (:mod:`simulation.ledger`) turns each :class:`PlannedBlock` into a journal block without
drawing random numbers, so the final state of a ledger can be computed from the plan alone.

Guarantees:
    * Deterministic: equal configs give equal plans (only ``random.Random(config.seed)`` is used).
    * Exactly ``config.revisions`` user revisions, exactly ``config.documents`` inserts,
      exactly ``config.target_deletes`` deletes; deleted documents are never touched again.
    * A document appears at most once per transaction; versions grow by one per revision.
    * Only superseded revisions are redacted, and the redaction block comes after the block that
      superseded the revision (within a few user blocks).
    * Memory: O(documents) small records plus O(max_docs_per_tx) per block; nothing grows with
      the number of revisions except counters.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from simulation.config import SimulationConfig
from simulation.documents import index_field

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 22
_MAX_REDACTION_DELAY = 3


class OpKind(enum.Enum):
    """What a user revision does."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class BlockKind(enum.Enum):
    """Why a block exists."""

    DDL = "ddl"
    USER = "user"
    REDACTION = "redaction"


@dataclass(slots=True)
class DocState:
    """Mutable generator state of one document (a few fields, no document image).

    Attributes:
        doc_id: 22-character Base62 document id.
        table: Index into ``config.tables``.
        seed: Seed the document image is derived from (see :mod:`simulation.documents`).
        version: Latest version written.
        updated_ms: Commit time (epoch ms) of the latest version.
        deleted: True once the latest revision is a delete.
        pending: The revision whose content will be redacted once it is superseded.
        redacted_versions: Versions whose content has been redacted.
    """

    doc_id: str
    table: int
    seed: int
    version: int
    updated_ms: int
    deleted: bool = False
    pending: RedactionTarget | None = None
    redacted_versions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RedactionTarget:
    """The revision a redaction block redacts (``redactionInfo.revisions[0]``)."""

    doc_id: str
    table: int
    version: int
    sequence_no: int


@dataclass(frozen=True, slots=True)
class Op:
    """One user revision of a planned transaction.

    Attributes:
        kind: Insert, update or delete.
        doc_id: Document id.
        table: Index into ``config.tables``.
        seed: Document seed (to rebuild the image).
        version: Version this revision writes.
        redacted: True when the revision appears redacted in the export (``dataHash``, no
            ``data``); a later redaction block names it.
    """

    kind: OpKind
    doc_id: str
    table: int
    seed: int
    version: int
    redacted: bool


@dataclass(frozen=True, slots=True)
class PlannedBlock:
    """One journal block to build.

    Attributes:
        kind: DDL, user or redaction block.
        sequence_no: ``blockAddress.sequenceNo``.
        tx_id: 22-character Base62 transaction id.
        time_ms: Block timestamp (epoch ms); also ``txTime`` of its revisions.
        ops: User revisions in block order (empty for DDL and redaction blocks).
        statement: The DDL statement (DDL blocks only).
        system_positions: Where the block's hash-only internal (system) revisions go in
            ``revisions``, as indexes into the final list; its length is their number.
        leading_select: True when the transaction starts with a SELECT statement.
        redaction: What a redaction block redacts.
    """

    kind: BlockKind
    sequence_no: int
    tx_id: str
    time_ms: int
    ops: tuple[Op, ...] = ()
    statement: str = ""
    system_positions: tuple[int, ...] = ()
    leading_select: bool = False
    redaction: RedactionTarget | None = None


@dataclass(slots=True)
class PlanTotals:
    """Counts of what a plan produced (final once the plan is exhausted)."""

    blocks: int = 0
    ddl_blocks: int = 0
    user_blocks: int = 0
    redaction_blocks: int = 0
    user_revisions: int = 0
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    redactions: int = 0
    system_revisions: int = 0


class _IndexedSet:
    """Insertion-ordered set of DocState with O(1) add, remove and random choice."""

    __slots__ = ("_index", "_items")

    def __init__(self) -> None:
        self._items: list[DocState] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, doc: DocState) -> bool:
        return doc.doc_id in self._index

    def add(self, doc: DocState) -> None:
        if doc.doc_id not in self._index:
            self._index[doc.doc_id] = len(self._items)
            self._items.append(doc)

    def discard(self, doc: DocState) -> None:
        position = self._index.pop(doc.doc_id, None)
        if position is None:
            return
        last = self._items.pop()
        if position < len(self._items):
            self._items[position] = last
            self._index[last.doc_id] = position

    def pick(self, rng: random.Random, exclude: set[str]) -> DocState | None:
        """A random member whose id is not in ``exclude`` (None if there is none)."""
        available = len(self._items) - sum(1 for doc_id in exclude if doc_id in self._index)
        if available <= 0:
            return None
        while True:
            doc = self._items[rng.randrange(len(self._items))]
            if doc.doc_id not in exclude:
                return doc


def new_id(rng: random.Random) -> str:
    """A 22-character Base62 id (QLDB document, transaction, table and strand ids)."""
    return "".join(rng.choices(BASE62, k=ID_LENGTH))


class LedgerPlan:
    """Iterable plan of a synthetic ledger; iterate once, then read ``docs`` and ``totals``.

    Attributes:
        config: The configuration planned.
        strand_id: The journal's single strand id.
        table_ids: Table id per table index.
        docs: Every document ever inserted, by id (complete once iteration has finished).
        totals: Counts (complete once iteration has finished).
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self.strand_id = new_id(self._rng)
        self.table_ids = tuple(new_id(self._rng) for _ in config.tables)
        self.docs: dict[str, DocState] = {}
        self.totals = PlanTotals()
        self._live = _IndexedSet()
        self._must_touch = _IndexedSet()
        self._ins_left = config.documents
        self._upd_left = config.target_updates
        self._del_left = config.target_deletes
        self._red_left = config.target_redactions
        self._seq = 0
        self._time_ms = config.start_ms
        self._started = False

    def __iter__(self) -> Iterator[PlannedBlock]:
        if self._started:
            msg = "a LedgerPlan can be iterated only once"
            raise RuntimeError(msg)
        self._started = True
        return self._blocks()

    # ------------------------------------------------------------------ blocks

    def _next_address(self) -> tuple[int, str, int]:
        seq = self._seq
        self._seq += 1
        self._time_ms += self._rng.randrange(1, 3_000)
        self.totals.blocks += 1
        return seq, new_id(self._rng), self._time_ms

    def _blocks(self) -> Iterator[PlannedBlock]:
        for table in self.config.tables:
            for statement, system in (
                (f"CREATE TABLE {table}", 2),
                (f"CREATE INDEX ON {table} ({index_field(table)})", 1),
            ):
                seq, tx_id, time_ms = self._next_address()
                self.totals.ddl_blocks += 1
                self.totals.system_revisions += system
                yield PlannedBlock(
                    BlockKind.DDL,
                    seq,
                    tx_id,
                    time_ms,
                    statement=statement,
                    system_positions=tuple(range(system)),
                )
        due: deque[tuple[int, RedactionTarget]] = deque()
        while self.totals.user_revisions < self.config.revisions:
            yield self._user_block(due)
            while due and due[0][0] <= self.totals.user_blocks:
                yield self._redaction_block(due.popleft()[1])
        while due:
            yield self._redaction_block(due.popleft()[1])
        if self.config.table_lifecycle:
            yield from self._lifecycle_blocks()

    def _lifecycle_blocks(self) -> Iterator[PlannedBlock]:
        """DROP, UNDROP (by table id) and DROP again of the last table (see SimulationConfig)."""
        table, table_id = self.config.tables[-1], self.table_ids[-1]
        for statement in (
            f"DROP TABLE {table}",
            f'UNDROP TABLE "{table_id}"',
            f"DROP TABLE {table}",
        ):
            seq, tx_id, time_ms = self._next_address()
            self.totals.ddl_blocks += 1
            self.totals.system_revisions += 1
            yield PlannedBlock(
                BlockKind.DDL, seq, tx_id, time_ms, statement=statement, system_positions=(0,)
            )

    def _user_block(self, due: deque[tuple[int, RedactionTarget]]) -> PlannedBlock:
        rng = self._rng
        seq, tx_id, time_ms = self._next_address()
        size = 1
        if self.config.max_docs_per_tx > 1 and rng.random() >= 0.6:
            size = rng.randint(2, self.config.max_docs_per_tx)
        size = min(size, self.config.revisions - self.totals.user_revisions)
        touched: set[str] = set()
        ops: list[Op] = []
        for _ in range(size):
            op = self._next_op(touched, seq, time_ms, due)
            if op is None:
                break
            ops.append(op)
            touched.add(op.doc_id)
        if not ops:  # pragma: no cover - excluded by the planner's invariants
            msg = "simulation planner found no feasible revision (internal invariant broken)"
            raise RuntimeError(msg)
        positions: tuple[int, ...] = ()
        if rng.random() < self.config.system_revision_ratio:
            positions = (rng.randrange(len(ops) + 1),)
            self.totals.system_revisions += 1
        self.totals.user_blocks += 1
        return PlannedBlock(
            BlockKind.USER,
            seq,
            tx_id,
            time_ms,
            ops=tuple(ops),
            system_positions=positions,
            leading_select=rng.random() < 0.25,
        )

    def _redaction_block(self, target: RedactionTarget) -> PlannedBlock:
        seq, tx_id, time_ms = self._next_address()
        self.totals.redaction_blocks += 1
        self.totals.redactions += 1
        self.totals.system_revisions += 1
        self.docs[target.doc_id].redacted_versions.append(target.version)
        return PlannedBlock(
            BlockKind.REDACTION,
            seq,
            tx_id,
            time_ms,
            system_positions=(0,),
            redaction=target,
        )

    # --------------------------------------------------------------------- ops

    def _next_op(
        self,
        touched: set[str],
        seq: int,
        time_ms: int,
        due: deque[tuple[int, RedactionTarget]],
    ) -> Op | None:
        rng = self._rng
        others = self._upd_left + self._del_left
        forced = others > 0 and others == len(self._must_touch)
        pool = self._must_touch if forced else self._live
        # When forced, every remaining update/delete must supersede a revision awaiting
        # redaction; if all of those are already in this transaction only inserts remain.
        candidate = pool.pick(rng, touched) if others else None
        can_delete = (
            candidate is not None
            and self._del_left > 0
            and (len(self._live) - 1 + self._ins_left > 0 or others == 1)
        )
        weights = (
            self._ins_left,
            self._upd_left if candidate is not None else 0,
            self._del_left if can_delete else 0,
        )
        total = sum(weights)
        if total == 0:
            return None
        draw = rng.random() * total
        if draw < weights[0]:
            return self._insert(seq, time_ms)
        if candidate is not None and not forced and len(self._must_touch) and rng.random() < 0.5:
            other = self._must_touch.pick(rng, touched)
            candidate = other if other is not None else candidate
        if candidate is None:  # pragma: no cover - the weights exclude this case
            msg = "simulation planner chose an update without a document"
            raise RuntimeError(msg)
        kind = OpKind.UPDATE if draw < weights[0] + weights[1] else OpKind.DELETE
        return self._touch(candidate, kind, seq, time_ms, due)

    def _insert(self, seq: int, time_ms: int) -> Op:
        rng = self._rng
        doc_id = new_id(rng)
        while doc_id in self.docs:  # pragma: no cover - 62**22 ids
            doc_id = new_id(rng)
        doc = DocState(
            doc_id=doc_id,
            table=rng.randrange(len(self.config.tables)),
            seed=rng.getrandbits(63),
            version=0,
            updated_ms=time_ms,
        )
        self.docs[doc_id] = doc
        self._live.add(doc)
        self._ins_left -= 1
        self.totals.inserts += 1
        self.totals.user_revisions += 1
        return self._data_op(OpKind.INSERT, doc, seq)

    def _touch(
        self,
        doc: DocState,
        kind: OpKind,
        seq: int,
        time_ms: int,
        due: deque[tuple[int, RedactionTarget]],
    ) -> Op:
        if doc.pending is not None:
            delay = self._rng.randrange(_MAX_REDACTION_DELAY + 1)
            due.append((self.totals.user_blocks + 1 + delay, doc.pending))
            doc.pending = None
            self._must_touch.discard(doc)
        doc.version += 1
        doc.updated_ms = time_ms
        self.totals.user_revisions += 1
        if kind is OpKind.DELETE:
            doc.deleted = True
            self._live.discard(doc)
            self._del_left -= 1
            self.totals.deletes += 1
            return Op(kind, doc.doc_id, doc.table, doc.seed, doc.version, redacted=False)
        self._upd_left -= 1
        self.totals.updates += 1
        return self._data_op(kind, doc, seq)

    def _data_op(self, kind: OpKind, doc: DocState, seq: int) -> Op:
        """Op for an insert/update, deciding whether its content will be redacted later."""
        redact = False
        others = self._upd_left + self._del_left
        if self._red_left > 0 and others > len(self._must_touch):
            remaining = self.config.revisions - self.totals.user_revisions + 1
            redact = self._rng.random() * remaining < self._red_left
        if redact:
            self._red_left -= 1
            doc.pending = RedactionTarget(doc.doc_id, doc.table, doc.version, seq)
            self._must_touch.add(doc)
        return Op(kind, doc.doc_id, doc.table, doc.seed, doc.version, redacted=redact)
