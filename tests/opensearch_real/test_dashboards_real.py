"""The queries docs/opensearch.md gives analysts, as written, against a real cluster (see
conftest): the live-documents query and the live documents per table aggregation."""

from __future__ import annotations

import dataclasses
import os
from decimal import Decimal
from typing import Any

from core.ion_kinds import IonKind
from core.model import ChangeKind
from projections.opensearch import OpenSearchProjection, build_client, parse_uri
from projections.opensearch_names import checkpoint_index
from tests.integration.projections.test_opensearch_dashboards import documented_requests
from tests.opensearch_real.conftest import target_uri
from tests.support.builders import history, make_change
from tests.support.opensearch_readback import delete_indices
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


def test_typed_mode_aggregates_document_fields(real_prefix: str) -> None:
    uri = target_uri(os.environ["OPENSEARCH_URL"], f"{real_prefix}-typed")
    target = parse_uri(uri)
    projection = OpenSearchProjection(build_client(target), target.prefix, data_mapping="typed")
    try:
        changes = [
            dataclasses.replace(
                make_change(f"p{i}", 0, data={"City": city, "Price": Decimal("1.50")}),
                field_kinds=(("City", IonKind.STRING), ("Price", IonKind.DECIMAL)),
            )
            for i, city in enumerate(["Tacoma", "Tacoma", "Seattle"])
        ]
        assert not projection.apply(changes).failures
        transport = projection._client.transport
        pattern = f"{target.prefix}-*"
        transport.perform_request("POST", f"/{pattern}/_refresh")
        body = {
            "size": 0,
            "aggs": {
                "cities": {"terms": {"field": "typed.City.string"}},
                "total": {"sum": {"field": "typed.Price.number"}},
            },
        }
        aggs = transport.perform_request("POST", f"/{pattern}/_search", body=body)["aggregations"]
        assert {b["key"]: b["doc_count"] for b in aggs["cities"]["buckets"]} == {
            "Tacoma": 2,
            "Seattle": 1,
        }
        assert aggs["total"]["value"] == 4.5
    finally:
        delete_indices(projection)
        for name in (target.prefix, checkpoint_index(target.prefix)):
            projection._client.transport.perform_request(
                "DELETE", f"/_index_template/{name}", params={"ignore": 404}
            )
        projection.close()
