"""Pure parts of the OpenSearch projection: versions, bodies, chunking, item classification."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import json_codec
from core.errors import (
    PoisonError,
    RetryableError,
    ThrottledError,
    UnstorableChangeError,
)
from core.model import Change, ChangeKind
from projections.opensearch_bulk import (
    BulkEntry,
    ItemOutcome,
    bulk_body,
    bulk_entry,
    chunk_by_bytes,
    classify_item,
    document_body,
    external_version,
)
from projections.opensearch_names import checkpoint_index
from projections.opensearch_template import checkpoint_template, table_template, templates
from tests.support.builders import make_change

KINDS = [ChangeKind.UPDATE, ChangeKind.DELETE, ChangeKind.REDACTION]


@settings(max_examples=200)
@given(st.integers(0, 10**6), st.sampled_from(KINDS), st.integers(0, 10**6), st.sampled_from(KINDS))
def test_external_version_orders_exactly_like_supersedes(
    v1: int, k1: ChangeKind, v2: int, k2: ChangeKind
) -> None:
    a, b = make_change("d", v1, kind=k1), make_change("d", v2, kind=k2)
    # OpenSearch writes only when the external version is strictly greater.
    assert (external_version(a) > external_version(b)) == a.supersedes(b)


def test_external_version_values() -> None:
    assert external_version(make_change("d", 0)) == 0
    assert external_version(make_change("d", 0, kind=ChangeKind.REDACTION)) == 1
    assert external_version(make_change("d", 3)) == 6
    assert external_version(make_change("d", 3, kind=ChangeKind.DELETE)) == 6
    assert external_version(make_change("d", 3, kind=ChangeKind.REDACTION)) == 7


def test_document_body_of_an_update_keeps_data_and_metadata() -> None:
    change = make_change("doc", 2, table="Vehicle", seq=9)
    body = document_body(change)
    assert body["data"] == change.data
    assert body["qldb"] == {
        "version": 2,
        "deleted": False,
        "redacted": False,
        "txId": change.tx_id,
        "txTime": change.tx_time,
        "revisionHash": change.revision_hash,
        "dataHash": None,
        "ledgerTable": "Vehicle",
        "documentId": "doc",
        "blockStrand": change.block.strand_id,
        "blockSeq": 109,
    }


def test_tombstone_and_redaction_bodies_have_no_data_and_the_true_version() -> None:
    delete = document_body(make_change("doc", 4, kind=ChangeKind.DELETE))
    assert delete["data"] is None
    assert (delete["qldb"]["deleted"], delete["qldb"]["redacted"]) == (True, False)
    assert delete["qldb"]["version"] == 4
    redaction = make_change("doc", 4, kind=ChangeKind.REDACTION)
    body = document_body(redaction)
    assert body["data"] is None
    assert (body["qldb"]["deleted"], body["qldb"]["redacted"]) == (False, True)
    assert body["qldb"]["version"] == 4  # not the external version 9
    assert body["qldb"]["dataHash"] == redaction.data_hash


def test_bulk_entry_is_an_external_index_action_with_exact_decimals() -> None:
    change = make_change("Doc1", 5, table="VehicleRegistration", data={"p": Decimal("1.50")})
    entry = bulk_entry("cdc", change)
    action_line, source_line, rest = entry.payload.decode().split("\n")
    assert rest == ""
    assert json.loads(action_line) == {
        "index": {
            "_index": "cdc-.vehicle.registration",
            "_id": "Doc1",
            "version": 10,
            "version_type": "external",
        }
    }
    assert '"data":{"p":1.50}' in source_line
    assert json_codec.loads(source_line) == json_codec.loads(
        json_codec.dumps(document_body(change))
    )
    assert entry.size == len(entry.payload)


def test_a_non_finite_decimal_is_unstorable() -> None:
    change = make_change("d", 0, data={"x": Decimal("NaN")})
    with pytest.raises(UnstorableChangeError, match="cannot be written as JSON"):
        bulk_entry("cdc", change)


def _entry(size: int, n: int) -> BulkEntry:
    return BulkEntry(make_change(f"d{n}", 0), b"x" * size)


@given(st.lists(st.integers(1, 300), max_size=40), st.integers(1, 600))
def test_chunk_by_bytes_keeps_every_entry_once_within_the_limit(
    sizes: list[int], limit: int
) -> None:
    entries = [_entry(size, n) for n, size in enumerate(sizes)]
    chunks = list(chunk_by_bytes(entries, limit))
    assert [e for chunk in chunks for e in chunk] == entries
    for chunk in chunks:
        assert chunk
        assert len(chunk) == 1 or sum(e.size for e in chunk) <= limit
    # Greedy: a chunk closes only when the next entry would not fit.
    for chunk, following in itertools.pairwise(chunks):
        assert sum(e.size for e in chunk) + following[0].size > limit


def test_bulk_body_concatenates_payloads_in_order() -> None:
    entries = [bulk_entry("cdc", make_change(f"d{i}", i)) for i in range(3)]
    body = bulk_body(entries)
    assert body.endswith(b"\n")
    assert body.count(b"\n") == 6
    assert body == b"".join(e.payload for e in entries)


def _item(status: int, error_type: str | None = None) -> dict[str, object]:
    item: dict[str, object] = {"_index": "cdc-person", "_id": "a", "status": status}
    if error_type:
        item["error"] = {"type": error_type, "reason": "why", "caused_by": {"type": "c"}}
    return {"index": item}


@pytest.mark.parametrize(
    ("item", "outcome", "error"),
    [
        (_item(201), ItemOutcome.APPLIED, None),
        (_item(200), ItemOutcome.APPLIED, None),
        (_item(409, "version_conflict_engine_exception"), ItemOutcome.STALE, None),
        (_item(429, "es_rejected_execution_exception"), ItemOutcome.RETRY, ThrottledError),
        (_item(503, "unavailable_shards_exception"), ItemOutcome.RETRY, RetryableError),
        (_item(500, "internal"), ItemOutcome.RETRY, RetryableError),
        (_item(400, "mapper_parsing_exception"), ItemOutcome.FAILED, UnstorableChangeError),
        (_item(400, "illegal_argument_exception"), ItemOutcome.FAILED, UnstorableChangeError),
        (_item(403, "cluster_block_exception"), ItemOutcome.FAILED, RetryableError),
        (_item(404, "index_not_found_exception"), ItemOutcome.FAILED, RetryableError),
        (_item(409, "something_else"), ItemOutcome.FAILED, RetryableError),
        ({"delete": {"status": 200}}, ItemOutcome.FAILED, RetryableError),
        ({"index": {"_id": "a"}}, ItemOutcome.FAILED, RetryableError),
    ],
)
def test_classify_item(
    item: dict[str, object], outcome: ItemOutcome, error: type[Exception] | None
) -> None:
    result = classify_item(item)
    assert result.outcome is outcome
    if error is None:
        assert result.error is None
    else:
        assert type(result.error) is error


def test_classified_400_is_poison_and_names_the_cause() -> None:
    error = classify_item(_item(400, "mapper_parsing_exception")).error
    assert isinstance(error, PoisonError)
    assert "mapper_parsing_exception: why" in str(error)
    assert "caused by c" in str(error)


def test_table_template_maps_qldb_metadata() -> None:
    body = table_template("cdc")
    assert body["index_patterns"] == ["cdc-*"]
    props = body["template"]["mappings"]["properties"]["qldb"]["properties"]
    assert props["txTime"] == {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
    assert props["version"] == {"type": "long"}
    assert props["deleted"] == {"type": "boolean"}
    assert props["redacted"] == {"type": "boolean"}
    for key in ("txId", "revisionHash", "dataHash", "ledgerTable", "documentId", "blockStrand"):
        assert props[key] == {"type": "keyword"}


@pytest.mark.parametrize(
    ("mode", "data"),
    [
        ("stored", {"type": "object", "enabled": False}),
        ("flat", {"type": "flat_object"}),
        ("dynamic", {"type": "object", "dynamic": True}),
    ],
)
def test_data_mapping_modes(mode: str, data: dict[str, object]) -> None:
    body = templates("cdc", mode)["cdc"]  # type: ignore[arg-type]
    assert body["template"]["mappings"]["properties"]["data"] == data


def test_checkpoint_template_wins_over_the_table_template() -> None:
    table, checkpoints = table_template("cdc"), checkpoint_template("cdc")
    assert checkpoints["index_patterns"] == [checkpoint_index("cdc")] == ["cdc~checkpoints"]
    assert checkpoints["priority"] > table["priority"]
    assert checkpoints["template"]["mappings"]["properties"] == {
        "exportId": {"type": "keyword"},
        "key": {"type": "keyword"},
    }


@pytest.mark.parametrize(
    "change",
    [
        make_change("d", 0, data={"k": ["\ud800"]}),
        make_change("d\udfff", 0),
        make_change("d", 0, table="T\ud800"),
    ],
    ids=["data", "document id", "table"],
)
def test_bulk_entry_refuses_text_that_is_not_utf8(change: Change) -> None:
    # Before: encoded with "surrogatepass", which sends invalid UTF-8 to the cluster.
    with pytest.raises(UnstorableChangeError, match="surrogate"):
        bulk_entry("cdc", change)
