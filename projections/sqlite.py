"""SQLite projection: the embedded default target (``sqlite:///path/to.db``).

Tables (created if missing):

* ``documents``: one row per document, primary key ``(ledger_table, document_id)``; the current
  state: ``version``, ``deleted``, ``redacted``, ``data`` (JSON text, NULL for tombstones and
  redactions), ``tx_id``, ``tx_time``, ``block_strand``, ``block_seq``, ``revision_hash``,
  ``data_hash``, ``tx_time_utc`` (sortable UTC text, ``core/tx_time.py``).
* ``revisions``: every revision once, primary key ``(ledger_table, document_id, version)``,
  same columns. A redaction replaces that revision's data by NULL and marks it redacted, in
  whatever order the original and the redaction arrive; a stream redaction notice
  (``Change.is_redaction_notice``) keeps the revision's metadata, or takes it from the copy that
  arrives after it.
* ``qldb_cdc_checkpoints``: data objects of an export whose changes are fully applied.
* The dashboard indexes, and the upgrade of databases of earlier versions
  (``projections/sqlite_migrations.py``).
* ``ledger_table_events``, ``ledger_table_ids`` and the views ``ledger_tables``,
  ``ledger_tables_active``, ``ledger_tables_dropped``: the table lifecycle
  (``projections/table_lifecycle_sql.py``).
* ``ledger_field_types``, ``qldb_cdc_views``, ``qldb_cdc_view_columns`` and the typed views
  of each ledger table (``projections/sqlite_views.py``): the Ion kinds of every field are
  recorded in the transaction that writes the documents.

Guarantee: at-least-once in, idempotent by version. Each ``apply`` is one transaction; a row is
only replaced by a change that ``Change.supersedes`` it, so any permutation and duplication of
the input ends in the state of in-order application. Several processes may write one database
(WAL mode, busy timeout): the version condition makes their writes commute.

A change SQLite can never store (data without a JSON form, text that is not valid UTF-8 such as
a lone UTF-16 surrogate) is a ``Failure(UnstorableChangeError)`` for that change alone and the
rest of the batch is written. Every change is counted once:
``applied + stale + superseded + len(failures) == received`` (an unstorable older revision is a
failure, not superseded).
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from changes.coalesce import coalesce
from changes.reconcile import DocState
from changes.table_lifecycle import ACTIVE, INACTIVE, BlockLifecycle, LedgerTable
from core import json_codec
from core.errors import ConfigError, RetryableError, StorageError, UnstorableChangeError
from core.ion_kinds import IonKind
from core.model import BlockAddress, Change, ChangeKind, DocKey
from core.tx_time import utc_text
from projections import sqlite_lifecycle, sqlite_migrations, sqlite_target, sqlite_views
from projections.base import ApplyReport, Failure, StoredRow
from projections.recorded_kinds import KindRecord
from projections.view_plan import ViewsPlan
from schemas.view_mapping import ViewMapping

_COLUMNS = (
    "ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time, "
    "block_strand, block_seq, revision_hash, data_hash, tx_time_utc"
)
_ROW_DDL = """
    ledger_table  TEXT    NOT NULL,
    document_id   TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    redacted      INTEGER NOT NULL,
    data          TEXT,
    tx_id         TEXT    NOT NULL,
    tx_time       TEXT    NOT NULL,
    block_strand  TEXT    NOT NULL,
    block_seq     INTEGER NOT NULL,
    revision_hash TEXT    NOT NULL,
    data_hash     TEXT,
    tx_time_utc   TEXT"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS documents ({_ROW_DDL},
    PRIMARY KEY (ledger_table, document_id));
CREATE TABLE IF NOT EXISTS revisions ({_ROW_DDL},
    PRIMARY KEY (ledger_table, document_id, version));
CREATE TABLE IF NOT EXISTS qldb_cdc_checkpoints (
    export_id    TEXT NOT NULL,
    object_key   TEXT NOT NULL,
    completed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (export_id, object_key)) WITHOUT ROWID;
"""

_SET_ALL = ", ".join(
    f"{c} = excluded.{c}"
    for c in [
        "version",
        "deleted",
        "redacted",
        "data",
        "tx_id",
        "tx_time",
        "block_strand",
        "block_seq",
        "revision_hash",
        "data_hash",
        "tx_time_utc",
    ]
)
# Current state: a higher version wins; at an equal version only a redaction of an unredacted
# row wins (Change.supersedes). Anything else is stale and changes nothing (rowcount 0).
UPSERT_DOCUMENT = f"""
INSERT INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ledger_table, document_id) DO UPDATE SET {_SET_ALL}
WHERE excluded.version > documents.version
   OR (excluded.version = documents.version AND excluded.redacted = 1 AND documents.redacted = 0)
"""
# History: each revision once, the merge of its copies (Change.history_copy): a redaction always
# wins over the unredacted copy, a stream redaction notice (revision_hash '', no metadata of
# the revision) takes the revision's metadata from any other copy, in either order, and the
# dataHash of a redacted copy that has one (an export's) is kept.
_FROM_COPY = ", ".join(
    f"{c} = CASE WHEN revisions.revision_hash = '' THEN excluded.{c} ELSE revisions.{c} END"
    for c in ("tx_id", "tx_time", "tx_time_utc", "revision_hash")
)
UPSERT_REVISION = f"""
INSERT INTO revisions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ledger_table, document_id, version) DO UPDATE
SET data = NULL, redacted = 1, data_hash = COALESCE(excluded.data_hash, revisions.data_hash),
    {_FROM_COPY}
WHERE (excluded.redacted = 1 AND revisions.redacted = 0)
   OR (revisions.redacted = 1 AND revisions.revision_hash = '' AND excluded.revision_hash <> '')
   OR (excluded.redacted = 1 AND excluded.data_hash IS NOT NULL
       AND revisions.redacted = 1 AND revisions.data_hash IS NULL)
"""

WAL_CHECKPOINT_BYTES = (16 * 1024 * 1024, 200_000_000)
"""The WAL is checkpointed once it exceeds half the database size, clamped to this range."""

Row = tuple[str, str, int, int, int, str | None, str, str, str, int, str, str | None, str | None]


def to_row(change: Change) -> Row:
    """The SQL row for ``change``.

    Raises:
        UnstorableChangeError: the data has no JSON form, or any text of the row (document
            JSON, table name, document id, transaction id...) is not valid UTF-8 (a lone UTF-16
            surrogate), which SQLite cannot bind.
    """
    data = None
    if change.data is not None:
        try:
            data = json_codec.dumps(change.data)
        except (TypeError, ValueError) as exc:
            msg = f"document {change.key.doc_id!r} v{change.version}: {exc}"
            raise UnstorableChangeError(msg) from exc
    _require_utf8(change, data)
    return (
        change.key.table,
        change.key.doc_id,
        change.version,
        int(change.kind is ChangeKind.DELETE),
        int(change.kind is ChangeKind.REDACTION),
        data,
        change.tx_id,
        change.tx_time,
        change.block.strand_id,
        change.block.sequence_no,
        change.revision_hash,
        change.data_hash,
        utc_text(change.tx_time),
    )


class SQLiteProjection:
    """Current state and full history of every document in one SQLite file."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 60.0, read_only: bool = False
    ) -> None:
        """Open (and create) the database at ``path``; ``:memory:`` works for tests.

        ``read_only`` opens an existing projection for reading only (``snapshot``): nothing is
        created or changed in the file, and a file without the projection's ``documents`` and
        ``revisions`` tables is a ConfigError.
        """
        self.path = str(path)
        self._read_only = read_only
        if read_only:
            self._open_read_only(busy_timeout_s)
            return
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Rows are large (document JSON) and upserts land on random pages: cache more pages
            # and checkpoint the WAL rarely, but on a size that fits the data (see
            # _fit_checkpoint), so a replay needs little more free space than the database.
            self._db.execute("PRAGMA cache_size=-65536")
            self._db.executescript(SCHEMA)
            sqlite_migrations.upgrade(self._db, self._rollback_after)
            self._db.executescript(sqlite_lifecycle.SCHEMA)
            self._db.executescript(sqlite_views.SCHEMA)
            self._kinds = KindRecord(sqlite_views.known_kinds(self._db))
            self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            self._checkpoint_pages = 0
            self._fit_checkpoint()
        except sqlite3.DatabaseError as exc:  # OperationalError, and "file is not a database"
            if isinstance(exc, sqlite3.OperationalError) and _disk_full(exc):
                what = "creating its tables"
                raise self._disk_full_error(what) from exc
            raise _open_error(self.path, exc) from exc

    def _open_read_only(self, busy_timeout_s: float) -> None:
        uri = "file:" + urllib.parse.quote(str(Path(self.path).absolute())) + "?mode=ro"
        try:
            self._db = sqlite3.connect(
                uri,
                uri=True,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            found = {
                str(name)
                for (name,) in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise _open_error(self.path, exc) from exc
        if not {"documents", "revisions"} <= found:
            self._db.close()
            msg = f"{self.path} is not a qldb-cdc projection (no documents and revisions tables)"
            raise ConfigError(msg)
        self._has_kinds = "ledger_field_types" in found
        self._kinds = KindRecord()

    @property
    def name(self) -> str:
        """Always ``sqlite``."""
        return "sqlite"

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection (for readers and tests)."""
        return self._db

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Write ``changes`` in one transaction under the version rule; see the module docstring."""
        batch = coalesce(changes)
        report = ApplyReport(received=batch.received, superseded=batch.superseded)
        # Each change is encoded once even when it is both the latest and a history row.
        encoded: dict[int, Row] = {}
        history = _rows(batch.revisions.values(), report, encoded)
        latest = _rows(batch.latest.values(), report, encoded)
        # An unstorable older revision is a failure, not a superseded change: count it once.
        report.superseded -= sum(
            1 for f in report.failures if batch.latest.get(f.change.key) is not f.change
        )
        failed = {id(f.change) for f in report.failures}
        pending = self._kinds.pending(batch.revisions.values(), failed=failed)
        kinds = pending.triples
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if kinds:
                    sqlite_views.record_kinds(self._db, kinds)
                for kind in ChangeKind:
                    rows = latest.get(kind)
                    if not rows:
                        continue
                    written = self._db.executemany(UPSERT_DOCUMENT, rows).rowcount
                    report.applied += written
                    report.stale += len(rows) - written
                    if kind is ChangeKind.DELETE:
                        report.tombstones += written
                    elif kind is ChangeKind.REDACTION:
                        report.redactions += written
                for kind, rows in history.items():
                    if not rows:
                        continue
                    written = self._db.executemany(UPSERT_REVISION, rows).rowcount
                    report.history_written += written
                    if kind is ChangeKind.REDACTION:
                        report.history_redactions += written
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback_after(exc)
                raise
            self._kinds.commit(pending)
            self._fit_checkpoint()
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, "writing a batch") from exc
        return report

    def _fit_checkpoint(self) -> None:
        """Let the WAL grow to half the database, within ``WAL_CHECKPOINT_BYTES``, then
        checkpoint it back into the database (and truncate the WAL file to that size).

        Checkpointing rarely is faster (upserts land on random pages, which a checkpoint writes
        once however often they changed), but the WAL is disk space on top of the database: a
        fixed 200 MB failed a 46 MB database on a 100 MB filesystem.
        """
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        low, high = (n // self._page_size for n in WAL_CHECKPOINT_BYTES)
        target = max(low, min(high, pages // 2))
        if target != self._checkpoint_pages:
            self._db.execute(f"PRAGMA wal_autocheckpoint={target}")
            self._db.execute(f"PRAGMA journal_size_limit={target * self._page_size}")
            self._checkpoint_pages = target

    def _rollback_after(self, error: BaseException) -> None:
        """Roll back the open transaction, if any, without replacing ``error``.

        SQLite rolls back by itself after some errors (a full disk, an I/O error); a ROLLBACK
        then fails with "no transaction is active", which must never hide the real error.
        """
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as rollback_error:
            error.add_note(f"the rollback after it failed too: {rollback_error}")

    def _write_error(self, exc: sqlite3.OperationalError, what: str) -> RetryableError:
        """A full disk is a StorageError; locked or busy database, I/O error: retry."""
        if _disk_full(exc):
            return self._disk_full_error(what)
        return RetryableError(f"SQLite write failed ({what}): {exc}")

    def _disk_full_error(self, what: str) -> StorageError:
        msg = (
            f"disk full: SQLite database {self.path} cannot grow ({what}); nothing was lost: "
            "free space and re-run the same command to resume"
        )
        return StorageError(msg)

    def apply_table_lifecycle(self, lifecycle: BlockLifecycle) -> None:
        """Store table events and identities in one transaction (``TableLifecycleProjection``)."""
        if not lifecycle:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                sqlite_lifecycle.write(self._db, lifecycle)
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback_after(exc)
                raise
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, "recording table lifecycle") from exc

    def field_types(self) -> dict[str, dict[str, frozenset[IonKind]]]:
        """ledger table -> field -> the Ion kinds recorded (``TypedViewProjection``)."""
        return sqlite_views.field_types(self._db)

    def refresh_views(self, mapping: ViewMapping, *, leave_out: Collection[str] = ()) -> ViewsPlan:
        """Drop and recreate the typed views in one transaction (``TypedViewProjection``).

        Raises:
            ConfigError: a mapped name clashes with an object qldb-cdc did not create.
            RetryableError: the database is locked or cannot be written.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                plan = sqlite_views.refresh(self._db, mapping, leave_out=leave_out)
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback_after(exc)
                raise
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, "creating the typed views") from exc
        return plan

    def ledger_tables(self) -> list[LedgerTable]:
        """Every known table's lifecycle state, by name (the ``ledger_tables`` view)."""
        return sqlite_lifecycle.tables(self._db)

    def active_tables(self) -> list[str]:
        """Tables not dropped, sorted (the ``ledger_tables_active`` view)."""
        return [t.table_name for t in self.ledger_tables() if t.status == ACTIVE]

    def dropped_tables(self) -> list[str]:
        """Dropped tables, sorted; their documents are kept (``ledger_tables_dropped``)."""
        return [t.table_name for t in self.ledger_tables() if t.status == INACTIVE]

    def completed_objects(self, export_id: str) -> set[str]:
        """Keys recorded by :meth:`mark_object_complete` for ``export_id``."""
        cursor = self._db.execute(
            "SELECT object_key FROM qldb_cdc_checkpoints WHERE export_id = ?", (export_id,)
        )
        return {key for (key,) in cursor}

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Record data object ``key`` of ``export_id`` as fully applied (idempotent)."""
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO qldb_cdc_checkpoints (export_id, object_key) VALUES (?, ?)",
                (export_id, key),
            )
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, "recording a completed object") from exc

    def iter_current_state(self) -> Iterator[DocState]:
        """Every row of ``documents``, through a cursor (one read transaction, constant memory).

        Raises:
            RetryableError: the database could not be read (locked, I/O error).
        """
        try:
            cursor = self._db.execute(
                "SELECT ledger_table, document_id, version, deleted, redacted, revision_hash, "
                "block_strand, block_seq FROM documents"
            )
            for table, doc_id, version, deleted, redacted, rev_hash, strand, seq in cursor:
                yield DocState(
                    DocKey(table, doc_id),
                    version,
                    bool(deleted),
                    bool(redacted),
                    rev_hash,
                    BlockAddress(strand, seq),
                )
        except sqlite3.OperationalError as exc:
            msg = f"SQLite read failed (listing documents): {exc}"
            raise RetryableError(msg) from exc

    def field_records(self) -> list[tuple[str, str, str]]:
        """Every recorded (ledger table, field, kind or shape mark) (``SnapshotSource``); none
        for a projection of a version that recorded none."""
        if self._read_only and not self._has_kinds:
            return []
        return sorted(sqlite_views.known_kinds(self._db))

    @contextlib.contextmanager
    def consistent_read(self) -> Iterator[None]:
        """One read transaction around the block: every read in it sees the same state, whatever
        other processes write meanwhile (WAL) (``SnapshotSource``)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException as exc:
            self._rollback_after(exc)
            raise
        self._db.execute("COMMIT")

    def stored_tables(self) -> list[str]:
        """The ledger tables with documents, sorted (``SnapshotSource``)."""
        rows = self._db.execute("SELECT DISTINCT ledger_table FROM documents ORDER BY 1")
        return [str(t) for (t,) in rows]

    def iter_rows(self, table: str, *, history: bool) -> Iterator[StoredRow]:
        """Rows of one ledger table through a cursor in one read transaction
        (``SnapshotSource``).

        Raises:
            RetryableError: the database could not be read (locked, I/O error).
        """
        query = (
            "SELECT document_id, version, tx_id, tx_time, deleted, redacted, data FROM revisions"
            " WHERE ledger_table = ? ORDER BY document_id, version"
            if history
            else "SELECT document_id, version, tx_id, tx_time, deleted, redacted, data"
            " FROM documents WHERE ledger_table = ? AND deleted = 0 ORDER BY document_id"
        )
        own = not self._db.in_transaction  # inside consistent_read: its transaction
        try:
            if own:
                self._db.execute("BEGIN")  # one snapshot of the table for the whole read
            try:
                for doc_id, version, tx_id, tx_time, deleted, redacted, data in self._db.execute(
                    query, (table,)
                ):
                    yield StoredRow(
                        doc_id, version, tx_id, tx_time, bool(deleted), bool(redacted), data
                    )
            except BaseException as exc:  # the reader stopped early, or the read failed
                if own:
                    self._rollback_after(exc)
                raise
            if own:
                self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            msg = f"SQLite read failed (reading ledger table {table!r}): {exc}"
            raise RetryableError(msg) from exc

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL into the database then)."""
        try:
            self._db.close()
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc, "closing") from exc


def _disk_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: no space left on the device, or ``PRAGMA max_page_count`` reached."""
    return (exc.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_FULL


def _require_utf8(change: Change, data: str | None) -> None:
    """Raise UnstorableChangeError when a text column of ``change`` does not encode as UTF-8."""
    # Fast path: all-ASCII text (the usual case) is valid UTF-8; one check per text, no dict.
    block = change.block
    if (
        (data is None or data.isascii())
        and change.key.table.isascii()
        and change.key.doc_id.isascii()
        and change.tx_id.isascii()
        and change.tx_time.isascii()
        and block.strand_id.isascii()
        and change.revision_hash.isascii()
        and (change.data_hash is None or change.data_hash.isascii())
    ):
        return
    texts = {
        "ledger table": change.key.table,
        "document id": change.key.doc_id,
        "document data": data or "",
        "tx id": change.tx_id,
        "tx time": change.tx_time,
        "block strand": change.block.strand_id,
        "revision hash": change.revision_hash,
        "data hash": change.data_hash or "",
    }
    for what, text in texts.items():
        if text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = (
                f"document {change.key.doc_id!r} v{change.version}: {what} contains a lone "
                f"UTF-16 surrogate, which is not valid UTF-8 ({exc.reason})"
            )
            raise UnstorableChangeError(msg) from exc


def _rows(
    changes: Iterable[Change], report: ApplyReport, encoded: dict[int, Row]
) -> dict[ChangeKind, list[Row]]:
    """Rows grouped by kind; unstorable changes become failures (once), not rows."""
    rows: dict[ChangeKind, list[Row]] = {}
    for change in changes:
        row = encoded.get(id(change))
        if row is None:
            try:
                row = to_row(change)
            except UnstorableChangeError as exc:
                if not any(f.change is change for f in report.failures):
                    report.failures.append(Failure(change, exc))
                continue
            encoded[id(change)] = row
        rows.setdefault(change.kind, []).append(row)
    return rows


def from_uri(uri: str) -> SQLiteProjection:
    """Open a SQLite target in any spelling of :mod:`projections.sqlite_target` (parse, then
    :meth:`~projections.sqlite_target.SqliteTarget.open`).

    Raises:
        ConfigError: the target does not parse, or its folder or file cannot be written.
    """
    return sqlite_target.parse(uri).open()


def _open_error(path: str, exc: sqlite3.DatabaseError) -> ConfigError:
    """The one-line error for a database that cannot be opened."""
    if "file is not a database" in str(exc):
        return ConfigError(f"{path} is not a SQLite database ({exc}); give another file")
    msg = f"cannot open SQLite database {path}: {exc}"
    if "unable to open" in str(exc):
        msg += " (is its folder writable, and the file a SQLite database?)"
    return ConfigError(msg)
