"""An error that is neither poison nor retryable is kept, never dead-lettered ("when in doubt
keep the input"), by both engines: the stream pipeline and the replay of an export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from core.errors import CdcError, ConfigError, PoisonError, RetryableError, retryable_unless_poison
from core.model import Change, DocKey
from dead_letters.sinks import ListDeadLetterSink
from exports.plan import plan_exports
from exports.store import open_store
from projections.base import ApplyReport, Failure
from projections.memory import MemoryProjection
from replay.engine import ChangeDeadLetters, ReplayOptions, replay
from stream.pipeline import process_batch
from tests.support.builders import make_change
from tests.support.export_builder import Rev, block, person, write_export
from tests.support.synthetic_stream import Rev as StreamRev
from tests.support.synthetic_stream import outer, revision_details


def unclassified(message: str) -> PoisonError | RetryableError:
    """A bare CdcError where the type says classified: what mypy stops, should it slip past."""
    return cast("PoisonError | RetryableError", CdcError(message))


class FailsOnce(MemoryProjection):
    """Fails the changes of ``doc_id`` with an unclassified CdcError on its first call only."""

    def __init__(self, doc_id: str) -> None:
        super().__init__()
        self.doc_id = doc_id
        self.calls = 0

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        self.calls += 1
        if self.calls > 1:
            return super().apply(changes)
        report = super().apply([c for c in changes if c.key.doc_id != self.doc_id])
        report.failures = [
            Failure(c, unclassified("something odd"))
            for c in changes
            if c.key.doc_id == self.doc_id
        ]
        return report


def test_an_unclassified_failure_counts_as_retryable() -> None:
    failure = Failure(make_change(), unclassified("odd"))
    assert failure.retryable
    assert not failure.poison


def test_the_stream_keeps_a_change_that_failed_unclassified() -> None:
    records = [
        outer(revision_details(StreamRev("a", 0, data={"n": 1})), 1),
        outer(revision_details(StreamRev("b", 0, data={"n": 2})), 2),
    ]
    target, sink = FailsOnce("b"), ListDeadLetterSink()
    outcome = process_batch(records, [target], sink)
    assert sink.letters == []
    assert outcome.counts.poison == 0
    assert outcome.retry_from == records[1]  # never checkpointed past
    assert set(target.documents) == {DocKey("Person", "a")}


def test_a_replay_retries_a_change_that_failed_unclassified(tmp_path: Path) -> None:
    doc_a, doc_b = "A" * 22, "B" * 22
    blocks = [
        block(0, [Rev("Person", doc_a, 0, person(1, 0)), Rev("Person", doc_b, 0, person(2, 0))])
    ]
    write_export(tmp_path / "e", [blocks])
    store = open_store(str(tmp_path / "e"))
    target, sink = FailsOnce(doc_b), ListDeadLetterSink()
    options = ReplayOptions(
        max_attempts=2, sleep=lambda _s: None, dead_letters=ChangeDeadLetters(sink)
    )
    summary = replay(store, plan_exports(store), [target], options)
    assert sink.letters == []
    assert summary.dead_lettered == 0
    assert target.calls == 2
    assert set(target.documents) == {DocKey("Person", doc_a), DocKey("Person", doc_b)}


def test_projections_wrap_an_unclassified_error_as_retryable() -> None:
    odd = ConfigError("odd")
    kept = retryable_unless_poison(odd)
    assert type(kept) is RetryableError
    assert kept.__cause__ is odd
    poison, retry = PoisonError("p"), RetryableError("r")
    assert retryable_unless_poison(poison) is poison
    assert retryable_unless_poison(retry) is retry
