"""What docs/opensearch.md tells analysts, run as written against the project's OpenSearch
server: the live-documents query returns live documents only (never a checkpoint, of this
release or an earlier one), checkpoints are outside ``<prefix>-*``, and the server, like a real
cluster, never finds unindexed fields and refuses what it cannot compute."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.exceptions import RequestError

from core.ion_kinds import IonKind
from core.model import Change, ChangeKind
from projections.opensearch import OpenSearchProjection, build_client, parse_uri
from projections.opensearch_names import legacy_checkpoint_index
from tests.support.builders import history, make_change
from tests.support.opensearch_fake import FakeOpenSearch

DOCS = Path(__file__).resolve().parents[3] / "docs" / "opensearch.md"


def documented_requests() -> list[dict[str, Any]]:
    """Every ``POST <prefix>-*/_search`` body in the Dashboards section, in order."""
    section = DOCS.read_text(encoding="utf-8").split("## Dashboards", 1)[1].split("\n## ", 1)[0]
    bodies = re.findall(r"```json\nPOST <prefix>-\*/_search\n(.*?)```", section, re.DOTALL)
    return [json.loads(body) for body in bodies]


@pytest.fixture
def fake() -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch() as server:
        yield server


def projection(fake: FakeOpenSearch, query: str = "") -> OpenSearchProjection:
    target = parse_uri(f"opensearch+http://127.0.0.1:{fake.port}/cdc{query}")
    return OpenSearchProjection(
        build_client(target), target.prefix, data_mapping=target.data_mapping
    )


def search(p: OpenSearchProjection, pattern: str, body: dict[str, Any]) -> Any:
    return p._client.transport.perform_request("POST", f"/{pattern}/_search", body=body)


def fill(p: OpenSearchProjection) -> None:
    changes = history("live", 3) + history("gone", 2, delete_last=True)
    changes += [make_change("red", 0), make_change("red", 0, kind=ChangeKind.REDACTION)]
    changes += [make_change("other", 0, table="Vehicle")]
    assert not p.apply(changes).failures
    p.mark_object_complete("export-1", "objects/1.ion")
    # A checkpoint as an earlier release wrote it, inside <prefix>-*.
    p._client.transport.perform_request(
        "PUT",
        f"/{legacy_checkpoint_index('cdc')}/_doc/old",
        params={"refresh": "true"},
        body={"exportId": "export-1", "key": "objects/0.ion"},
    )
    p._client.transport.perform_request("POST", "/cdc*/_refresh")


def test_the_documented_live_query_returns_live_documents_only(fake: FakeOpenSearch) -> None:
    p = projection(fake)
    fill(p)
    live_query = documented_requests()[0]
    hits = search(p, "cdc-*", {**live_query, "size": 100})["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == ["live", "other"]
    everything = search(p, "cdc-*", {"size": 100})["hits"]["hits"]
    assert "cdc~checkpoints" in fake.indices  # this release's checkpoints ...
    assert {h["_index"] for h in everything} == {  # ... are outside the pattern
        "cdc-.person",
        "cdc-.vehicle",
        legacy_checkpoint_index("cdc"),  # an earlier release's: the filter above skips it
    }
    p.close()


def test_checkpoints_of_an_earlier_release_are_still_read(fake: FakeOpenSearch) -> None:
    p = projection(fake)
    fill(p)
    assert p.completed_objects("export-1") == {"objects/0.ion", "objects/1.ion"}
    assert sorted(s.key.doc_id for s in p.iter_current_state()) == [
        "gone",
        "live",
        "other",
        "red",
    ]
    p.close()


def test_unindexed_fields_match_nothing_and_aggregations_are_refused(
    fake: FakeOpenSearch,
) -> None:
    stored = projection(fake)  # data=stored: data.* is not indexed
    assert not stored.apply([make_change("a", 0, data={"City": "Tacoma"})]).failures
    stored._client.transport.perform_request("POST", "/cdc-*/_refresh")
    term = {"query": {"term": {"data.City": "Tacoma"}}}
    assert search(stored, "cdc-*", term)["hits"]["hits"] == []
    by_id = {"query": {"term": {"qldb.documentId": "a"}}}
    assert len(search(stored, "cdc-*", by_id)["hits"]["hits"]) == 1
    with pytest.raises(RequestError, match="aggregations"):
        search(stored, "cdc-*", documented_requests()[1])
    stored.close()
    fake.indices.clear()
    dynamic = projection(fake, "?data=dynamic")
    assert not dynamic.apply([make_change("a", 0, data={"City": "Tacoma"})]).failures
    dynamic._client.transport.perform_request("POST", "/cdc-*/_refresh")
    assert len(search(dynamic, "cdc-*", term)["hits"]["hits"]) == 1
    dynamic.close()


def kinded(change: Change, **kinds: IonKind) -> Change:
    return dataclasses.replace(change, field_kinds=tuple(sorted(kinds.items())))


def test_typed_mode_copies_fields_by_kind_and_never_conflicts(fake: FakeOpenSearch) -> None:
    p = projection(fake, "?data=typed")
    first = make_change("a", 0, data={"City": "Tacoma", "Price": Decimal("1.50"), "v": 1})
    second = make_change(
        "b", 0, data={"City": "Seattle", "v": "one", "at": "2021-02-09T02:16-08:00"}
    )
    changes = [
        kinded(first, City=IonKind.STRING, Price=IonKind.DECIMAL, v=IonKind.INT),
        kinded(second, City=IonKind.STRING, v=IonKind.STRING, at=IonKind.TIMESTAMP),
    ]
    report = p.apply(changes)
    assert report.applied == 2 and not report.failures and p.untyped_fallbacks == 0
    p._client.transport.perform_request("POST", "/cdc-*/_refresh")
    by_city = {"query": {"term": {"typed.City.string": "Tacoma"}}}
    [hit] = search(p, "cdc-*", by_city)["hits"]["hits"]
    assert hit["_id"] == "a"
    assert hit["_source"]["typed"] == {
        "City": {"string": "Tacoma"},
        "Price": {"number": 1.5},
        "v": {"number": 1.0},
    }
    assert str(hit["_source"]["data"]["Price"]) == "1.50"  # the document stays exact
    mapping = fake.indices["cdc-.person"].mapping
    assert mapping["typed.City.string"] == "keyword" and mapping["typed.v.number"] == "double"
    assert mapping["typed.v.string"] == "keyword" and mapping["typed.at.time"] == "date"
    [b] = search(p, "cdc-*", {"query": {"term": {"qldb.documentId": "b"}}})["hits"]["hits"]
    assert b["_source"]["typed"]["at"] == {"time": "2021-02-09T10:16:00.000000Z"}
    p.close()


def test_typed_copies_the_cluster_refuses_are_left_out_not_the_document(
    fake: FakeOpenSearch,
) -> None:
    p = projection(fake, "?data=typed")
    fake.total_fields_limit = 50  # a cluster's index.mapping.total_fields.limit, made small
    wide = {f"f{i:04d}": i for i in range(60)}
    change = kinded(make_change("w", 0, data=wide), **dict.fromkeys(wide, IonKind.INT))
    report = p.apply([change])
    assert report.applied == 1 and not report.failures and p.untyped_fallbacks == 1
    p._client.transport.perform_request("POST", "/cdc-*/_refresh")
    [hit] = search(p, "cdc-*", {"query": {"term": {"qldb.documentId": "w"}}})["hits"]["hits"]
    assert "typed" not in hit["_source"] and len(hit["_source"]["data"]) == len(wide)
    p.close()
