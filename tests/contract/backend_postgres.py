"""The PostgreSQL projection under the contract suite, on a real server.

The server comes from ``tests/support/pg_server.py`` (CI's, or a throwaway local cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from projections.postgres import PostgresProjection, from_uri
from tests.support import pg_server
from tests.support.postgres_readback import read_current, read_history
from tests.support.projection_harness import Harness

NAME = "postgresql"


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
