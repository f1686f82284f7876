"""Table lifecycle from journal blocks (``changes.table_lifecycle``), its fold, and the SQLite
views that must compute the same fold: order, duplicates and hostile blocks do not matter."""

from __future__ import annotations

import random
from typing import Any

from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

from changes.table_lifecycle import (
    ACTIVE,
    INACTIVE,
    MAX_STATEMENTS,
    BlockLifecycle,
    TableEvent,
    TableIdentity,
    block_events,
    block_identities,
    fold,
)
from projections.base import TableLifecycleProjection
from projections.memory import MemoryProjection
from projections.sqlite import SQLiteProjection
from schemas.journal import JournalBlock, parse_block
from schemas.partiql_statements import TableDdlKind
from simulation.config import SimulationConfig
from simulation.ledger import generate_blocks

STRAND = "S" * 22


def _block(statements: list[Any], seq: int = 5, **extra: Any) -> JournalBlock:
    raw: dict[str, Any] = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq},
        "transactionId": "T" * 22,
        "blockTimestamp": "2024-01-02T03:04:05.678Z",
        "blockHash": b"\x01" * 32,
        "entriesHash": b"\x02" * 32,
        "transactionInfo": {"statements": statements, **extra},
        "revisions": [{"hash": b"\x03" * 32}],
    }
    return parse_block(raw)


def _stmt(text: object) -> dict[str, object]:
    return {"statement": text, "startTime": "2024-01-02T03:04:05.600Z", "statementDigest": b"d"}


def _event(
    kind: TableDdlKind, seq: int, name: str | None = None, tid: str | None = None
) -> TableEvent:
    return TableEvent(kind, name, tid, f"tx{seq}", f"t{seq}", STRAND, seq, 0)


def test_events_carry_kind_name_or_id_tx_time_and_address() -> None:
    block = _block(
        [_stmt("SELECT * FROM Person"), _stmt("DROP TABLE Person"), _stmt('UNDROP TABLE "id1"')]
    )
    events, unparsed = block_events(block)
    assert unparsed == 0
    assert events == [
        TableEvent(
            TableDdlKind.DROPPED,
            "Person",
            None,
            "T" * 22,
            "2024-01-02T03:04:05.678Z",
            STRAND,
            5,
            1000,
        ),
        TableEvent(
            TableDdlKind.UNDROPPED,
            None,
            "id1",
            "T" * 22,
            "2024-01-02T03:04:05.678Z",
            STRAND,
            5,
            2000,
        ),
    ]


def test_hostile_statements_are_counted_never_raised() -> None:
    block = _block(
        [
            _stmt(None),
            "not a struct",
            _stmt("DROP TABLE"),
            {"no": "statement"},
            _stmt("DROP TABLE A"),
        ]
    )
    events, unparsed = block_events(block)
    assert [e.table_name for e in events] == ["A"]
    assert unparsed == 4  # None, not a struct, the broken DROP, a struct without a statement
    too_many = _block([_stmt("DROP TABLE A")] * (MAX_STATEMENTS + 7))
    events, unparsed = block_events(too_many)
    assert len(events) == MAX_STATEMENTS and unparsed == 7


def test_blocks_without_statements_or_with_odd_shapes_give_nothing() -> None:
    assert block_events(_block([])) == ([], 0)
    odd = _block([_stmt("DROP TABLE A")])
    object.__setattr__(odd, "raw", {"transactionInfo": {"statements": "DROP TABLE A"}})
    assert block_events(odd) == ([], 0)
    object.__setattr__(
        odd, "raw", {"transactionInfo": {"statements": [_stmt("DROP TABLE A")]}, "transactionId": 5}
    )
    events, _ = block_events(odd)
    assert events[0].tx_id == ""  # a malformed header value: the event keeps its address


def test_identities_are_new_pairs_of_documents_once() -> None:
    docs = {
        "d1": {"tableName": "Person", "tableId": "p1"},
        "d2": {"tableName": "Person", "tableId": "p1"},
    }
    block = _block([], documents=docs)
    seen: dict[tuple[str, str | None], tuple[str, int]] = {}
    assert block_identities(block, seen) == [TableIdentity("Person", "p1", STRAND, 5)]
    assert block_identities(block, seen) == []
    later, earlier = _block([], 9, documents=docs), _block([], 2, documents=docs)
    assert block_identities(later, seen) == []
    assert block_identities(earlier, seen) == [TableIdentity("Person", "p1", STRAND, 2)]


def test_fold_create_drop_undrop_and_name_resolution() -> None:
    ids = [TableIdentity("Policy", "pol1", STRAND, 9)]
    created = _event(TableDdlKind.CREATED, 1, name="Policy")
    dropped = _event(TableDdlKind.DROPPED, 20, name="Policy")
    undropped = _event(TableDdlKind.UNDROPPED, 21, tid="pol1")
    assert fold([created], ids)["Policy"].status == ACTIVE
    assert fold([created, dropped], ids)["Policy"].status == INACTIVE
    state = fold([undropped, dropped, created], ids)["Policy"]
    assert (state.status, state.table_id, state.last_event, state.last_tx_id) == (
        ACTIVE,
        "pol1",
        TableDdlKind.UNDROPPED,
        "tx21",
    )
    # An UNDROP of an id never seen belongs to no table; a table seen only in documents is ACTIVE
    assert set(fold([_event(TableDdlKind.UNDROPPED, 3, tid="zz")], ids)) == {"Policy"}
    assert fold([], ids)["Policy"].last_event is None


_KINDS = st.sampled_from(list(TableDdlKind))
_NAMES = st.sampled_from(["A", "B", "C"])
_IDS = st.sampled_from(["a1", "a2", "b1", "c1"])


@st.composite
def _histories(draw: st.DrawFn) -> tuple[list[TableEvent], list[TableIdentity]]:
    events = []
    for seq in draw(st.lists(st.integers(0, 40), max_size=12, unique=True)):
        kind = draw(_KINDS)
        if kind is TableDdlKind.UNDROPPED:
            events.append(_event(kind, seq, tid=draw(_IDS)))
        else:
            events.append(_event(kind, seq, name=draw(_NAMES)))
    identities = [
        TableIdentity(draw(_NAMES), tid, STRAND, draw(st.integers(0, 40)))
        for tid in draw(st.lists(_IDS, max_size=6))
    ]
    return events, identities


@settings(max_examples=60, deadline=None)
@given(_histories(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_sqlite_views_equal_the_fold_in_any_order_and_split(
    history: tuple[list[TableEvent], list[TableIdentity]], rng: random.Random, parts: int
) -> None:
    events, identities = history
    expected = list(fold(events, identities).values())
    # Shuffled, duplicated, split into several calls: same rows in SQLite and memory.
    items: list[TableEvent | TableIdentity] = [*events, *identities, *events[:2], *identities[:1]]
    rng.shuffle(items)
    sqlite = SQLiteProjection(":memory:")
    memory = MemoryProjection()
    for i in range(parts):
        chunk = items[i::parts]
        batch = BlockLifecycle(
            events=[x for x in chunk if isinstance(x, TableEvent)],
            identities=[x for x in chunk if isinstance(x, TableIdentity)],
        )
        sqlite.apply_table_lifecycle(batch)
        memory.apply_table_lifecycle(batch)
    assert sqlite.ledger_tables() == expected
    assert memory.ledger_tables() == expected
    assert sqlite.active_tables() == [t.table_name for t in expected if t.status == ACTIVE]
    assert sqlite.dropped_tables() == [t.table_name for t in expected if t.status == INACTIVE]
    dropped_view = [
        r[0]
        for r in sqlite.connection.execute(
            "SELECT table_name FROM ledger_tables_dropped ORDER BY 1"
        )
    ]
    assert dropped_view == sqlite.dropped_tables()
    sqlite.close()


def test_sqlite_and_memory_implement_the_optional_protocol() -> None:
    sqlite = SQLiteProjection(":memory:")
    assert isinstance(sqlite, TableLifecycleProjection)
    assert isinstance(MemoryProjection(), TableLifecycleProjection)
    sqlite.close()


def test_simulated_lifecycle_blocks_parse_to_drop_undrop_drop() -> None:
    config = SimulationConfig(documents=20, revisions=60, seed=3, table_lifecycle=True)
    lifecycle = BlockLifecycle()
    seen: dict[tuple[str, str | None], tuple[str, int]] = {}
    for raw in generate_blocks(config):
        block = parse_block(simpleion.loads(simpleion.dumps(raw)))
        events, unparsed = block_events(block)
        assert unparsed == 0
        lifecycle.events.extend(events)
        lifecycle.identities.extend(block_identities(block, seen))
    kinds = [(e.kind, e.table_name) for e in lifecycle.events]
    last = config.tables[-1]
    assert kinds[-3:] == [
        (TableDdlKind.DROPPED, last),
        (TableDdlKind.UNDROPPED, None),
        (TableDdlKind.DROPPED, last),
    ]
    state = fold(lifecycle.events, lifecycle.identities)
    assert {n: t.status for n, t in state.items()} == {
        n: INACTIVE if n == last else ACTIVE for n in config.tables
    }
    # The UNDROP names the table by the id its documents carry.
    undrop = lifecycle.events[-2]
    assert {i.table_id: i.table_name for i in lifecycle.identities}[undrop.table_id or ""] == last


def test_default_simulation_is_unchanged_by_the_option() -> None:
    base = SimulationConfig(documents=10, revisions=30, seed=1)
    blocks = [simpleion.dumps(b) for b in generate_blocks(base)]
    with_lifecycle = [
        simpleion.dumps(b)
        for b in generate_blocks(
            SimulationConfig(documents=10, revisions=30, seed=1, table_lifecycle=True)
        )
    ]
    assert with_lifecycle[: len(blocks)] == blocks and len(with_lifecycle) == len(blocks) + 3
