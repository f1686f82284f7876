"""The queries docs/opensearch.md gives analysts, as written, against a real cluster (see
conftest): the live-documents query and the live documents per table aggregation."""

from __future__ import annotations

from typing import Any

from core.model import ChangeKind
from tests.integration.projections.test_opensearch_dashboards import documented_requests
from tests.support.builders import history, make_change
from tests.support.projection_harness import Harness


def test_documented_dashboard_queries_answer_right(harness: Harness) -> None:
    projection: Any = harness.projection
    changes = history("live", 3) + history("gone", 2, delete_last=True)
    changes += [make_change("red", 0), make_change("red", 0, kind=ChangeKind.REDACTION)]
    changes += [make_change("other", 0, table="Vehicle")]
    assert not projection.apply(changes).failures
    projection.mark_object_complete("export-1", "objects/1.ion")
    pattern = f"{projection.prefix}-*"
    transport = projection._client.transport
    transport.perform_request("POST", f"/{pattern}/_refresh")
    live, per_table = documented_requests()
    hits = transport.perform_request("POST", f"/{pattern}/_search", body={**live, "size": 100})[
        "hits"
    ]["hits"]
    assert sorted(h["_id"] for h in hits) == ["live", "other"]
    buckets = transport.perform_request("POST", f"/{pattern}/_search", body=per_table)[
        "aggregations"
    ]["tables"]["buckets"]
    counts = {b["key"]: b["doc_count"] for b in buckets}
    assert counts == {"Person": 2, "Vehicle": 1}  # "red" is redacted, not deleted: live
