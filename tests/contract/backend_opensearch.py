"""The OpenSearch projection under the contract suite, against the local fake over real HTTP.

:func:`tests.support.opensearch_readback.opensearch_harness` is shared with
``tests/opensearch_real`` (same cases, real cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.opensearch_fake import FakeOpenSearch
from tests.support.opensearch_readback import opensearch_harness
from tests.support.projection_harness import Harness

NAME = "opensearch"


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    """The projection against a fresh fake server."""
    with FakeOpenSearch() as fake:
        h = opensearch_harness(f"opensearch+http://127.0.0.1:{fake.port}/contract", 100)
        try:
            yield h
        finally:
            h.projection.close()
