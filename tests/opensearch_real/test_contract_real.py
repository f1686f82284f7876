"""The shared projection contract plus checkpoints, against a real cluster (see conftest).

Hostile table names (characters a cluster refuses, case, 304 characters, the old checkpoint
index name) run here too, so a real cluster, not only the fake, judges the index names.
"""

from __future__ import annotations

from tests.contract.test_projection_contract import (
    test_any_permutation_with_duplicates_converges,
    test_big_document,
    test_checkpoints_round_trip,
    test_delete_then_late_update_does_not_resurrect,
    test_duplicates_count_as_stale_and_change_nothing,
    test_hostile_names_are_documents_and_never_checkpoints,
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
    "test_checkpoints_round_trip",
    "test_delete_then_late_update_does_not_resurrect",
    "test_duplicates_count_as_stale_and_change_nothing",
    "test_hostile_names_are_documents_and_never_checkpoints",
    "test_in_order_history_with_delete",
    "test_ion_type_fidelity",
    "test_many_documents_in_one_batch",
    "test_out_of_order_older_version_never_overwrites",
    "test_redaction_before_original_stays_redacted",
    "test_redaction_of_current_version_purges_data",
    "test_redaction_of_old_version_keeps_current_data",
]
