"""OpenSearchProjection through opensearch-py over real HTTP against the local fake server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from core import json_codec
from core.errors import (
    ConfigError,
    PoisonError,
    RetryableError,
    ThrottledError,
    UnstorableChangeError,
)
from core.model import Change, ChangeKind
from core.retry import Backoff
from projections import opensearch
from projections.opensearch import (
    OpenSearchProjection,
    build_client,
    from_uri,
    parse_uri,
)
from projections.opensearch_bulk import bulk_entry
from projections.targets import open_projection
from tests.support.builders import history, make_change
from tests.support.opensearch_fake import FakeOpenSearch

ATTEMPTS = 4


class Sleeps:
    """Records the backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch() as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_projection(
    fake: FakeOpenSearch, sleeps: Sleeps, query: str = "", **kwargs: Any
) -> OpenSearchProjection:
    target = parse_uri(f"opensearch+http://127.0.0.1:{fake.port}/cdc{query}")
    return OpenSearchProjection(
        build_client(target),
        target.prefix,
        retry=Backoff(attempts=ATTEMPTS, base_seconds=0.1, cap_seconds=0.3),
        sleep=sleeps,
        data_mapping=target.data_mapping,
        **kwargs,
    )


def bulk_items(fake: FakeOpenSearch) -> list[list[str]]:
    """Document ids of each recorded _bulk request, in order."""
    out = []
    for request in fake.requests_to("POST", "/_bulk"):
        lines = request.body.decode().splitlines()
        out.append([json.loads(line)["index"]["_id"] for line in lines[::2]])
    return out


def stored(fake: FakeOpenSearch, doc_id: str, index: str = "cdc-.person") -> Any:
    doc = fake.doc(index, doc_id)
    assert doc is not None, f"{doc_id} not stored"
    return json_codec.loads(doc.source_text)


def docs(n: int) -> list[Change]:
    return [make_change(f"d{i}", 0) for i in range(n)]


def test_writes_one_index_per_table_with_external_versions(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    changes = [*history("a", 3), make_change("v", 1, table="VehicleRegistration")]
    report = projection.apply(changes)
    assert (report.received, report.applied, report.superseded, report.stale) == (4, 2, 2, 0)
    assert report.failures == []
    assert fake.doc("cdc-.person", "a").version == 4  # type: ignore[union-attr]
    assert fake.doc("cdc-.vehicle.registration", "v").version == 2  # type: ignore[union-attr]
    assert stored(fake, "a")["qldb"]["version"] == 2
    assert sleeps.delays == []


def test_decimals_reach_the_server_with_exact_digits(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    data = {"p": Decimal("1.50"), "z": Decimal("-0.000"), "e": Decimal("1.2E+5"), "n": 2**62}
    projection.apply([make_change("a", 0, data=data)])
    source = fake.doc("cdc-.person", "a").source_text  # type: ignore[union-attr]
    assert '"data":{"p":1.50,"z":-0.000,"e":1.2E+5,"n":4611686018427387904}' in source


def test_deletes_and_redactions_are_tombstone_documents_never_native_deletes(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    v0, v1 = history("a", 2)
    gone = make_change("a", 2, kind=ChangeKind.DELETE)
    red = make_change("b", 0, kind=ChangeKind.REDACTION)
    report = projection.apply([v0, v1, gone, make_change("b", 0), red])
    assert (report.applied, report.tombstones, report.redactions) == (2, 1, 1)
    assert stored(fake, "a")["data"] is None
    assert stored(fake, "a")["qldb"]["deleted"] is True
    assert stored(fake, "b")["qldb"]["redacted"] is True
    assert fake.doc("cdc-.person", "b").version == 1  # type: ignore[union-attr]
    late = projection.apply([v1])
    assert (late.applied, late.stale) == (0, 1)
    assert stored(fake, "a")["qldb"]["deleted"] is True
    assert not [r for r in fake.requests if r.method == "DELETE"]
    assert all(b'"delete"' not in r.body for r in fake.requests_to("POST", "/_bulk"))


def test_only_the_throttled_items_are_retried(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_next_items(2, status=429)
    report = projection.apply(docs(5))
    assert (report.applied, report.failures) == (5, [])
    sent = bulk_items(fake)
    assert sent[0] == ["d0", "d1", "d2", "d3", "d4"]
    assert sent[1:] == [["d0", "d1"]]
    assert sleeps.delays == [0.1]


def test_items_failing_every_attempt_become_retryable_failures_for_those_changes_only(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_writes_of("d0", ATTEMPTS, status=429)
    fake.fail_writes_of("d1", ATTEMPTS, status=429)
    report = projection.apply(docs(3))
    assert sleeps.delays == [0.1, 0.2, 0.3]  # bounded: ATTEMPTS - 1 backoffs, capped
    assert bulk_items(fake) == [["d0", "d1", "d2"]] + [["d0", "d1"]] * (ATTEMPTS - 1)
    assert report.applied == 1
    assert [f.change.key.doc_id for f in report.failures] == ["d0", "d1"]
    assert all(isinstance(f.error, ThrottledError) and f.retryable for f in report.failures)
    assert fake.doc("cdc-.person", "d2") is not None
    assert fake.doc("cdc-.person", "d0") is None


def test_5xx_items_exhausting_retries_are_retryable_not_throttled(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_writes_of("d0", ATTEMPTS, status=503)
    report = projection.apply([*docs(1), make_change("x", 0)])
    assert len(sleeps.delays) == ATTEMPTS - 1
    assert [f.change.key.doc_id for f in report.failures] == ["d0"]
    error = report.failures[0].error
    assert isinstance(error, RetryableError)
    assert not isinstance(error, ThrottledError)
    assert report.applied == 1


def test_a_mapping_conflict_is_poison_for_that_change_only(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps, query="?data=dynamic")
    assert projection.apply([make_change("a", 0, data={"x": 1})]).applied == 1
    conflicting = make_change("b", 0, data={"x": {"nested": True}})
    report = projection.apply([conflicting, make_change("c", 0, data={"x": 2})])
    assert report.applied == 1
    assert [f.change for f in report.failures] == [conflicting]
    failure = report.failures[0]
    assert failure.poison
    assert isinstance(failure.error, UnstorableChangeError)
    assert "mapper_parsing_exception" in str(failure.error)
    assert sleeps.delays == []  # poison is never retried
    assert fake.doc("cdc-.person", "b") is None


def test_stored_data_mapping_accepts_any_document_shape(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)  # default data=stored
    shapes: list[dict[str, Any]] = [
        {"x": 1},
        {"x": {"nested": True}},
        {"x": ["a", 1, {"y": []}]},
        {"x": "text"},
    ]
    report = projection.apply([make_change(f"s{i}", 0, data=d) for i, d in enumerate(shapes)])
    assert (report.applied, report.failures) == (4, [])
    assert stored(fake, "s2")["data"] == {"x": ["a", 1, {"y": []}]}


def test_whole_request_503_is_retried(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_next_requests(2, status=503)
    report = projection.apply(docs(3))
    assert (report.applied, report.failures) == (3, [])
    assert len(fake.requests_to("POST", "/_bulk")) == 3
    assert sleeps.delays == [0.1, 0.2]


def test_whole_request_failing_every_attempt_fails_every_change_retryably(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_next_requests(ATTEMPTS, status=502)
    changes = docs(3)
    report = projection.apply(changes)
    assert report.applied == 0
    assert [f.change for f in report.failures] == changes
    assert all(f.retryable for f in report.failures)
    assert len(fake.requests_to("POST", "/_bulk")) == ATTEMPTS


def test_whole_request_429_becomes_throttled(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_next_requests(ATTEMPTS, status=429)
    report = projection.apply(docs(1))
    assert isinstance(report.failures[0].error, ThrottledError)


def test_a_413_splits_the_request_until_it_fits(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    one = len(bulk_entry("cdc", make_change("d0", 0)).payload)
    fake.max_content_length = one * 2 + 10
    report = projection.apply(docs(5))
    assert (report.applied, report.failures) == (5, [])
    limit = fake.max_content_length
    sent = list(zip(fake.requests_to("POST", "/_bulk"), bulk_items(fake), strict=True))
    assert all(len(ids) > 1 for request, ids in sent if len(request.body) > limit)
    written = sorted(i for request, ids in sent if len(request.body) <= limit for i in ids)
    assert written == [f"d{i}" for i in range(5)]
    assert sleeps.delays == []  # splitting is not a retry


def test_a_single_document_over_the_servers_limit_is_a_retryable_failure(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    fake.max_content_length = 2000
    big = make_change("big", 0, data={"blob": "x" * 5000})
    report = projection.apply([big, make_change("small", 0)])
    assert report.applied == 1
    assert [f.change for f in report.failures] == [big]
    assert report.failures[0].retryable
    assert "413" in str(report.failures[0].error)
    assert sleeps.delays == []  # waiting cannot make it fit


def test_bulk_bodies_are_bounded_by_bytes(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps, max_bulk_bytes=2000)
    report = projection.apply(docs(40))
    assert report.applied == 40
    bodies = [r.body for r in fake.requests_to("POST", "/_bulk")]
    assert len(bodies) > 1
    assert all(len(body) <= 2000 for body in bodies)
    assert sorted(i for ids in bulk_items(fake) for i in ids) == sorted(f"d{i}" for i in range(40))


def test_templates_are_installed_once_before_the_first_write(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    assert projection.apply([]).received == 0
    assert fake.requests == []  # nothing to write: no request at all
    projection.apply(docs(1))
    projection.apply([make_change("d1", 1)])
    puts = fake.requests_to("PUT", "/_index_template/")
    assert [r.path for r in puts] == [
        "/_index_template/cdc",
        "/_index_template/cdc~checkpoints",
    ]
    assert fake.requests.index(puts[-1]) < fake.requests.index(
        fake.requests_to("POST", "/_bulk")[0]
    )
    assert fake.indices["cdc-.person"].mapping["qldb.txTime"] == "date"
    # A second projection (a new Lambda container) re-puts the same body: idempotent.
    make_projection(fake, sleeps).apply([make_change("d2", 0)])
    puts = [r for r in fake.requests_to("PUT", "/_index_template/cdc") if r.path.endswith("/cdc")]
    bodies = [json_codec.loads(r.body) for r in puts]
    assert len(bodies) == 2
    assert bodies[0] == bodies[1] == fake.templates["cdc"]


def test_templates_can_be_left_to_the_operator(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps, install_templates=False)
    assert projection.apply(docs(1)).applied == 1
    assert fake.requests_to("PUT", "/_index_template/") == []


def test_a_rejected_template_is_a_config_error(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    fake.fail_next_requests(1, status=400, path="/_index_template/")
    with pytest.raises(ConfigError, match="rejected index template"):
        make_projection(fake, sleeps).apply(docs(1))


def test_an_unreachable_cluster_raises_retryable_when_nothing_can_succeed(sleeps: Sleeps) -> None:
    with FakeOpenSearch() as server:
        port = server.port
    target = parse_uri(f"opensearch+http://127.0.0.1:{port}/cdc?timeout=2")
    projection = OpenSearchProjection(build_client(target), "cdc", sleep=sleeps)
    with pytest.raises(RetryableError, match="installing index template"):
        projection.apply(docs(1))
    no_templates = OpenSearchProjection(
        build_client(target),
        "cdc",
        sleep=sleeps,
        install_templates=False,
        retry=Backoff(attempts=2, base_seconds=0.01),
    )
    report = no_templates.apply(docs(2))
    assert len(report.failures) == 2
    assert all(f.retryable for f in report.failures)
    assert "ConnectionError" in str(report.failures[0].error)


def test_checkpoints_round_trip_and_page(
    fake: FakeOpenSearch, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    projection = make_projection(fake, sleeps)
    assert projection.completed_objects("exp1") == set()  # index does not exist yet
    monkeypatch.setattr(opensearch, "_CHECKPOINT_PAGE", 2)
    keys = {f"journal/{i}.ion" for i in range(5)}
    for key in sorted(keys):
        projection.mark_object_complete("exp1", key)
    projection.mark_object_complete("exp1", "journal/0.ion")  # idempotent
    projection.mark_object_complete("exp2", "other.ion")
    assert projection.completed_objects("exp1") == keys
    assert projection.completed_objects("exp2") == {"other.ion"}
    assert projection.completed_objects("exp3") == set()
    assert len(fake.indices["cdc~checkpoints"].docs) == 6
    assert fake.indices["cdc~checkpoints"].mapping["exportId"] == "keyword"


def test_checkpoint_write_failure_is_retryable(fake: FakeOpenSearch, sleeps: Sleeps) -> None:
    projection = make_projection(fake, sleeps)
    fake.fail_next_requests(1, status=503, path="/cdc~checkpoints/")
    with pytest.raises(RetryableError):
        projection.mark_object_complete("exp1", "k")


def test_parse_uri_options() -> None:
    target = parse_uri(
        "opensearch+https://search-x.eu-west-1.es.amazonaws.com/prod?auth=sigv4&region=eu-west-1"
        "&bulk_bytes=1000&timeout=5&templates=false&data=flat"
    )
    assert (target.scheme, target.port, target.prefix, target.sigv4) == ("https", 443, "prod", True)
    assert (target.region, target.service, target.bulk_bytes, target.timeout) == (
        "eu-west-1",
        "es",
        1000,
        5.0,
    )
    assert (target.install_templates, target.data_mapping, target.verify_certs) == (
        False,
        "flat",
        True,
    )
    local = parse_uri("opensearch+http://admin:p%40ss@localhost/cdc")
    assert (local.port, local.username, local.password, local.sigv4) == (
        9200,
        "admin",
        "p@ss",
        False,
    )
    assert (
        parse_uri("opensearch+https://x.eu-west-1.aoss.amazonaws.com/p?auth=sigv4").service
        == "aoss"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "opensearch+http://localhost",
        "opensearch+http://localhost/UPPER",
        "opensearch+http://localhost/a/b",
        "opensearch+http://localhost/cdc?bogus=1",
        "opensearch+http://localhost/cdc?auth=kerberos",
        "opensearch+http://u:p@localhost/cdc?auth=sigv4",
        "opensearch+http://localhost/cdc?bulk_bytes=0",
        "opensearch+http://localhost/cdc?data=nested",
        "opensearch+http://localhost/cdc?service=s3",
        "opensearch+http://localhost:notaport/cdc",
        "https://localhost/cdc",
    ],
)
def test_parse_uri_rejects(uri: str) -> None:
    with pytest.raises(ConfigError):
        parse_uri(uri)


def test_sigv4_signs_requests(
    fake: FakeOpenSearch, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    projection = from_uri(
        f"opensearch+http://127.0.0.1:{fake.port}/cdc?auth=sigv4&region=eu-west-1&service=aoss"
    )
    assert projection.apply(docs(1)).applied == 1
    headers = fake.requests_to("POST", "/_bulk")[0].headers
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/aoss/aws4_request" in headers["authorization"]
    assert "x-amz-content-sha256" in headers
    assert "x-amz-date" in headers


def test_sigv4_without_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigError, match="region"):
        from_uri("opensearch+https://example.com/cdc?auth=sigv4")


def test_basic_auth_and_the_target_registry(fake: FakeOpenSearch) -> None:
    projection = open_projection(f"opensearch+http://admin:s3cret@127.0.0.1:{fake.port}/cdc")
    assert isinstance(projection, OpenSearchProjection)
    assert projection.name == "opensearch"
    assert projection.apply(docs(1)).applied == 1
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert fake.requests_to("POST", "/_bulk")[0].headers["authorization"] == expected
    projection.close()


def test_poison_errors_are_poison_class() -> None:
    # Guard the classification contract the dead-letter path relies on.
    assert issubclass(UnstorableChangeError, PoisonError)


def test_sigv4_with_an_unknown_profile_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    with pytest.raises(ConfigError, match="no-such-profile"):
        from_uri("opensearch+https://example.com/cdc?auth=sigv4&region=eu-west-1")


def test_tables_differing_only_in_case_keep_separate_documents(
    fake: FakeOpenSearch, sleeps: Sleeps
) -> None:
    projection = make_projection(fake, sleeps)
    report = projection.apply(
        [make_change("same", 2, table="Person"), make_change("same", 0, table="person")]
    )
    assert (report.applied, report.stale, report.failures) == (2, 0, [])
    assert stored(fake, "same", "cdc-.person")["qldb"]["version"] == 2
    assert stored(fake, "same", "cdc-person")["qldb"]["version"] == 0
    assert stored(fake, "same", "cdc-person")["qldb"]["ledgerTable"] == "person"


@pytest.mark.parametrize(
    "index",
    [
        "cdc-Person",
        "cdc-a,b",
        "cdc-a b",
        "cdc-a#b",
        "cdc-a:b",
        "_cdc",
        "-cdc",
        "+cdc",
        "..",
        "c" * 256,
    ],
)
def test_the_fake_refuses_index_names_a_cluster_refuses(fake: FakeOpenSearch, index: str) -> None:
    action = json.dumps({"index": {"_index": index, "_id": "x"}})
    status, text = fake.handle("POST", "/_bulk", f"{action}\n{{}}\n".encode())
    (item,) = json.loads(text)["items"]
    assert (status, item["index"]["status"]) == (200, 400)
    assert item["index"]["error"]["type"] == "invalid_index_name_exception"
    assert index not in fake.indices
    status, _ = fake.handle("PUT", f"/{index.replace('#', '%23')}/_doc/x", b"{}")
    assert status == 400


def test_a_bad_prefix_is_a_one_line_config_error() -> None:
    for prefix in ("Cdc", "a,b", "p" * 129, "_x", "a%25b"):
        with pytest.raises(ConfigError, match="index prefix") as raised:
            parse_uri(f"opensearch+http://localhost:9200/{prefix}")
        assert "\n" not in str(raised.value)
