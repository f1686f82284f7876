"""process_batch: poison isolation, retry mapping, convergence under duplicates and reordering."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changes.from_qldb import stream_change
from changes.reconcile import DocState
from core.errors import RetryableError, ThrottledError, UnstorableChangeError
from core.model import Change, DocKey
from dead_letters.sinks import DeadLetter, ListDeadLetterSink
from projections.base import ApplyReport, Failure
from projections.memory import MemoryProjection
from schemas.kinesis import StreamRecord
from schemas.qldb_stream import RevisionDetailsRecord, decode_stream_record
from stream.pipeline import process_batch
from tests.support.synthetic_stream import (
    Rev,
    aggregate,
    capture_records,
    control,
    outer,
    revision_details,
)


@dataclass
class Flaky:
    """Wraps a projection; changes of ``fail_docs`` fail retryably, of ``poison_docs`` as poison."""

    inner: MemoryProjection = field(default_factory=MemoryProjection)
    fail_docs: set[str] = field(default_factory=set)
    poison_docs: set[str] = field(default_factory=set)
    raise_all: bool = False
    calls: int = 0

    @property
    def name(self) -> str:
        return "flaky"

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        self.calls += 1
        if self.raise_all:
            raise ThrottledError("throttled")
        ok = [c for c in changes if c.key.doc_id not in self.fail_docs | self.poison_docs]
        report = self.inner.apply(ok)
        for change in changes:
            if change.key.doc_id in self.fail_docs:
                report.failures.append(Failure(change, ThrottledError("slow down")))
            elif change.key.doc_id in self.poison_docs:
                report.failures.append(Failure(change, UnstorableChangeError("NaN")))
        return report

    def completed_objects(self, export_id: str) -> set[str]:
        return set()

    def iter_current_state(self) -> Iterator[DocState]:
        return iter(())

    def mark_object_complete(self, export_id: str, key: str) -> None:
        return None

    def close(self) -> None:
        return None


def _doc(rev: Rev) -> dict[str, object]:
    return {"name": f"{rev.doc_id}-{rev.version}", "n": rev.version}


def _rev(doc: str, version: int, *, delete: bool = False) -> Rev:
    rev = Rev(doc, version)
    return rev if delete else Rev(doc, version, data=_doc(rev))


def _state(projection: MemoryProjection) -> dict[DocKey, tuple[int, str, object]]:
    return {k: (c.version, c.kind.value, c.data) for k, c in projection.documents.items()}


def test_poison_is_dead_lettered_and_does_not_block() -> None:
    garbage = b"\xe0\x01\x00\xea\xde\xad"
    first = aggregate([revision_details(_rev("a", 0)), garbage, revision_details(_rev("b", 0))])
    bad_md5 = aggregate([revision_details(_rev("x", 0))])
    bad_md5 = bad_md5[:-1] + bytes([bad_md5[-1] ^ 0xFF])
    records = [outer(first, 1), outer(bad_md5, 2), outer(revision_details(_rev("c", 0)), 3)]
    memory, sink = MemoryProjection(), ListDeadLetterSink()

    outcome = process_batch(records, [memory], sink)

    assert outcome.retry_from is None
    assert set(memory.documents) == {DocKey("Person", d) for d in ("a", "b", "c")}
    assert [(d.raw, d.sub_sequence_number, d.error_class) for d in sink.letters] == [
        (garbage, 1, "DecodeError"),
        (bad_md5, None, "DecodeError"),
    ]
    assert sink.letters[1].sequence_number == records[1].sequence_number
    assert "MD5" in sink.letters[1].reason
    counts = outcome.counts
    assert (counts.records, counts.user_records, counts.revisions) == (3, 4, 3)
    assert (counts.poison, counts.applied, counts.retried) == (2, 3, 0)


def test_control_and_block_summaries_are_counted(capture_dir: Path) -> None:
    records = [*capture_records(capture_dir), outer(control(), 9)]
    memory = MemoryProjection()
    outcome = process_batch(records, [memory], ListDeadLetterSink(), verify=True)
    counts = outcome.counts
    assert (counts.block_summaries, counts.revisions, counts.control) == (4, 5, 1)
    assert (counts.poison, counts.verify_failures, counts.applied) == (0, 0, 5)
    assert len(memory.documents) == 5


def test_verify_dead_letters_a_revision_whose_hash_does_not_recompute() -> None:
    good = revision_details(_rev("a", 0))
    bad = revision_details(_rev("b", 0), corrupt_hash=True)
    sink, memory = ListDeadLetterSink(), MemoryProjection()
    outcome = process_batch([outer(aggregate([good, bad]), 1)], [memory], sink, verify=True)
    assert set(memory.documents) == {DocKey("Person", "a")}
    assert [(d.raw, d.error_class) for d in sink.letters] == [(bad, "VerificationError")]
    assert "revision hash mismatch" in sink.letters[0].reason
    assert outcome.counts.verify_failures == 1
    # without verification the same record is applied
    assert process_batch([outer(bad, 2)], [memory], sink).counts.applied == 1


def test_retry_from_is_the_earliest_record_with_a_failed_key() -> None:
    records = [
        outer(revision_details(_rev("x", 0)), 1),
        outer(control(), 2),
        outer(aggregate([revision_details(_rev("y", 0)), revision_details(_rev("z", 0))]), 3),
        outer(revision_details(_rev("y", 1)), 4),
    ]
    flaky = Flaky(fail_docs={"y"})
    outcome = process_batch(records, [flaky], ListDeadLetterSink())
    # y v1 won the coalescing (record 4), but record 3 also holds a revision of y: conservative.
    assert outcome.retry_from == records[2]
    assert outcome.failed_indexes == {2, 3}
    assert outcome.counts.retried == 2  # Flaky reports both revisions of y
    flaky.fail_docs.clear()
    redelivered = process_batch(records[2:], [flaky], ListDeadLetterSink())
    assert redelivered.retry_from is None
    assert _state(flaky.inner)[DocKey("Person", "y")][0] == 1
    assert set(flaky.inner.documents) == {DocKey("Person", d) for d in "xyz"}


def test_a_retryable_error_from_apply_fails_every_record_with_a_change() -> None:
    records = [outer(control(), 1), outer(revision_details(_rev("a", 0)), 2)]
    memory, flaky = MemoryProjection(), Flaky(raise_all=True)
    outcome = process_batch(records, [memory, flaky], ListDeadLetterSink())
    assert outcome.retry_from == records[1]
    assert outcome.counts.retried == 1
    assert DocKey("Person", "a") in memory.documents  # other targets are still written


def test_unstorable_change_is_dead_lettered_per_target() -> None:
    payload = revision_details(_rev("p", 0))
    records = [outer(aggregate([revision_details(_rev("a", 0)), payload]), 1)]
    sink = ListDeadLetterSink()
    outcome = process_batch(records, [Flaky(poison_docs={"p"})], sink)
    assert outcome.retry_from is None
    assert len(sink.letters) == 1
    letter = sink.letters[0]
    assert (letter.raw, letter.target, letter.document_key) == (payload, "flaky", "Person/p@0")
    assert (letter.sub_sequence_number, letter.error_class) == (1, "UnstorableChangeError")


def test_a_dead_letter_that_cannot_be_written_makes_its_record_retryable() -> None:
    records = [outer(revision_details(_rev("a", 0)), 1), outer(b"junk", 2), outer(b"junk2", 3)]
    outcome = process_batch(records, [MemoryProjection()], ListDeadLetterSink(fail=True))
    assert outcome.retry_from == records[1]
    assert outcome.failed_indexes == {1, 2}
    assert outcome.counts.retried == 2


@dataclass
class PartialSink:
    """A batching sink that refuses letters whose raw bytes start with ``refuse``."""

    refuse: bytes
    letters: list[DeadLetter] = field(default_factory=list)

    def put(self, letter: DeadLetter) -> None:
        raise AssertionError("put_many must be used")

    def put_many(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        self.letters.extend(x for x in letters if not x.raw.startswith(self.refuse))
        return [x for x in letters if x.raw.startswith(self.refuse)]


def test_batching_sink_partial_failures_map_to_records() -> None:
    records = [outer(b"ok-junk", 1), outer(b"no-junk", 2)]
    sink = PartialSink(refuse=b"no")
    outcome = process_batch(records, [MemoryProjection()], sink)
    assert outcome.retry_from == records[1]
    assert [x.raw for x in sink.letters] == [b"ok-junk"]


def test_retryable_error_class_is_what_the_sink_raises() -> None:
    with pytest.raises(RetryableError, match="unavailable"):
        ListDeadLetterSink(fail=True).put(DeadLetter(b"", None, "1", None, "reason", "DecodeError"))


HISTORIES = st.dictionaries(
    st.sampled_from(["d1", "d2", "d3", "d4"]),
    st.tuples(st.integers(min_value=1, max_value=5), st.booleans()),
    min_size=1,
)


@settings(max_examples=40, deadline=None)
@given(HISTORIES, st.randoms(use_true_random=False), st.integers(min_value=1, max_value=4))
def test_shuffled_duplicated_aggregates_converge(
    histories: dict[str, tuple[int, bool]], rnd: object, batches: int
) -> None:
    import random

    assert isinstance(rnd, random.Random)
    revs = [
        _rev(doc, v, delete=deleted and v == count - 1)
        for doc, (count, deleted) in histories.items()
        for v in range(count)
    ]
    payloads = [revision_details(r) for r in revs]
    in_order = MemoryProjection()
    process_batch([outer(p, i) for i, p in enumerate(payloads)], [in_order], ListDeadLetterSink())

    shuffled = payloads + rnd.sample(payloads, k=len(payloads) // 2)  # duplicates
    rnd.shuffle(shuffled)
    chunks = [shuffled[i : i + 3] for i in range(0, len(shuffled), 3)]
    records: list[StreamRecord] = [outer(aggregate(c), i) for i, c in enumerate(chunks)]
    records += rnd.sample(records, k=len(records) // 3)  # whole aggregates redelivered
    memory, sink = MemoryProjection(), ListDeadLetterSink()
    size = max(1, len(records) // batches)
    for start in range(0, len(records), size):
        outcome = process_batch(records[start : start + size], [memory], sink)
        assert outcome.retry_from is None
    assert sink.letters == []
    assert _state(memory) == _state(in_order)
    expected = {DocKey("Person", r.doc_id): r for r in revs}
    for key, change in memory.documents.items():
        assert change.version == max(r.version for r in revs if r.doc_id == key.doc_id)
        assert change.is_tombstone == expected[key].deleted


def test_decoded_payloads_are_the_ones_built() -> None:
    decoded = decode_stream_record(revision_details(_rev("a", 2)))
    assert isinstance(decoded, RevisionDetailsRecord)
    assert stream_change(decoded).data == {"name": "a-2", "n": 2}
