"""Ledger table lifecycle (created, dropped, undropped) from journal blocks, and its fold.

Source: the statement texts of ``transactionInfo.statements`` (parsed by
``schemas.partiql_statements``), one :class:`TableEvent` per recognised ``CREATE TABLE``,
``DROP TABLE`` or ``UNDROP TABLE``, with the block's transaction id, timestamp and address.
QLDB journals carry no readable table catalogue: the revisions of a DDL block are hash-only
system revisions (``information_schema.user_tables`` is not exported), so statements are the
only source. Table *ids* come from ``transactionInfo.documents`` (``tableName``/``tableId`` of
every document a block touches): :class:`TableIdentity` values, which let an ``UNDROP TABLE
"id"`` name its table.

Order: events are ordered by ``(strand, sequence number, statement index)``
(:attr:`TableEvent.order`), never by arrival. :func:`fold` gives the state of every table from
any set of events and identities; applying them in any order, or twice, gives the same result
(projections store the sets and compute the same fold in SQL).

Guarantees: pure, never raises on a block, and bounded: at most :data:`MAX_STATEMENTS` statements
of a block are read; the others, and statements that look like table DDL but do not parse, are
counted in :attr:`BlockLifecycle.unparsed`, never poison.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from core.errors import PoisonError
from schemas.journal import JournalBlock
from schemas.partiql_statements import TableDdlKind, parse_statement

MAX_STATEMENTS = 10_000
"""Statements of one block looked at; the rest are counted unparsed."""

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"


@dataclass(frozen=True, slots=True)
class TableEvent:
    """One lifecycle statement of a committed transaction.

    ``table_name`` is set for CREATE and DROP, ``table_id`` for UNDROP (the statement names only
    one of them). ``statement_index`` is ``1000 * (position of the statement in the block) +
    (position among the ;-separated statements of its text)``, so it orders both.
    """

    kind: TableDdlKind
    table_name: str | None
    table_id: str | None
    tx_id: str
    tx_time: str
    block_strand: str
    block_seq: int
    statement_index: int

    @property
    def order(self) -> tuple[str, int, int]:
        """Journal order: (strand, sequence number, statement index)."""
        return (self.block_strand, self.block_seq, self.statement_index)


@dataclass(frozen=True, slots=True)
class TableIdentity:
    """A table's name and id as seen in ``transactionInfo.documents``, and the first block
    that showed it (later sightings keep the earliest, whatever the order)."""

    table_name: str
    table_id: str
    block_strand: str
    block_seq: int


@dataclass(frozen=True, slots=True)
class LedgerTable:
    """A table's current lifecycle state (the result of :func:`fold`).

    ``status`` is ``ACTIVE`` or ``INACTIVE`` (dropped); a table seen only through its documents
    (no lifecycle statement in the data, e.g. an export that starts after its creation) is
    ``ACTIVE`` with ``last_event`` ``None``. ``table_id`` is the id named by the last event, or
    else the id most recently seen for that name.
    """

    table_name: str
    table_id: str | None
    status: str
    last_event: TableDdlKind | None
    last_tx_id: str | None
    last_tx_time: str | None


@dataclass(slots=True)
class BlockLifecycle:
    """The lifecycle events and table identities of one or more blocks, and the unparsed count."""

    events: list[TableEvent] = field(default_factory=list)
    identities: list[TableIdentity] = field(default_factory=list)
    unparsed: int = 0

    def __bool__(self) -> bool:
        return bool(self.events or self.identities)


def block_events(block: JournalBlock) -> tuple[list[TableEvent], int]:
    """The lifecycle events of ``block``'s statements in statement order, and the unparsed
    count."""
    # Subscripts, not .get() or ABC checks: Ion structs are slow Python mappings (hot path).
    try:
        statements = block.raw["transactionInfo"]["statements"]
    except (KeyError, TypeError, IndexError):
        return [], 0
    if not isinstance(statements, list) or not statements:
        return [], 0
    events: list[TableEvent] = []
    unparsed = max(0, len(statements) - MAX_STATEMENTS)
    tx_id: str | None = None
    tx_time: str | None = None
    for index, entry in enumerate(islice(statements, MAX_STATEMENTS)):
        try:
            text = entry["statement"]
        except (KeyError, TypeError, IndexError):
            text = None
        if type(text) is str and "b" not in text and "B" not in text:
            continue  # cannot hold "table" in any case: the usual DML, without a call
        parsed = parse_statement(text)
        unparsed += parsed.unparsed
        if not parsed.ddl:
            continue
        if tx_id is None:
            tx_id, tx_time = _tx(block)
        # At most MAX_PARTS (100) statements per text: the sub-index fits below 1000.
        for part, ddl in enumerate(parsed.ddl):
            by_id = ddl.kind is TableDdlKind.UNDROPPED
            events.append(
                TableEvent(
                    kind=ddl.kind,
                    table_name=None if by_id else ddl.name,
                    table_id=ddl.name if by_id else None,
                    tx_id=tx_id,
                    tx_time=tx_time or "",
                    block_strand=block.address.strand_id,
                    block_seq=block.address.sequence_no,
                    statement_index=index * 1000 + part,
                )
            )
    return events, unparsed


def _tx(block: JournalBlock) -> tuple[str, str]:
    """Transaction id and block time as text, empty when missing or malformed (never raises)."""
    try:
        return block.transaction_id or "", block.timestamp or ""
    except PoisonError:  # a malformed header value: the event still has its block address
        return "", ""


def block_identities(
    block: JournalBlock, seen: dict[tuple[str, str | None], tuple[str, int]]
) -> list[TableIdentity]:
    """Table name/id pairs of ``block.documents`` not yet sent from an earlier block.

    ``seen`` maps each pair to the earliest block it was sent from and is updated; a pair is
    sent again only from an earlier block, so whatever order blocks are read in, the earliest
    sighting reaches the projection.
    """
    at = (block.address.strand_id, block.address.sequence_no)
    out: list[TableIdentity] = []
    for pair in {(ref.table_name, ref.table_id) for ref in block.documents.values()}:
        earliest = seen.get(pair)
        if earliest is not None and earliest <= at:
            continue
        seen[pair] = at
        if pair[1] is not None:
            out.append(TableIdentity(pair[0], pair[1], at[0], at[1]))
    return out


def fold(
    events: Iterable[TableEvent], identities: Iterable[TableIdentity]
) -> dict[str, LedgerTable]:
    """Every table's state from a set of events and identities (order and duplicates ignored).

    An UNDROP names a table id; it belongs to the table whose identity has that id (the earliest
    sighting, then the smaller name, wins should one id show under two names). An UNDROP whose
    id was never seen with a name belongs to no table (its event is still stored).
    """
    ids: dict[str, TableIdentity] = {}
    for ident in identities:
        known = ids.get(ident.table_id)
        if known is None or _first(ident) < _first(known):
            ids[ident.table_id] = ident
    newest_id: dict[str, TableIdentity] = {}
    for ident in ids.values():
        best = newest_id.get(ident.table_name)
        if best is None or (_first(ident), ident.table_id) > (_first(best), best.table_id):
            newest_id[ident.table_name] = ident
    latest: dict[str, TableEvent] = {}
    for event in events:
        name = event.table_name
        if name is None and event.table_id is not None and event.table_id in ids:
            name = ids[event.table_id].table_name
        if name is None:
            continue
        best_event = latest.get(name)
        if best_event is None or event.order > best_event.order:
            latest[name] = event
    out: dict[str, LedgerTable] = {}
    for name in sorted(set(latest) | set(newest_id)):
        last = latest.get(name)
        fallback = newest_id.get(name)
        out[name] = LedgerTable(
            table_name=name,
            table_id=(last.table_id if last is not None and last.table_id else None)
            or (fallback.table_id if fallback is not None else None),
            status=INACTIVE if last is not None and last.kind is TableDdlKind.DROPPED else ACTIVE,
            last_event=last.kind if last is not None else None,
            last_tx_id=last.tx_id if last is not None else None,
            last_tx_time=last.tx_time if last is not None else None,
        )
    return out


def _first(ident: TableIdentity) -> tuple[str, int, str]:
    """Where an identity was first seen; the name breaks ties (one id, two names, one block)."""
    return (ident.block_strand, ident.block_seq, ident.table_name)


def event_row(event: TableEvent) -> tuple[Any, ...]:
    """The SQL row of ``event`` (column order of ``projections.table_lifecycle_sql``)."""
    return (
        event.block_strand,
        event.block_seq,
        event.statement_index,
        event.kind.value,
        event.table_name,
        event.table_id,
        event.tx_id,
        event.tx_time,
    )


def identity_row(ident: TableIdentity) -> tuple[Any, ...]:
    """The SQL row of ``ident`` (column order of ``projections.table_lifecycle_sql``)."""
    return (ident.table_id, ident.table_name, ident.block_strand, ident.block_seq)
