"""SQL of the PostgreSQL projection: schema DDL and the set-based merge statements.

Tables (created if missing, in the schema given by ``?schema=`` or the search path):

* ``documents``: current state, PK ``(ledger_table, document_id)``.
* ``revisions``: every revision once, PK ``(ledger_table, document_id, version)``.
* ``qldb_cdc_checkpoints``: replay resume points, PK ``(export_id, object_key)``.
* Indexes ``qldb_cdc_revisions_by_time (ledger_table, tx_time_utc)`` and
  ``qldb_cdc_documents_by_state (ledger_table, deleted, tx_time_utc)`` for dashboards.

A batch is ``COPY``-ed, part by part, into a per-session temporary staging table; each part is
consumed and merged into both tables by a single statement (three data-modifying CTEs). Parts
follow primary-key order and each merge inserts in primary-key order, so concurrent writers lock
rows in the same order (no deadlock cycles).
"""

from __future__ import annotations

from psycopg import sql

from projections.postgres_rows import COLUMNS

STAGE = "qldb_cdc_stage"
PROBE = "qldb_cdc_probe"
SCHEMA_LOCK_KEY = 0x716C6462  # advisory lock serialising concurrent CREATE TABLE IF NOT EXISTS

_ROW_COLUMNS = """
    ledger_table text NOT NULL,
    document_id text NOT NULL,
    version bigint NOT NULL,
    deleted boolean NOT NULL,
    redacted boolean NOT NULL,
    data jsonb,
    data_exact json,
    tx_id text NOT NULL,
    tx_time text NOT NULL,
    tx_time_utc timestamptz,
    block_strand text NOT NULL,
    block_seq bigint NOT NULL,
    revision_hash text NOT NULL,
    data_hash text"""


_FROM_COPY = ", ".join(
    f"{c} = CASE WHEN r.revision_hash = '' THEN EXCLUDED.{c} ELSE r.{c} END"
    for c in ("tx_id", "tx_time", "tx_time_utc", "revision_hash")
)


class Statements:
    """Every statement, bound to one schema (``None``: unqualified, the search path decides)."""

    def __init__(self, schema: str | None) -> None:
        """Compose the statements for tables in ``schema``."""
        self.schema = schema

        def table(name: str) -> sql.Composable:
            if schema is None:
                return sql.Identifier(name)
            return sql.Identifier(schema, name)

        self.documents = table("documents")
        self.revisions = table("revisions")
        self.checkpoints = table("qldb_cdc_checkpoints")
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        excluded_all = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in COLUMNS
            if c not in ("ledger_table", "document_id")
        )
        rows = sql.SQL(_ROW_COLUMNS)
        self.ddl: list[sql.Composed] = []
        if schema is not None:
            self.ddl.append(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
        self.ddl += [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY (ledger_table, document_id))"
            ).format(self.documents, rows),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({},"
                " PRIMARY KEY (ledger_table, document_id, version))"
            ).format(self.revisions, rows),
            # Dashboards: changes per table and time range, live documents per table.
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (ledger_table, tx_time_utc)").format(
                sql.Identifier("qldb_cdc_revisions_by_time"), self.revisions
            ),
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} (ledger_table, deleted, tx_time_utc)"
            ).format(sql.Identifier("qldb_cdc_documents_by_state"), self.documents),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (export_id text NOT NULL, object_key text NOT NULL,"
                " completed_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (export_id, object_key))"
            ).format(self.checkpoints),
        ]
        self.create_stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} ({}, for_current boolean NOT NULL,"
            " for_history boolean NOT NULL) ON COMMIT DELETE ROWS"
        ).format(sql.Identifier(STAGE), rows)
        self.copy_stage = sql.SQL("COPY {} ({}, for_current, for_history) FROM STDIN").format(
            sql.Identifier(STAGE), cols
        )
        # One statement consumes the staged part (DELETE ... RETURNING, so the next part can be
        # staged in the same transaction) and merges it into both tables (one round trip).
        self.merge = sql.SQL(
            "WITH staged AS (DELETE FROM {stage} RETURNING {cols}, for_current, for_history),"
            " current_rows AS ("
            "  INSERT INTO {documents} AS d ({cols})"
            "  SELECT {cols} FROM staged WHERE for_current ORDER BY ledger_table, document_id"
            "  ON CONFLICT (ledger_table, document_id) DO UPDATE SET {set_all}"
            "  WHERE EXCLUDED.version > d.version"
            "   OR (EXCLUDED.version = d.version AND EXCLUDED.redacted AND NOT d.redacted)"
            "  RETURNING d.deleted, d.redacted),"
            " history_rows AS ("
            "  INSERT INTO {revisions} AS r ({cols})"
            "  SELECT {cols} FROM staged WHERE for_history"
            "  ORDER BY ledger_table, document_id, version"
            # The merge of a revision's copies (Change.history_copy): a redaction wins over the
            # unredacted copy; a stream redaction notice (revision_hash '') takes the revision's
            # metadata from any other copy, whichever arrives first; an export's redacted copy
            # adds the dataHash a notice lacks.
            "  ON CONFLICT (ledger_table, document_id, version) DO UPDATE SET"
            "   deleted = CASE WHEN r.redacted THEN r.deleted ELSE EXCLUDED.deleted END,"
            "   redacted = true, data = NULL, data_exact = NULL,"
            "   data_hash = COALESCE(EXCLUDED.data_hash, r.data_hash),"
            f"  {_FROM_COPY}"
            "  WHERE (EXCLUDED.redacted AND NOT r.redacted)"
            "   OR (r.redacted AND r.revision_hash = '' AND EXCLUDED.revision_hash <> '')"
            "   OR (EXCLUDED.redacted AND EXCLUDED.data_hash IS NOT NULL"
            "       AND r.redacted AND r.data_hash IS NULL)"
            "  RETURNING r.ledger_table, r.document_id, r.version)"
            " SELECT (SELECT count(*) FROM current_rows),"
            "  (SELECT count(*) FROM current_rows WHERE deleted),"
            "  (SELECT count(*) FROM current_rows WHERE redacted),"
            "  (SELECT count(*) FROM history_rows),"
            # redactions written: rows written by a redacted copy (not by a metadata fill)
            "  (SELECT count(*) FROM history_rows h JOIN staged s"
            "    ON (s.ledger_table, s.document_id, s.version)"
            "     = (h.ledger_table, h.document_id, h.version)"
            "    WHERE s.for_history AND s.redacted)"
        ).format(
            documents=self.documents,
            revisions=self.revisions,
            stage=sql.Identifier(STAGE),
            cols=cols,
            set_all=excluded_all,
        )
        self.create_probe = sql.SQL(
            "CREATE TEMP TABLE {} (LIKE {} INCLUDING ALL) ON COMMIT DROP"
        ).format(sql.Identifier(PROBE), self.revisions)
        self.copy_probe = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(PROBE), cols)
        self.completed = sql.SQL("SELECT object_key FROM {} WHERE export_id = %s").format(
            self.checkpoints
        )
        self.mark_complete = sql.SQL(
            "INSERT INTO {} (export_id, object_key) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(self.checkpoints)
