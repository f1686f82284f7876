"""``iter_current_state`` under the contract suite: every backend lists what the reference holds.

GIVEN revisions applied (shuffled, duplicated, across batches, with tombstones, redactions and
hostile names) to a projection and to the in-memory reference, WHEN the projection's current
state is listed, THEN it holds every stored document exactly once with the reference's
version, flags, revision hash and block, checkpoints never appear, and the comparison with the
expected state of the same changes finds no difference.
"""

from __future__ import annotations

import random

import pytest

from changes.reconcile import DocState, ExpectedState, compare
from core.model import Change, ChangeKind
from projections import dynamodb, opensearch, postgres, s3
from projections.memory import MemoryProjection
from tests.contract.test_projection_contract import HOSTILE_NAMES, apply_in_batches
from tests.support.builders import history, make_change
from tests.support.projection_harness import Harness


def _mixed_changes() -> list[Change]:
    changes = history("a", 4, delete_last=True) + history("b", 3) + history("c", 2)
    changes.append(make_change("b", 2, kind=ChangeKind.REDACTION))  # current version redacted
    changes.append(make_change("c", 0, kind=ChangeKind.REDACTION))  # an old version redacted
    changes += [make_change(f"{doc_id}-h", 0, table=table) for table, doc_id in HOSTILE_NAMES]
    changes += [make_change(f"many{i}", i % 3, table=f"T{i % 4}") for i in range(60)]
    return changes


def _listed(states: list[DocState]) -> list[DocState]:
    return sorted(states, key=lambda s: (s.key.table, s.key.doc_id))


def test_current_state_lists_every_document_once_like_the_reference(harness: Harness) -> None:
    changes = _mixed_changes()
    delivered = changes + changes[:20]
    random.Random(7).shuffle(delivered)
    harness.projection.mark_object_complete("exp", "real.ion")
    reference = apply_in_batches(harness, delivered, 17, MemoryProjection())

    listed = list(harness.projection.iter_current_state())
    assert len({s.key for s in listed}) == len(listed), "a document was listed twice"
    assert _listed(listed) == _listed(list(reference.iter_current_state()))

    expected = ExpectedState()
    expected.add_all(changes)
    result = compare(expected, harness.projection.iter_current_state())
    assert result.matches
    assert sum(t.found for t in result.tables.values()) == len(expected)


def test_an_empty_projection_lists_nothing(harness: Harness) -> None:
    harness.projection.mark_object_complete("exp", "real.ion")
    assert list(harness.projection.iter_current_state()) == []


def test_listing_pages_through_every_document(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (dynamodb, opensearch, postgres, s3):
        monkeypatch.setattr(module, "_STATE_PAGE", 7)
    changes = [make_change(f"p{i:02d}", 0, table=f"T{i % 2}") for i in range(40)]
    reference = apply_in_batches(harness, changes, 40, MemoryProjection())
    listed = list(harness.projection.iter_current_state())
    assert _listed(listed) == _listed(list(reference.iter_current_state()))
