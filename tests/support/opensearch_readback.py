"""Reading an OpenSearch projection back, and a contract harness over any cluster URI.

:func:`opensearch_harness` serves the contract suite (against the local fake) and
``tests/opensearch_real`` (same cases, real cluster).
"""

from __future__ import annotations

from typing import Any

from opensearchpy.exceptions import NotFoundError

from core.model import DocKey
from projections.opensearch import OpenSearchProjection, build_client, parse_uri
from projections.opensearch_names import checkpoint_index, index_name
from tests.support.projection_harness import CurrentRow, Harness


def read_current_rows(projection: OpenSearchProjection) -> dict[DocKey, CurrentRow]:
    """Every projected document (tombstones included), normalised, after a refresh."""
    client: Any = projection._client
    pattern = f"{projection.prefix}-*"
    client.transport.perform_request("POST", f"/{pattern}/_refresh")
    response = client.transport.perform_request(
        "POST", f"/{pattern}/_search", body={"size": 10_000, "query": {"match_all": {}}}
    )
    rows: dict[DocKey, CurrentRow] = {}
    for hit in response["hits"]["hits"]:
        if hit["_index"] == checkpoint_index(projection.prefix):
            continue
        meta = hit["_source"]["qldb"]
        key = DocKey(meta["ledgerTable"], hit["_id"])
        assert key not in rows, f"document {key} stored twice"
        assert hit["_index"] == index_name(projection.prefix, key.table)
        rows[key] = CurrentRow(
            version=meta["version"],
            deleted=meta["deleted"],
            redacted=meta["redacted"],
            data=hit["_source"]["data"],
            tx_id=meta["txId"],
            tx_time=meta["txTime"],
            revision_hash=meta["revisionHash"],
        )
    return rows


def delete_indices(projection: OpenSearchProjection) -> None:
    """Delete every index of the projection's prefix (by name: no wildcard deletes needed)."""
    client: Any = projection._client
    try:
        listed = client.transport.perform_request(
            "GET", f"/_cat/indices/{projection.prefix}-*", params={"format": "json"}
        )
    except NotFoundError:
        return
    for entry in listed or []:
        client.transport.perform_request("DELETE", f"/{entry['index']}")


def opensearch_harness(uri: str, max_examples: int) -> Harness:
    """A harness over a fresh projection for ``uri`` (``reset`` deletes the prefix's indices)."""
    projection = OpenSearchProjection(build_client(parse_uri(uri)), parse_uri(uri).prefix)
    return Harness(
        projection,
        read_current=lambda: read_current_rows(projection),
        read_history=None,
        reset=lambda: delete_indices(projection),
        max_examples=max_examples,
    )
