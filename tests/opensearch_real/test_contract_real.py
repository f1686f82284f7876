"""The shared projection contract plus checkpoints, against a real cluster (see conftest)."""

from __future__ import annotations

from tests.contract.harness import Harness
from tests.contract.test_projection_contract import (
    test_any_permutation_with_duplicates_converges,
    test_big_document,
    test_delete_then_late_update_does_not_resurrect,
    test_duplicates_count_as_stale_and_change_nothing,
    test_in_order_history_with_delete,
    test_ion_type_fidelity,
    test_many_documents_in_one_batch,
    test_out_of_order_older_version_never_overwrites,
    test_redaction_before_original_stays_redacted,
    test_redaction_of_current_version_purges_data,
    test_redaction_of_old_version_keeps_current_data,
)

__all__ = [
    "test_any_permutation_with_duplicates_converges",
    "test_big_document",
    "test_delete_then_late_update_does_not_resurrect",
    "test_duplicates_count_as_stale_and_change_nothing",
    "test_in_order_history_with_delete",
    "test_ion_type_fidelity",
    "test_many_documents_in_one_batch",
    "test_out_of_order_older_version_never_overwrites",
    "test_redaction_before_original_stays_redacted",
    "test_redaction_of_current_version_purges_data",
    "test_redaction_of_old_version_keeps_current_data",
]


def test_checkpoints_round_trip(harness: Harness) -> None:
    projection = harness.projection
    assert projection.completed_objects("exp") == set()
    projection.mark_object_complete("exp", "a.ion")
    projection.mark_object_complete("exp", "b.ion")
    projection.mark_object_complete("exp", "a.ion")
    projection.mark_object_complete("other", "c.ion")
    assert projection.completed_objects("exp") == {"a.ion", "b.ion"}
