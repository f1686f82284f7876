"""Stream redactions: BLOCK_SUMMARY.redactionInfo -> a REDACTION change of that revision, applied
by every projection with the export ordering rules (memory and SQLite here; every projection in
tests/contract), whatever the order and duplication of the records."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changes.table_lifecycle import BlockLifecycle, TableIdentity
from core.errors import InvalidRecordError, ThrottledError
from core.model import BlockAddress, ChangeKind, DocKey
from dead_letters.sinks import ListDeadLetterSink
from projections.base import Projection
from projections.memory import MemoryProjection
from projections.sqlite import SQLiteProjection
from schemas.qldb_stream import BlockSummaryRecord, RedactedRevision, decode_stream_record
from stream.pipeline import BatchOutcome, process_batch
from tests.support.synthetic_stream import (
    STRAND,
    TABLE_ID,
    Rev,
    aggregate,
    block_summary,
    outer,
    revision_details,
)

KEY = DocKey("Person", "d1")


def rev(doc_id: str, version: int) -> Rev:
    return Rev(doc_id, version, data={"name": f"{doc_id} v{version}", "v": version})


def known_table() -> BlockLifecycle:
    """What an export replay recorded about the table before the stream's cut-over."""
    return BlockLifecycle(identities=[TableIdentity("Person", TABLE_ID, STRAND, 1)])


def run(
    batches: list[list[bytes]],
    projections: list[Projection],
    sink: ListDeadLetterSink | None = None,
) -> list[BatchOutcome]:
    """Each batch of user records as one outer record per user record."""
    sink = ListDeadLetterSink() if sink is None else sink
    out = []
    seq = 0
    for batch in batches:
        records = []
        for data in batch:
            seq += 1
            records.append(outer(data, seq))
        out.append(process_batch(records, projections, sink, verify=False))
    return out


# ------------------------------------------------------------------------------ decoding


def test_redaction_info_is_typed() -> None:
    decoded = decode_stream_record(block_summary(2000, redacts=[rev("d1", 1), rev("d2", 0)]))
    assert isinstance(decoded, BlockSummaryRecord)
    assert decoded.redactions == (
        RedactedRevision(BlockAddress(STRAND, 1001), TABLE_ID, "d1", 1),
        RedactedRevision(BlockAddress(STRAND, 1000), TABLE_ID, "d2", 0),
    )
    plain = decode_stream_record(block_summary(2001, documents=[rev("d1", 0)]))
    assert isinstance(plain, BlockSummaryRecord)
    assert plain.redactions == ()


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        ("x", "redactionInfo must be a struct"),
        ({"revisions": "x"}, "redactionInfo.revisions must be a list"),
        ({"revisions": [1]}, r"revisions\[0\] must be a struct"),
        (
            {"revisions": [{"documentId": "d", "version": 1, "blockAddress": {}}]},
            "tableId must be a string",
        ),
        (
            {"revisions": [{"tableId": "t", "documentId": "d", "version": -1, "blockAddress": {}}]},
            "version must be a non-negative 64-bit integer",
        ),
        (
            {"revisions": [{"tableId": "t", "documentId": "d", "version": 1}]},
            "blockAddress must be a struct",
        ),
    ],
)
def test_malformed_redaction_info_is_invalid(info: Any, reason: str) -> None:
    with pytest.raises(InvalidRecordError, match=reason):
        decode_stream_record(block_summary(2000, redaction_info=info))


# ------------------------------------------------------------------------------ the pipeline


def test_redaction_after_the_original_redacts_history_not_the_current_state() -> None:
    memory = MemoryProjection()
    v0, v1 = rev("d1", 0), rev("d1", 1)
    # the BLOCK_SUMMARY of the original block records the table's id (the table lifecycle)
    run(
        [[block_summary(1000, documents=[v0]), revision_details(v0), revision_details(v1)]],
        [memory],
    )
    (outcome,) = run([[block_summary(3000, redacts=[v0])]], [memory])
    assert outcome.retry_from is None
    assert (outcome.counts.redaction_notices, outcome.counts.poison) == (1, 0)
    assert outcome.counts.redactions == 0  # v1 is current
    stored = memory.revisions[(KEY, 0)]
    assert (stored.kind, stored.data) == (ChangeKind.REDACTION, None)
    assert stored.tx_id == "txd10"  # the revision's own metadata, not the redaction's
    assert stored.revision_hash
    assert memory.documents[KEY].version == 1
    assert memory.documents[KEY].data == {"name": "d1 v1", "v": 1}


def test_redaction_before_the_original_arrives() -> None:
    """The table is known from the lifecycle an export replay recorded."""
    memory = MemoryProjection()
    memory.apply_table_lifecycle(known_table())
    v0, v1 = rev("d1", 0), rev("d1", 1)
    (first,) = run([[block_summary(3000, redacts=[v0])]], [memory])
    assert (first.counts.redaction_notices, first.counts.poison) == (1, 0)
    assert memory.revisions[(KEY, 0)].is_redaction_notice
    run([[revision_details(v1), revision_details(v0)]], [memory])
    stored = memory.revisions[(KEY, 0)]
    assert (stored.is_redacted, stored.is_redaction_notice, stored.tx_id) == (True, False, "txd10")
    assert memory.documents[KEY].version == 1


def test_the_batch_itself_names_the_table() -> None:
    """No lifecycle anywhere: a REVISION_DETAILS or a BLOCK_SUMMARY of the batch names the id."""
    for other in (revision_details(rev("d2", 0)), block_summary(2999, documents=[rev("d2", 0)])):
        memory = MemoryProjection()
        (outcome,) = run([[block_summary(3000, redacts=[rev("d1", 0)]), other]], [memory])
        assert (outcome.counts.redaction_notices, outcome.counts.poison) == (1, 0)
        assert memory.revisions[(KEY, 0)].is_redacted


def seeded() -> MemoryProjection:
    memory = MemoryProjection()
    memory.apply_table_lifecycle(known_table())
    return memory


def test_duplicated_redaction_changes_nothing_more() -> None:
    memory = seeded()
    v0, v1 = rev("d1", 0), rev("d1", 1)
    summary = block_summary(3000, redacts=[v0])
    run([[revision_details(v0), revision_details(v1), summary, summary]], [memory])
    before = dict(memory.revisions)
    (again,) = run([[summary, aggregate([summary, summary])]], [memory])
    assert again.counts.redaction_notices == 3
    assert (again.counts.applied, again.counts.poison) == (0, 0)
    assert memory.revisions == before


def test_redaction_of_an_old_version_among_many() -> None:
    memory = seeded()
    revs = [rev("d1", v) for v in range(4)]
    run([[revision_details(r) for r in revs], [block_summary(3000, redacts=[revs[1]])]], [memory])
    assert [memory.revisions[(KEY, v)].is_redacted for v in range(4)] == [
        False,
        True,
        False,
        False,
    ]
    assert (memory.documents[KEY].version, memory.documents[KEY].is_redacted) == (3, False)


def test_redaction_of_the_current_version_redacts_the_current_state() -> None:
    """QLDB redacts superseded revisions only, but the later one may not have arrived yet."""
    memory = seeded()
    v0, v1 = rev("d1", 0), rev("d1", 1)
    run([[revision_details(v0)]], [memory])
    (outcome,) = run([[block_summary(3000, redacts=[v0])]], [memory])
    assert outcome.counts.redactions == 1
    assert (memory.documents[KEY].is_redacted, memory.documents[KEY].data) == (True, None)
    run([[revision_details(v1)]], [memory])
    assert (memory.documents[KEY].version, memory.documents[KEY].is_redacted) == (1, False)


def test_an_unknown_table_id_is_dead_lettered_with_the_record() -> None:
    memory = MemoryProjection()
    sink = ListDeadLetterSink()
    summary = block_summary(3000, redacts=[rev("d1", 0)], table_id="UnknownTableId00000000")
    (outcome,) = run([[summary, revision_details(rev("d2", 0))]], [memory], sink)
    assert outcome.retry_from is None  # nothing to retry: no retry would name the table
    assert (outcome.counts.poison, outcome.counts.redaction_notices) == (1, 0)
    (letter,) = sink.letters
    assert letter.raw == summary
    assert letter.error_class == "UnresolvedTableError"
    assert "UnknownTableId00000000" in letter.reason
    assert "d1 v0" in letter.reason
    assert (KEY, 0) not in memory.revisions
    assert (DocKey("Person", "d2"), 0) in memory.revisions  # the rest of the batch is applied


def test_the_lifecycle_of_a_sqlite_target_names_the_table(tmp_path: Any) -> None:
    sqlite = SQLiteProjection(tmp_path / "p.db")
    try:
        sqlite.apply_table_lifecycle(known_table())
        (outcome,) = run([[block_summary(3000, redacts=[rev("d1", 0)])]], [sqlite])
        assert (outcome.counts.redaction_notices, outcome.counts.poison) == (1, 0)
        run([[revision_details(rev("d1", 0))]], [sqlite])
    finally:
        sqlite.close()
    with sqlite3.connect(tmp_path / "p.db") as db:
        row = db.execute(
            "SELECT redacted, data, tx_id, revision_hash <> '' FROM revisions"
        ).fetchone()
    assert row == (1, None, "txd10", 1)


class UnreadableLifecycle(MemoryProjection):
    """A lifecycle target whose tables cannot be read right now."""

    def ledger_tables(self) -> Any:
        raise ThrottledError("slow down")


def test_a_lifecycle_that_cannot_be_read_retries_the_record() -> None:
    projection = UnreadableLifecycle()
    records = [
        outer(revision_details(rev("d2", 0)), 1),
        outer(block_summary(3000, redacts=[rev("d1", 0)], table_id="OtherTableId0000000000"), 2),
    ]
    outcome = process_batch(records, [projection], ListDeadLetterSink())
    assert outcome.retry_from is records[1]
    assert (outcome.counts.retried, outcome.counts.poison) == (1, 0)


def test_a_target_holding_the_document_names_the_table() -> None:
    """No lifecycle anywhere (a DynamoDB, S3 or OpenSearch deployment): the target that holds
    the redacted document names its table from the document id."""
    memory = MemoryProjection()
    revs = [rev("d1", v) for v in range(3)]
    run([[revision_details(r) for r in revs]], [memory])
    sink = ListDeadLetterSink()
    (outcome,) = run([[block_summary(3000, redacts=[revs[2], revs[0]])]], [memory], sink)
    assert (outcome.counts.redaction_notices, outcome.counts.poison) == (2, 0)
    assert sink.letters == []
    assert [memory.revisions[(KEY, v)].is_redacted for v in range(3)] == [True, False, True]
    assert (memory.documents[KEY].is_redacted, memory.documents[KEY].data) == (True, None)


def test_a_document_of_another_table_id_names_nothing() -> None:
    """The target recorded the document under another table id: the id does not name it."""
    memory = MemoryProjection()
    run([[revision_details(rev("d1", 0))]], [memory])
    memory.documents = {
        k: replace(c, table_id="OtherTableId0000000000") for k, c in memory.documents.items()
    }
    memory.revisions = {
        k: replace(c, table_id="OtherTableId0000000000") for k, c in memory.revisions.items()
    }
    sink = ListDeadLetterSink()
    (outcome,) = run([[block_summary(3000, redacts=[rev("d1", 0)])]], [memory], sink)
    assert (outcome.counts.redaction_notices, outcome.counts.poison) == (0, 1)
    assert [letter.error_class for letter in sink.letters] == ["UnresolvedTableError"]
    assert not memory.revisions[(KEY, 0)].is_redacted


class UnreadableDocuments(MemoryProjection):
    """A target whose documents cannot be read right now."""

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        raise ThrottledError("slow down")


def test_a_lookup_that_cannot_be_read_retries_the_record() -> None:
    projection = UnreadableDocuments()
    run([[revision_details(rev("d1", 0))]], [projection])
    records = [outer(block_summary(3000, redacts=[rev("d1", 0)]), 1)]
    sink = ListDeadLetterSink()
    outcome = process_batch(records, [projection], sink)
    assert outcome.retry_from is records[0]
    assert (outcome.counts.retried, outcome.counts.poison, sink.letters) == (1, 0, [])


def test_one_target_that_names_the_table_is_enough() -> None:
    """The first target cannot be read, the second holds the document: applied to both."""
    unreadable, holder = UnreadableDocuments(), MemoryProjection()
    run([[revision_details(rev("d1", 0))]], [unreadable, holder])
    (outcome,) = run([[block_summary(3000, redacts=[rev("d1", 0)])]], [unreadable, holder])
    assert outcome.retry_from is None
    assert outcome.counts.redaction_notices == 1
    assert unreadable.revisions[(KEY, 0)].is_redacted and holder.revisions[(KEY, 0)].is_redacted


# ------------------------------------------------------------------------------ property


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], list[int]]:
    """The stream records of a few documents in journal order (redactions of superseded
    revisions after them), and a delivery: any permutation with duplicates, in batches."""
    journal: list[bytes] = []
    redactable: list[Rev] = []
    for i in range(draw(st.integers(1, 3))):
        versions = draw(st.integers(1, 4))
        revs = [rev(f"d{i}", v) for v in range(versions)]
        if versions > 1 and draw(st.booleans()):
            revs[-1] = Rev(f"d{i}", versions - 1)  # a delete
        journal += [revision_details(r) for r in revs]
        redactable += revs[:-1]
    if redactable:
        chosen = draw(st.lists(st.sampled_from(range(len(redactable))), max_size=3, unique=True))
        journal += [block_summary(3000 + n, redacts=[redactable[i]]) for n, i in enumerate(chosen)]
    delivered = journal + draw(st.lists(st.sampled_from(journal), max_size=len(journal)))
    delivered = draw(st.permutations(delivered))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=len(delivered)))
    return journal, delivered, sizes


def batches_of(records: list[bytes], sizes: list[int]) -> list[list[bytes]]:
    out, start, n = [], 0, 0
    while start < len(records):
        size = sizes[n % len(sizes)]
        out.append(records[start : start + size])
        start, n = start + size, n + 1
    return out


def state(memory: MemoryProjection, sqlite: SQLiteProjection) -> tuple[Any, ...]:
    db = sqlite._db
    return (
        dict(memory.documents),
        dict(memory.revisions),
        db.execute("SELECT * FROM documents ORDER BY ledger_table, document_id").fetchall(),
        db.execute(
            "SELECT * FROM revisions ORDER BY ledger_table, document_id, version"
        ).fetchall(),
    )


def fresh() -> tuple[MemoryProjection, SQLiteProjection]:
    memory, sqlite = MemoryProjection(), SQLiteProjection(":memory:")
    memory.apply_table_lifecycle(known_table())
    sqlite.apply_table_lifecycle(known_table())
    return memory, sqlite


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=streams())
def test_any_order_and_duplication_of_a_stream_with_redactions_converges(
    case: tuple[list[bytes], list[bytes], list[int]],
) -> None:
    journal, delivered, sizes = case
    memory, sqlite = fresh()
    want_memory, want_sqlite = fresh()
    try:
        run([[record] for record in journal], [want_memory, want_sqlite])
        for outcome in run(batches_of(delivered, sizes), [memory, sqlite]):
            assert outcome.retry_from is None
            assert outcome.counts.poison == 0
        assert state(memory, sqlite) == state(want_memory, want_sqlite)
        # every original was delivered: no history row is left without its own metadata
        assert not any(c.is_redaction_notice for c in memory.revisions.values())
    finally:
        sqlite.close()
        want_sqlite.close()


def test_the_property_sees_redactions_before_their_originals() -> None:
    """A fixed example of the property's hard case: every redaction first, shuffled after."""
    revs = [rev("d1", v) for v in range(3)]
    journal = [revision_details(r) for r in revs] + [block_summary(3000, redacts=[revs[0]])]
    delivered = journal[-1:] + random.Random(3).sample(journal, len(journal))
    memory, sqlite = fresh()
    want_memory, want_sqlite = fresh()
    try:
        run([[record] for record in journal], [want_memory, want_sqlite])
        run([[record] for record in delivered], [memory, sqlite])
        assert state(memory, sqlite) == state(want_memory, want_sqlite)
        assert memory.revisions[(KEY, 0)].is_redacted
    finally:
        sqlite.close()
        want_sqlite.close()
