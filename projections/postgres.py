"""PostgreSQL projection (also Aurora PostgreSQL): current state plus full revision history.

``from_uri("postgresql://user@host:5432/db?schema=ledger")`` (``postgres://`` too; every other
libpq URI parameter is passed through). Tables are created if missing, see
:mod:`projections.postgres_sql`.

Guarantees of :meth:`PostgresProjection.apply`:

* One transaction per call. The batch is screened (:func:`projections.postgres_rows.screen`),
  coalesced, ``COPY``-ed into a temporary table and merged by one statement holding one
  ``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE`` per table: no row-at-a-time round
  trips.
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
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from changes.coalesce import coalesce
from changes.model import Change
from projections.base import ApplyReport, Failure
from projections.postgres_rows import StagedRow, screen
from projections.postgres_sql import SCHEMA_LOCK_KEY, Statements
from schemas.errors import ConfigError, RetryableError, UnstorableChangeError

CONNECT_TIMEOUT_S = 10
"""libpq ``connect_timeout`` used unless the URI sets one."""

_DATA_ERRORS = (pg_errors.DataError, pg_errors.ProgramLimitExceeded)
"""SQLSTATE classes 22 and 54: the rows themselves are at fault, never the environment."""

_Slot = tuple[str, str, int, bool]


def _slot(change: Change) -> _Slot:
    return (change.key.table, change.key.doc_id, change.version, change.is_redacted)


def _retryable(exc: psycopg.Error, doing: str) -> RetryableError:
    state = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
    return RetryableError(f"PostgreSQL failed while {doing}{state}: {exc}".strip())


class PostgresProjection:
    """Projection into PostgreSQL tables ``documents``, ``revisions`` and checkpoints.

    Not thread-safe: use one instance per worker (instances may share a database).
    """

    def __init__(self, conninfo: str, *, schema: str | None = None) -> None:
        """Remember where to connect; the connection is opened lazily by the first call.

        Args:
            conninfo: a libpq connection string or URI (without the ``schema`` parameter).
            schema: schema for the tables, created if missing; ``None`` uses the search path.

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
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._closed = False

    @property
    def name(self) -> str:
        """Always ``postgresql``."""
        return "postgresql"

    @property
    def schema(self) -> str | None:
        """The schema holding the tables, ``None`` for the search path."""
        return self._sql.schema

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Write ``changes`` in one transaction under the contract of the module docstring.

        Raises:
            RetryableError: the server could not be reached or refused the transaction; nothing
                of this call was committed.
        """
        conn = self._connection()
        server_poison: dict[_Slot, str] = {}
        while True:
            report, staged = self._screen(changes, server_poison)
            try:
                self._write(conn, report, staged)
            except _DATA_ERRORS as exc:
                found = self._probe(conn, staged)
                if not found:
                    # The server rejects the batch but no single row: poison, never a loop.
                    found = {
                        _slot(row.change): f"PostgreSQL rejected the batch: {exc}"
                        for row, _, _ in staged
                    }
                server_poison.update(found)
                continue
            except psycopg.Error as exc:
                raise _retryable(exc, "applying a batch") from exc
            return report

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
            raise _retryable(exc, "connecting") from exc
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                for statement in self._sql.ddl:
                    conn.execute(statement)
            conn.execute(self._sql.create_stage)
        except psycopg.Error as exc:
            conn.close()
            raise _retryable(exc, "creating tables") from exc
        self._conn = conn
        return conn

    def _screen(
        self, changes: Sequence[Change], server_poison: dict[_Slot, str]
    ) -> tuple[ApplyReport, list[tuple[StagedRow, bool, bool]]]:
        """Failures plus staged rows (row, for_current, for_history) of the coalesced rest."""
        report = ApplyReport(received=len(changes))
        rows: dict[int, StagedRow] = {}
        valid: list[Change] = []
        for change in changes:
            reason = server_poison.get(_slot(change))
            staged = screen(change) if reason is None else reason
            if isinstance(staged, str):
                report.failures.append(Failure(change, UnstorableChangeError(staged)))
                continue
            rows[id(change)] = staged
            valid.append(change)
        batch = coalesce(valid)
        report.superseded = batch.superseded
        out: list[tuple[StagedRow, bool, bool]] = []
        current_ids = {id(change) for change in batch.latest.values()}
        for change in batch.revisions.values():
            out.append((rows[id(change)], id(change) in current_ids, True))
            current_ids.discard(id(change))
        out += [(rows[i], True, False) for i in current_ids]
        return report, out

    def _write(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        report: ApplyReport,
        staged: list[tuple[StagedRow, bool, bool]],
    ) -> None:
        """COPY ``staged``, merge it with one statement in one transaction; fill the counts."""
        if not staged:
            return
        current = sum(1 for _, for_current, _ in staged if for_current)
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(self._sql.copy_stage) as copy:
                for row, for_current, for_history in staged:
                    copy.write_row((*row.values, for_current, for_history))
            applied, tombstones, redactions, history = _counts(cur.execute(self._sql.merge))
        report.applied = applied
        report.stale = current - applied
        report.tombstones = tombstones
        report.redactions = redactions
        report.history_written = history

    def _probe(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        staged: list[tuple[StagedRow, bool, bool]],
    ) -> dict[_Slot, str]:
        """Insert each staged row alone (savepoints) into a scratch copy of ``revisions``.

        Returns the rows the server rejects with a data error, with its message. Runs only
        after a batch was rejected, so its round trip per row costs nothing in normal operation.
        """
        bad: dict[_Slot, str] = {}
        try:
            with conn.transaction():
                conn.execute(self._sql.create_probe)
                for row, _, _ in staged:
                    try:
                        with conn.transaction():
                            conn.execute(self._sql.insert_probe, row.values)
                    except _DATA_ERRORS as exc:
                        bad[_slot(row.change)] = f"PostgreSQL cannot store this change: {exc}"
        except psycopg.Error as exc:
            raise _retryable(exc, "isolating a rejected change") from exc
        return bad


def _counts(cur: psycopg.Cursor[tuple[object, ...]]) -> tuple[int, ...]:
    row = cur.fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns one row
        msg = "merge returned no count row"
        raise RetryableError(msg)
    return tuple(int(str(value)) for value in row)


def from_uri(uri: str) -> PostgresProjection:
    """Build the projection for a libpq URI; ``?schema=name`` selects the schema.

    Raises:
        ConfigError: the URI is not ``postgresql://`` / ``postgres://`` or the schema is empty.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        msg = f"not a PostgreSQL URI: {uri!r} (expected postgresql://user@host:port/database)"
        raise ConfigError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    if any(not s for s in schemas) or len(schemas) > 1:
        msg = f"PostgreSQL URI {uri!r}: give ?schema=name at most once, non-empty"
        raise ConfigError(msg)
    rest = urlencode([(name, value) for name, value in query if name != "schema"])
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return PostgresProjection(conninfo, schema=schemas[0] if schemas else None)
