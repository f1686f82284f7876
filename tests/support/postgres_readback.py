"""Reading a PostgreSQL projection's ``documents`` and ``revisions`` tables back, normalised."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from core import json_codec
from core.model import DocKey
from tests.support.projection_harness import CurrentRow, HistoryRow


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
            " coalesce(data_exact::text, data::text), tx_id, tx_time, revision_hash, data_hash"
            " FROM {}"
        ).format(sql.Identifier(schema, "revisions"))
    ).fetchall()
    return {
        (DocKey(t, d), v): HistoryRow(dl, rd, exact_data(data), tx, tt, rh, dh)
        for t, d, v, dl, rd, data, tx, tt, rh, dh in rows
    }
