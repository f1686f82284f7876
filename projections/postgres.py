"""PostgreSQL projection (also Aurora PostgreSQL): current state plus full revision history.

``from_uri("postgresql://user@host:5432/db?schema=ledger")`` (``postgres://`` too; every other
libpq URI parameter is passed through; the URI is parsed by :mod:`projections.postgres_target`).
Tables are created if missing, see :mod:`projections.postgres_sql` (documents) and
:mod:`projections.table_lifecycle_sql` (table lifecycle) and :mod:`projections.postgres_views`
(field kinds, recorded in the transaction of the documents, and the typed views).

Guarantees of :meth:`PostgresProjection.apply`:

* One transaction per call. The batch is coalesced, sorted by primary key, encoded once per
  change as ``COPY`` text (:func:`projections.postgres_rows.copy_line`, which also finds
  unstorable changes) and staged in parts of up to ``_PART_ROWS`` rows into a temporary table;
  each part is merged by one statement holding one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE
  ... WHERE`` per table, sent in pipeline mode so the next part is encoded while the server
  merges: no row-at-a-time round trips.
* ``documents`` takes a change only when ``version`` is higher, or equal and the change is a
  redaction of an unredacted row. ``revisions`` keeps each (document, version) once; a redaction
  replaces an unredacted copy (data NULL, ``redacted`` true), whatever the arrival order.
* Counts come from ``RETURNING`` of the merges, so ``applied``, ``tombstones``, ``redactions``
  and ``history_written`` are the rows this call actually changed, also under concurrent
  writers; ``stale`` is the remainder of the coalesced winners. For every call
  ``applied + stale + superseded + len(failures) == received``.
* A change PostgreSQL can never store (NUL characters, lone surrogates, numbers beyond
  ``numeric``, oversized keys) is returned as a :class:`Failure` with an
  :class:`UnstorableChangeError`; the rest of the batch is written. Server-side data errors are
  isolated by probing each staged row in its own savepoint (only after the server rejected
  the batch).
* Connection loss, server shutdown, serialization failures, deadlocks, timeouts and other
  server-side conditions raise :class:`RetryableError` and nothing of the call is committed;
  the next call reconnects.
* A connection that can never succeed (a host that does not resolve, a refused login, a missing
  database) raises :class:`ConfigError` instead (``projections.postgres_connect_errors``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from changes.coalesce import coalesce
from changes.reconcile import DocState
from changes.table_lifecycle import ACTIVE, INACTIVE, BlockLifecycle, LedgerTable
from core.errors import ConfigError, RetryableError, UnstorableChangeError
from core.ion_kinds import IonKind
from core.model import BlockAddress, Change, DocKey
from projections import postgres_lifecycle, postgres_target, postgres_views
from projections.base import ApplyReport, Failure, StoredRow
from projections.postgres_connect_errors import connect_error
from projections.postgres_rows import Unstorable, copy_line, encode_lines, unstorable_reason
from projections.postgres_sql import SCHEMA_LOCK_KEY, Statements
from projections.recorded_kinds import KindRecord
from projections.view_plan import ViewsPlan
from schemas.view_mapping import ViewMapping

CONNECT_TIMEOUT_S = 10
"""libpq ``connect_timeout`` used unless the URI sets one."""

_STATE_PAGE = 5000
"""Rows per fetch of :meth:`PostgresProjection.iter_current_state`'s server-side cursor."""

_DATA_ERRORS = (pg_errors.DataError, pg_errors.ProgramLimitExceeded)
"""SQLSTATE classes 22 and 54: the rows themselves are at fault, never the environment."""

_Slot = tuple[str, str, int, bool]
_Row = tuple[Change, bool, bool]
"""A change to stage, whether it goes to ``documents`` and whether it goes to ``revisions``."""

_FLAGS = {(True, True): "\tt\tt\n", (True, False): "\tt\tf\n", (False, True): "\tf\tt\n"}
"""COPY text of the ``for_current`` and ``for_history`` columns ending a staged line."""

_PART_ROWS = 1000
"""Rows per staged part: the server merges one part while the client encodes the next."""


def _slot(change: Change) -> _Slot:
    return (change.key.table, change.key.doc_id, change.version, change.is_redacted)


def _retryable(exc: psycopg.Error, doing: str) -> RetryableError:
    state = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
    return RetryableError(f"PostgreSQL failed while {doing}{state}: {exc}".strip())


class PostgresProjection:
    """Projection into PostgreSQL tables ``documents``, ``revisions`` and checkpoints.

    Not thread-safe: use one instance per worker (instances may share a database).
    """

    def __init__(
        self, conninfo: str, *, schema: str | None = None, view_schema: str | None = None
    ) -> None:
        """Remember where to connect; the connection is opened lazily by the first call.

        Args:
            conninfo: a libpq connection string or URI (without the ``schema`` parameter).
            schema: schema for the tables, created if missing; ``None`` uses the search path.
            view_schema: schema of the typed views (default ``ledger``, or ``ledger_views``
                when ``schema`` is ``ledger``; see ``projections/postgres_views.py``).

        Raises:
            ConfigError: ``conninfo`` does not parse.
        """
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            msg = f"invalid PostgreSQL connection string: {exc}"
            raise ConfigError(msg) from exc
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        self._conninfo = make_conninfo("", **params)
        self._sql = Statements(schema)
        self._lifecycle = postgres_lifecycle.LifecycleStatements(schema)
        self._views = postgres_views.ViewStatements(schema)
        self._view_schema = postgres_views.view_schema_for(schema, view_schema)
        self._kinds = KindRecord()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._closed = False
        self._copy_stage = b""
        self._merge = b""

    @property
    def name(self) -> str:
        """Always ``postgresql``."""
        return "postgresql"

    @property
    def schema(self) -> str | None:
        """The schema holding the tables, ``None`` for the search path."""
        return self._sql.schema

    @property
    def view_schema(self) -> str:
        """The schema holding the typed views."""
        return self._view_schema

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Write ``changes`` in one transaction under the contract of the module docstring.

        Raises:
            RetryableError: the server could not be reached or refused the transaction; nothing
                of this call was committed.
        """
        conn = self._connection()
        poison: dict[_Slot, str] = {}
        while True:
            report, rows = _plan(changes, poison)
            try:
                found = self._write(conn, report, rows)
            except _DATA_ERRORS as exc:
                found = self._probe(conn, rows)
                if not found:
                    # The server rejects the batch but no single row: poison, never a loop.
                    reason = f"PostgreSQL rejected the batch: {exc}"
                    found = {_slot(change): reason for change, _, _ in rows}
            except psycopg.Error as exc:
                raise _retryable(exc, "applying a batch") from exc
            if not found:
                return report
            poison.update(found)  # at least one new slot per round: the loop ends

    def completed_objects(self, export_id: str) -> set[str]:
        """Object keys recorded by :meth:`mark_object_complete` for ``export_id``."""
        conn = self._connection()
        try:
            with conn.transaction():
                rows = conn.execute(self._sql.completed, (export_id,)).fetchall()
        except psycopg.Error as exc:
            raise _retryable(exc, "reading checkpoints") from exc
        return {str(row[0]) for row in rows}

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Durably record ``key`` as complete (idempotent)."""
        conn = self._connection()
        try:
            with conn.transaction():
                conn.execute(self._sql.mark_complete, (export_id, key))
        except psycopg.Error as exc:
            raise _retryable(exc, "writing a checkpoint") from exc

    def iter_current_state(self) -> Iterator[DocState]:
        """Every row of ``documents`` through a server-side cursor (``_STATE_PAGE`` rows per
        round trip; one statement, so one snapshot), so memory stays flat.

        Raises:
            RetryableError: the server could not be read.
        """
        conn = self._connection()
        query = sql.SQL(
            "SELECT ledger_table, document_id, version, deleted, redacted, revision_hash,"
            " block_strand, block_seq FROM {}"
        ).format(self._sql.documents)
        try:
            with conn.transaction(), conn.cursor(name="qldb_cdc_current_state") as cur:
                cur.itersize = _STATE_PAGE
                cur.execute(query)
                for table, doc_id, version, deleted, redacted, rev_hash, strand, seq in cur:
                    yield DocState(
                        DocKey(str(table), str(doc_id)),
                        int(str(version)),
                        bool(deleted),
                        bool(redacted),
                        str(rev_hash),
                        BlockAddress(str(strand), int(str(seq))),
                    )
        except psycopg.Error as exc:
            raise _retryable(exc, "listing documents") from exc

    def field_records(self) -> list[tuple[str, str, str]]:
        """Every recorded (ledger table, field, kind or shape mark) (``SnapshotSource``)."""
        conn = self._connection()
        try:
            return sorted(postgres_views.known_kinds(conn, self._views))
        except psycopg.Error as exc:
            raise _retryable(exc, "reading field types") from exc

    @contextlib.contextmanager
    def consistent_read(self) -> Iterator[None]:
        """One ``REPEATABLE READ`` transaction around the block: every read in it (each runs in
        a savepoint of it) sees the same snapshot (``SnapshotSource``).

        Raises:
            RetryableError: the server could not be reached.
        """
        conn = self._connection()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield
        except psycopg.Error as exc:
            raise _retryable(exc, "reading one consistent state") from exc

    def stored_tables(self) -> list[str]:
        """The ledger tables with documents, sorted (``SnapshotSource``)."""
        conn = self._connection()
        query = sql.SQL("SELECT DISTINCT ledger_table FROM {} ORDER BY 1").format(
            self._sql.documents
        )
        try:
            with conn.transaction():
                return [str(t) for (t,) in conn.execute(query).fetchall()]
        except psycopg.Error as exc:
            raise _retryable(exc, "listing ledger tables") from exc

    def iter_rows(self, table: str, *, history: bool) -> Iterator[StoredRow]:
        """Rows of one ledger table through a server-side cursor, one statement (one
        snapshot), ``_STATE_PAGE`` rows per round trip (``SnapshotSource``); ``data`` is the
        exact text (``data_exact`` where jsonb respelled a number).

        Raises:
            RetryableError: the server could not be read.
        """
        conn = self._connection()
        columns = sql.SQL(
            "SELECT document_id, version, tx_id, tx_time, deleted, redacted,"
            " coalesce(data_exact::text, data::text) FROM {} WHERE ledger_table = %s"
        )
        if history:
            query = columns.format(self._sql.revisions) + sql.SQL(" ORDER BY document_id, version")
        else:
            query = columns.format(self._sql.documents) + sql.SQL(
                " AND NOT deleted ORDER BY document_id"
            )
        try:
            with conn.transaction(), conn.cursor(name="qldb_cdc_snapshot_rows") as cur:
                cur.itersize = _STATE_PAGE
                cur.execute(query, (table,))
                for doc_id, version, tx_id, tx_time, deleted, redacted, data in cur:
                    yield StoredRow(
                        str(doc_id),
                        int(str(version)),
                        str(tx_id),
                        str(tx_time),
                        bool(deleted),
                        bool(redacted),
                        None if data is None else str(data),
                    )
        except psycopg.Error as exc:
            raise _retryable(exc, f"reading ledger table {table!r}") from exc

    def apply_table_lifecycle(self, lifecycle: BlockLifecycle) -> None:
        """Store table events and identities in one transaction (``TableLifecycleProjection``)."""
        if not lifecycle:
            return
        conn = self._connection()
        try:
            postgres_lifecycle.write(conn, self._lifecycle, lifecycle)
        except psycopg.Error as exc:
            raise _retryable(exc, "recording table lifecycle") from exc

    def ledger_tables(self) -> list[LedgerTable]:
        """Every known table's lifecycle state, by name (the ``ledger_tables`` view)."""
        conn = self._connection()
        try:
            return postgres_lifecycle.tables(conn, self._lifecycle)
        except psycopg.Error as exc:
            raise _retryable(exc, "reading table lifecycle") from exc

    def active_tables(self) -> list[str]:
        """Tables not dropped, sorted (the ``ledger_tables_active`` view)."""
        return [t.table_name for t in self.ledger_tables() if t.status == ACTIVE]

    def dropped_tables(self) -> list[str]:
        """Dropped tables, sorted; their documents are kept (``ledger_tables_dropped``)."""
        return [t.table_name for t in self.ledger_tables() if t.status == INACTIVE]

    def field_types(self) -> dict[str, dict[str, frozenset[IonKind]]]:
        """ledger table -> field -> the Ion kinds recorded (``TypedViewProjection``)."""
        conn = self._connection()
        try:
            return postgres_views.field_types(conn, self._views)
        except psycopg.Error as exc:
            raise _retryable(exc, "reading field types") from exc

    def refresh_views(self, mapping: ViewMapping, *, leave_out: Collection[str] = ()) -> ViewsPlan:
        """Drop and recreate the typed views in one transaction (``TypedViewProjection``).

        Raises:
            ConfigError: a mapped name clashes with an object qldb-cdc did not create, another
                object depends on one of the views, or the view schema cannot be created.
            RetryableError: the server could not be reached or refused the transaction.
        """
        conn = self._connection()
        try:
            return postgres_views.refresh(
                conn, self._views, self._view_schema, mapping, leave_out=leave_out
            )
        except psycopg.Error as exc:
            raise _retryable(exc, "creating the typed views") from exc

    def close(self) -> None:
        """Close the connection; later calls raise RuntimeError."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- internals -----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._closed:
            msg = "PostgresProjection is closed"
            raise RuntimeError(msg)
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise connect_error(exc) from exc
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                for statement in self._sql.ddl:
                    conn.execute(statement)
                for statement in self._lifecycle.ddl:
                    conn.execute(statement)
                for statement in self._views.ddl:
                    conn.execute(statement)
            conn.execute(self._sql.create_stage)
            self._kinds = KindRecord(postgres_views.known_kinds(conn, self._views))
        except psycopg.Error as exc:
            conn.close()
            raise _retryable(exc, "creating tables") from exc
        # Rendered once per connection: composing SQL costs more than sending it.
        self._copy_stage = self._sql.copy_stage.as_bytes(conn)
        self._merge = self._sql.merge.as_bytes(conn)
        self._conn = conn
        return conn

    def _write(
        self, conn: psycopg.Connection[tuple[object, ...]], report: ApplyReport, rows: list[_Row]
    ) -> dict[_Slot, str]:
        """Stage and merge ``rows`` part by part in one transaction; commit and fill the counts.

        Pipelined without threads: the merge of part *k* is sent in libpq pipeline mode and,
        while the server runs it, part *k+1* is checked and encoded here. Returns the unstorable
        changes found on the client instead (the transaction is then rolled back, nothing is
        counted).
        """
        if not rows:
            return {}
        rows.sort(key=_primary_key)  # parts in key order: concurrent writers lock in one order
        found: dict[_Slot, str] = {}
        counts = [0, 0, 0, 0, 0]
        try:
            with conn.transaction(), conn.cursor() as cur:
                data = _encode(rows[:_PART_ROWS], found)
                for first in range(_PART_ROWS, len(rows) + _PART_ROWS, _PART_ROWS):
                    if data is None:  # an unstorable change: only keep checking the rest
                        data = _encode(rows[first : first + _PART_ROWS], found)
                        continue
                    with cur.copy(self._copy_stage) as copy:
                        copy.write(data)
                    with conn.pipeline():
                        cur.execute(self._merge)  # sent; the server merges meanwhile
                        data = _encode(rows[first : first + _PART_ROWS], found)
                    counts = [a + b for a, b in zip(counts, _counts(cur), strict=True)]
                if found:
                    raise _RejectedError
                pending = self._kinds.pending(change for change, _, _ in rows)
                if pending.triples:
                    postgres_views.record_kinds(cur, self._views, pending.triples)
        except _RejectedError:
            return found
        self._kinds.commit(pending)
        applied, tombstones, redactions, history, history_redactions = counts
        report.applied = applied
        report.stale = sum(1 for _, for_current, _ in rows if for_current) - applied
        report.tombstones = tombstones
        report.redactions = redactions
        report.history_written = history
        report.history_redactions = history_redactions
        return {}

    def _probe(
        self, conn: psycopg.Connection[tuple[object, ...]], rows: list[_Row]
    ) -> dict[_Slot, str]:
        """COPY each row alone (savepoints) into a scratch copy of ``revisions``.

        Returns the rows the server rejects with a data error, with its message. Runs only
        after a batch was rejected, so its round trip per row costs nothing in normal operation.
        """
        bad: dict[_Slot, str] = {}
        try:
            with conn.transaction():
                conn.execute(self._sql.create_probe)
                for change, _, _ in rows:
                    line = copy_line(change)
                    data = line if isinstance(line, Unstorable) else encode_lines([line, "\n"])
                    if not isinstance(data, bytes):
                        reason = unstorable_reason(change) or "not storable as UTF-8 text"
                        bad[_slot(change)] = data.reason if isinstance(data, Unstorable) else reason
                        continue
                    try:
                        with (
                            conn.transaction(),
                            conn.cursor() as cur,
                            cur.copy(self._sql.copy_probe) as copy,
                        ):
                            copy.write(data)
                    except pg_errors.UniqueViolation:
                        continue  # the same key twice (current-only row): storable
                    except _DATA_ERRORS as exc:
                        bad[_slot(change)] = f"PostgreSQL cannot store this change: {exc}"
        except psycopg.Error as exc:
            raise _retryable(exc, "isolating a rejected change") from exc
        return bad


class _RejectedError(Exception):
    """Raised inside the COPY block to roll back a batch with client-side unstorable changes."""


def _encode(rows: list[_Row], found: dict[_Slot, str]) -> bytes | None:
    """COPY text of ``rows`` as UTF-8; ``None`` (and ``found`` filled) once any is unstorable."""
    lines: list[str] = []
    sent: list[Change] = []
    for change, for_current, for_history in rows:
        line = copy_line(change)
        if isinstance(line, Unstorable):
            found[_slot(change)] = line.reason
            continue
        lines.append(line + _FLAGS[for_current, for_history])
        sent.append(change)
    data = encode_lines(lines)
    if isinstance(data, bytes):
        return None if found else data  # once one is unstorable: only keep checking
    for i in data:
        found[_slot(sent[i])] = unstorable_reason(sent[i]) or "not storable as UTF-8 text"
    return None


def _primary_key(row: _Row) -> tuple[str, str, int]:
    change = row[0]
    return (change.key.table, change.key.doc_id, change.version)


def _plan(changes: Sequence[Change], poison: dict[_Slot, str]) -> tuple[ApplyReport, list[_Row]]:
    """The report with the known unstorable changes, and the coalesced rows of the rest."""
    report = ApplyReport(received=len(changes))
    valid: Sequence[Change] = changes
    if poison:
        valid = []
        for change in changes:
            reason = poison.get(_slot(change))
            if reason is None:
                valid.append(change)
            else:
                report.failures.append(Failure(change, UnstorableChangeError(reason)))
    batch = coalesce(valid)
    report.superseded = batch.superseded
    current_ids = {id(change) for change in batch.latest.values()}
    rows: list[_Row] = []
    for change in batch.revisions.values():
        is_current = id(change) in current_ids
        rows.append((change, is_current, True))
        if is_current:
            current_ids.discard(id(change))
    rows += [(c, True, False) for c in batch.latest.values() if id(c) in current_ids]
    return report, rows


def _counts(cur: psycopg.Cursor[tuple[object, ...]]) -> tuple[int, ...]:
    row = cur.fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns one row
        msg = "merge returned no count row"
        raise RetryableError(msg)
    return tuple(int(str(value)) for value in row)


def from_uri(uri: str) -> PostgresProjection:
    """Build the projection for a libpq URI; ``?schema=name`` selects the schema (parse with
    :func:`projections.postgres_target.parse`, then open).

    Raises:
        ConfigError: the URI is not ``postgresql://`` / ``postgres://``, the schema is empty,
            or libpq does not accept the connection string.
    """
    return postgres_target.parse(uri).open()
