"""``DocumentTableLookup``: a target that holds a document names its ledger table from the id.

The stream pipeline relies on it to apply a ``redactionInfo`` entry (which names its table by
id only) in deployments without a SQL target. GIVEN documents applied (live, deleted, redacted,
with names crafted to collide with the target's own layout), THEN the lookup names each one's
table, names nothing for a document the target does not hold, and never names a table for a
document recorded with another table id.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.model import ChangeKind
from projections.base import DocumentTableLookup
from tests.contract.test_projection_contract import HOSTILE_NAMES
from tests.support.builders import make_change
from tests.support.projection_harness import Harness

TABLE_ID = "TableId0000000000000001"
"""The table id :func:`tests.support.builders.make_change` gives every change."""


LOOKUP_TARGETS = {"memory", "dynamodb", "s3", "opensearch"}
"""The targets without a table lifecycle: each must implement the lookup."""


def lookup_of(harness: Harness) -> DocumentTableLookup:
    projection = harness.projection
    implements = isinstance(projection, DocumentTableLookup)
    assert implements == (projection.name in LOOKUP_TARGETS), projection.name
    if not implements:
        pytest.skip(f"{projection.name} records the table lifecycle instead")
    assert isinstance(projection, DocumentTableLookup)
    return projection


def test_held_documents_are_named_whatever_their_state(harness: Harness) -> None:
    lookup = lookup_of(harness)
    changes = [
        make_change("live", 0, table="Person"),
        make_change("gone", 0, table="Vehicle"),
        make_change("gone", 1, table="Vehicle", kind=ChangeKind.DELETE),
        make_change("hidden", 0, table="Policy"),
        make_change("hidden", 1, table="Policy"),
        make_change("hidden", 1, table="Policy", kind=ChangeKind.REDACTION),
    ]
    report = harness.projection.apply(changes)
    assert report.failures == []
    assert lookup.table_of_document("live", TABLE_ID) == "Person"
    assert lookup.table_of_document("gone", TABLE_ID) == "Vehicle"
    assert lookup.table_of_document("hidden", TABLE_ID) == "Policy"
    assert lookup.table_of_document("never-stored", TABLE_ID) is None
    assert lookup.table_of_document("", TABLE_ID) is None
    assert lookup.table_of_document("\ud800", TABLE_ID) is None


def test_hostile_names_are_named_exactly(harness: Harness) -> None:
    lookup = lookup_of(harness)
    changes = [make_change(doc_id, 0, table=table) for table, doc_id in HOSTILE_NAMES]
    assert harness.projection.apply(changes).failures == []
    for table, doc_id in HOSTILE_NAMES:
        assert lookup.table_of_document(doc_id, TABLE_ID) == table, (table, doc_id)


def test_a_document_recorded_with_another_table_id_is_not_named(harness: Harness) -> None:
    """Where the target keeps the table id (DynamoDB, the reference), it must agree."""
    lookup = lookup_of(harness)
    other = replace(make_change("d1", 0, table="Person"), table_id="OtherTableId0000000000")
    assert harness.projection.apply([other]).failures == []
    named = lookup.table_of_document("d1", TABLE_ID)
    if harness.projection.name in ("memory", "dynamodb"):
        assert named is None
    else:  # S3 and OpenSearch keep no table id: the unique document id decides
        assert named == "Person"
    assert lookup.table_of_document("d1", "OtherTableId0000000000") == "Person"
