"""The PostgreSQL projection under the contract suite, on a real server.

The server is ``tests/support/pg_server.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from core import json_codec
from core.model import DocKey
from projections.postgres import PostgresProjection, from_uri
from tests.support import pg_server
from tests.support.projection_harness import CurrentRow, Harness, HistoryRow

NAME = "postgresql"


def exact_data(text: str | None) -> Any:
    """Parse the ``coalesce(data_exact::text, data::text)`` column with exact decimals."""
    return None if text is None else json_codec.loads(text)


def read_current(conn: psycopg.Connection[Any], schema: str) -> dict[DocKey, CurrentRow]:
    """Every row of ``documents`` in ``schema`` as the harness's normalised rows."""
    rows = conn.execute(
        sql.SQL(
            "SELECT ledger_table, document_id, version, deleted, redacted,"
            " coalesce(data_exact::text, data::text), tx_id, tx_time, revision_hash FROM {}"
        ).format(sql.Identifier(schema, "documents"))
    ).fetchall()
    return {
        DocKey(t, d): CurrentRow(v, dl, rd, exact_data(data), tx, tt, rh)
        for t, d, v, dl, rd, data, tx, tt, rh in rows
    }


def read_history(
    conn: psycopg.Connection[Any], schema: str
) -> dict[tuple[DocKey, int], HistoryRow]:
    """Every row of ``revisions`` in ``schema`` as the harness's normalised rows."""
    rows = conn.execute(
        sql.SQL(
            "SELECT ledger_table, document_id, version, deleted, redacted,"
            " coalesce(data_exact::text, data::text) FROM {}"
        ).format(sql.Identifier(schema, "revisions"))
    ).fetchall()
    return {
        (DocKey(t, d), v): HistoryRow(dl, rd, exact_data(data)) for t, d, v, dl, rd, data in rows
    }


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    del tmp_path  # state lives in a fresh schema of the shared test server
    dsn = pg_server.require_dsn()
    schema = pg_server.fresh_schema(dsn, "contract")
    projection = from_uri(f"{dsn}?schema={schema}")
    assert isinstance(projection, PostgresProjection)
    projection.completed_objects("create-tables")
    with psycopg.connect(dsn, autocommit=True) as conn:

        def reset() -> None:
            conn.execute(
                sql.SQL("TRUNCATE {}, {}, {}").format(
                    sql.Identifier(schema, "documents"),
                    sql.Identifier(schema, "revisions"),
                    sql.Identifier(schema, "qldb_cdc_checkpoints"),
                )
            )

        try:
            yield Harness(
                projection,
                lambda: read_current(conn, schema),
                lambda: read_history(conn, schema),
                reset,
                max_examples=40,
            )
        finally:
            projection.close()
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
