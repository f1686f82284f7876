"""Unit tests are pure: no module under ``tests/unit/`` reaches a server or a server client.

A unit test module may not import a server client library (:data:`SERVER_LIBRARIES`), a support
module that starts or talks to a server, or another suite (:data:`SERVER_TEST_MODULES`): not
directly, not in a function, and not through the ``tests.*`` helpers it imports (followed
recursively). Tests that need moto, PostgreSQL or the OpenSearch fake belong in
``tests/integration/`` (or ``tests/contract/``, ``tests/functional/``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
SERVER_LIBRARIES = ("boto3", "moto", "psycopg", "opensearchpy", "http.server", "socketserver")
SERVER_TEST_MODULES = (
    "tests.support.moto_server",
    "tests.support.pg_server",
    "tests.support.opensearch_fake",
    "tests.support.kinesis_events",
    "tests.integration",
    "tests.contract",
    "tests.functional",
    "tests.fuzz",
    "tests.opensearch_real",
)
FORBIDDEN = SERVER_LIBRARIES + SERVER_TEST_MODULES


def imported_names(source: str) -> set[str]:
    """Every module a source may import: ``from a import b`` counts as ``a`` and ``a.b``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def is_forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)


def module_file(name: str) -> Path | None:
    """The file of a ``tests.*`` module in this repository, or ``None`` (not a module)."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def server_imports(source: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The import chains (``a -> b -> psycopg``) by which ``source`` reaches a forbidden module."""
    chains: set[str] = set()
    for name in sorted(imported_names(source)):
        if is_forbidden(name):
            chains.add(name)
        elif name.startswith("tests.") and name not in seen:
            helper = module_file(name)
            if helper is not None:
                below = server_imports(helper.read_text(encoding="utf-8"), seen | {name})
                chains |= {f"{name} -> {chain}" for chain in below}
    return chains


def unit_modules() -> list[Path]:
    return sorted(UNIT.rglob("*.py"))


def test_the_unit_suite_is_found() -> None:
    assert len(unit_modules()) > 20


@pytest.mark.parametrize("path", unit_modules(), ids=lambda p: p.relative_to(UNIT).as_posix())
def test_unit_test_module_reaches_no_server(path: Path) -> None:
    assert server_imports(path.read_text(encoding="utf-8")) == set()


@pytest.mark.parametrize(
    ("source", "chain"),
    [
        ("import boto3", "boto3"),
        ("from moto.server import ThreadedMotoServer", "moto.server"),
        ("def connect() -> None:\n    import psycopg\n", "psycopg"),
        ("from http.server import ThreadingHTTPServer", "http.server"),
        ("from tests.support import pg_server", "tests.support.pg_server"),
        ("from tests.support.moto_server import aws_client", "tests.support.moto_server"),
        (
            "from tests.support.opensearch_fake import FakeOpenSearch",
            "tests.support.opensearch_fake",
        ),
        ("from tests.contract.backend_sqlite import harness", "tests.contract.backend_sqlite"),
        (
            "from tests.support.postgres_readback import read_current",
            "tests.support.postgres_readback -> psycopg",
        ),
        (
            "from tests.support.opensearch_readback import opensearch_harness",
            "tests.support.opensearch_readback -> opensearchpy.exceptions",
        ),
    ],
)
def test_a_server_import_is_found(source: str, chain: str) -> None:
    assert chain in server_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "import json",
        "from botocore.exceptions import ClientError",
        "from tests.support.builders import make_change",
        "from tests.support.opensearch_index_names import invalid_index_name",
        "from tests.support.synthetic_stream import aggregate",
    ],
)
def test_a_pure_import_passes(source: str) -> None:
    assert server_imports(source) == set()
