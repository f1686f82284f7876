"""Runs every contract test once per projection backend found in ``backend_*.py`` modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.harness import Harness, iter_backend_modules

BACKENDS = {module.NAME: module for module in iter_backend_modules()}


@pytest.fixture(params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A fresh, empty projection of each backend in turn."""
    module = BACKENDS[request.param]
    with module.harness(tmp_path) as h:
        h.reset()
        yield h
