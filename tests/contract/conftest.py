"""Runs every contract test once per projection backend found in ``backend_*.py`` modules."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.projection_harness import Harness


def iter_backend_modules() -> Iterator[ModuleType]:
    """Import every ``tests/contract/backend_*.py`` module, sorted by name."""
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda i: i.name):
        if info.name.startswith("backend_"):
            yield importlib.import_module(f"tests.contract.{info.name}")


BACKENDS = {module.NAME: module for module in iter_backend_modules()}


@pytest.fixture(params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A fresh, empty projection of each backend in turn."""
    module = BACKENDS[request.param]
    with module.harness(tmp_path) as h:
        h.reset()
        yield h
