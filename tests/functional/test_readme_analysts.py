"""The README's "For analysts" examples run as written: each SQL block marked
``<!-- analysts: sqlite|duckdb|postgresql -->`` against the quick start's export replayed into
that engine, every statement answering rows."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql

from consumers.cli import main
from tests.support import pg_server

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(engine: str) -> list[str]:
    """The statements of the README block marked for ``engine``."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(rf"<!-- analysts: {engine} -->\n```sql\n(.*?)```", text, re.DOTALL)
    assert len(found) == 1, engine
    return [s.strip() for s in found[0].split(";\n") if s.strip()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick start's export and ``demo.db``, made in a fresh folder."""
    root = tmp_path_factory.mktemp("analysts")
    args = ["simulate", str(root / "demo-export"), "--documents", "200", "--revisions", "4000"]
    assert main([*args, "--format", "ion_binary", "--seed", "1"]) == 0
    replay = ["replay", str(root / "demo-export"), "--to", f"sqlite:///{root / 'demo.db'}"]
    assert main([*replay, "--verify", "--no-progress"]) == 0
    return root


def test_the_sqlite_examples_run(demo: Path) -> None:
    with sqlite3.connect(demo / "demo.db") as conn:
        for statement in blocks("sqlite"):
            assert conn.execute(statement).fetchall(), statement


def test_the_duckdb_examples_run_on_a_snapshot(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo)  # the README's paths are relative to where the demo was made
    args = ["snapshot", "--from", "sqlite:///demo.db", "--to", "demo-snapshot", "--history"]
    assert main(args) == 0
    conn = duckdb.connect()
    for statement in blocks("duckdb"):
        assert conn.execute(statement).fetchall(), statement


@pytest.fixture
def pg_uri() -> Iterator[tuple[str, str]]:
    dsn = pg_server.require_dsn()
    schema = pg_server.fresh_schema(dsn, "analysts")
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("ledger", schema):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_the_postgresql_examples_run(demo: Path, pg_uri: tuple[str, str]) -> None:
    dsn, schema = pg_uri
    uri = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"  # views in the default: ledger
    assert main(["replay", str(demo / "demo-export"), "--to", uri, "--no-progress"]) == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for statement in blocks("postgresql"):
            assert conn.execute(statement).fetchall(), statement
