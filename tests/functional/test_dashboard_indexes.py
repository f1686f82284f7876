"""Indexes for dashboards in both SQL projections: "changes per day per table" is answered from
``qldb_cdc_revisions_by_time`` (never by reading ``revisions``), ``tx_time_utc`` holds the
instant of every row, and a SQLite projection of an earlier version is upgraded in place."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consumers.cli import main
from core.tx_time import utc_text
from projections.sqlite import SQLiteProjection
from projections.sqlite_migrations import INDEX_NAMES
from tests.support import pg_server

CHANGES_PER_DAY = (
    "SELECT ledger_table, substr(tx_time_utc, 1, 10) AS day, count(*) AS n"
    " FROM revisions GROUP BY 1, 2"
)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("idx") / "export"
    args = ["simulate", str(root), "--documents", "60", "--revisions", "600", "--seed", "5"]
    assert main([*args, "--format", "ion_binary"]) == 0
    return root


def test_sqlite_changes_per_day_come_from_the_index(export: Path, tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    with sqlite3.connect(db) as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + CHANGES_PER_DAY))
        assert "COVERING INDEX qldb_cdc_revisions_by_time" in plan
        live = " ".join(
            str(r[-1])
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM documents"
                " WHERE ledger_table = 'Person' AND deleted = 0"
            )
        )
        assert "qldb_cdc_documents_by_state" in live
        rows = conn.execute("SELECT ledger_table, tx_time, tx_time_utc FROM revisions").fetchall()
        counted = Counter((t, str(utc_text(x))[:10]) for t, x, _ in rows)
        assert all(u == utc_text(x) and u is not None for _, x, u in rows)
        by_day = {(t, d): n for t, d, n in conn.execute(CHANGES_PER_DAY)}
    assert by_day == dict(counted) and sum(by_day.values()) == len(rows) > 0


def test_an_earlier_sqlite_projection_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    columns = (
        "ledger_table TEXT NOT NULL, document_id TEXT NOT NULL, version INTEGER NOT NULL,"
        " deleted INTEGER NOT NULL, redacted INTEGER NOT NULL, data TEXT, tx_id TEXT NOT NULL,"
        " tx_time TEXT NOT NULL, block_strand TEXT NOT NULL, block_seq INTEGER NOT NULL,"
        " revision_hash TEXT NOT NULL, data_hash TEXT"
    )
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE documents ({columns}, PRIMARY KEY (ledger_table, document_id))")
        conn.execute(
            f"CREATE TABLE revisions ({columns}, PRIMARY KEY (ledger_table, document_id, version))"
        )
        for table in ("documents", "revisions"):
            conn.execute(
                f"INSERT INTO {table} VALUES ('T', 'd', 0, 0, 0, '{{}}', 'tx',"
                " '2021-02-09T23:30:00.5-08:00', 's', 1, 'h', NULL)"
            )
    for _ in range(2):  # the second open finds nothing to do
        SQLiteProjection(db).close()
    with sqlite3.connect(db) as conn:
        for table in ("documents", "revisions"):
            [(value,)] = conn.execute(f"SELECT tx_time_utc FROM {table}").fetchall()
            assert value == "2021-02-10T07:30:00.500000Z"
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(INDEX_NAMES) <= names


@pytest.fixture
def pg_uri() -> Iterator[tuple[str, str]]:
    dsn = pg_server.require_dsn()
    schema = pg_server.fresh_schema(dsn, "idx")
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (schema + "_v", schema):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_postgres_time_queries_can_use_the_indexes(export: Path, pg_uri: tuple[str, str]) -> None:
    dsn, schema = pg_uri
    uri = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&view_schema={schema}_v"
    assert main(["replay", str(export), "--to", uri, "--no-progress", "--no-views"]) == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("SET enable_seqscan = off")  # tiny tables: ask whether an index serves
        plan = " ".join(
            str(r[0])
            for r in conn.execute(
                "EXPLAIN SELECT date_trunc('day', tx_time_utc), count(*) FROM revisions"
                " WHERE ledger_table = 'Person' AND tx_time_utc >= now() - interval '30 years'"
                " GROUP BY 1"
            )
        )
        assert "qldb_cdc_revisions_by_time" in plan
        live = " ".join(
            str(r[0])
            for r in conn.execute(
                "EXPLAIN SELECT document_id FROM documents WHERE ledger_table = 'Person'"
                " AND NOT deleted ORDER BY tx_time_utc DESC LIMIT 10"
            )
        )
        assert "qldb_cdc_documents_by_state" in live
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema + "_v"))
        )
