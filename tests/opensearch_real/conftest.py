"""Fixtures for the contract suite against a real OpenSearch cluster (``OPENSEARCH_URL``).

``OPENSEARCH_URL`` is a projection URI without the index prefix, for example
``opensearch+http://localhost:9200`` or
``opensearch+https://admin:secret@localhost:9200?verify=false`` or
``opensearch+https://search-x.eu-west-1.es.amazonaws.com?auth=sigv4&region=eu-west-1``
(plain ``http(s)://`` is accepted too). Each test session uses a fresh random index prefix and
deletes its indices and templates afterwards. Without ``OPENSEARCH_URL`` every test here is
skipped with that reason: this is the project's one deliberate skip, because no OpenSearch server
can run in CI; the same cases run against ``tests/support/opensearch_fake.py`` in
``tests/contract``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from projections.opensearch_names import checkpoint_index
from tests.support.opensearch_readback import delete_indices, opensearch_harness
from tests.support.projection_harness import Harness

SKIP_REASON = "OPENSEARCH_URL is not set: the real-cluster OpenSearch contract suite needs one"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``opensearch_real`` and skip them without a cluster."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.opensearch_real)
            if not os.environ.get("OPENSEARCH_URL"):
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def target_uri(base: str, prefix: str) -> str:
    """``base`` with ``prefix`` as its path and an ``opensearch+`` scheme."""
    parts = urlsplit(base)
    scheme = (
        parts.scheme if parts.scheme.startswith("opensearch+") else f"opensearch+{parts.scheme}"
    )
    return urlunsplit((scheme, parts.netloc, f"/{prefix}", parts.query, ""))


@pytest.fixture(scope="session")
def real_prefix() -> str:
    """A fresh index prefix for this session."""
    return f"qldbcdc-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def harness(real_prefix: str) -> Iterator[Harness]:
    """The OpenSearch projection against the real cluster, emptied before and after each test."""
    h = opensearch_harness(target_uri(os.environ["OPENSEARCH_URL"], real_prefix), 10)
    h.reset()
    try:
        yield h
    finally:
        projection: Any = h.projection
        delete_indices(projection)
        for name in (real_prefix, checkpoint_index(real_prefix)):
            projection._client.transport.perform_request(
                "DELETE", f"/_index_template/{name}", params={"ignore": 404}
            )
        projection.close()
