"""S3 projection: one JSON object per revision plus one per document's current state.

URI: ``s3://bucket[/prefix]``, parsed without I/O by :mod:`projections.s3_target`;
:func:`open_target` builds the client. Layout (see ``docs/s3-layout.md``; keys built by
:mod:`projections.s3_keys`)::

    <prefix>/<table>/revisions/<docId>/<version, zero-padded to 20 digits>.json
    <prefix>/<table>/current/<docId>.json
    <prefix>/_checkpoints/<export_id>/<urlsafe base64 of the data-object key>
    <prefix>/_field_types/<table part>/<field part>/<Ion kind>

Every object body is one JSON object (``core.json_codec``, exact decimals) with the fields
``ledgerTable, documentId, version, deleted, redacted, data, txId, txTime, revisionHash,
dataHash, blockStrand, blockSeq``; ``data`` is ``null`` for tombstones and redactions. The
object metadata repeats ``version``, ``deleted`` and ``redacted`` (and ``notice: true`` on a
stream redaction notice, ``Change.is_redaction_notice``) so a ``HEAD`` is enough to
compare versions. Table names and document ids are percent-encoded in keys, dot-only names and
a table name's leading ``_`` too (QLDB names need no encoding, so keys read as the plain names);
an empty name or a key over 1024 bytes is poison (see :mod:`projections.s3_keys`).

Guarantees (S3 has no "write if greater" so both are compare-and-swap loops on the ETag):

* A revision object is written once (``If-None-Match: *``; 412 = duplicate, counted stale by
  nothing, it simply is not history written again). A redaction of a stored revision replaces
  it with the redacted body using ``If-Match: <etag read>``; an unredacted copy never overwrites
  a redacted one. The object is the merge of the revision's copies (``Change.history_copy``):
  a stream redaction notice redacts the stored copy keeping its metadata (read with
  ``If-Match``), a copy with metadata arriving after a notice fills it in, and an export's
  redacted copy adds the ``dataHash`` a notice lacks (metadata ``datahash: false`` marks
  redacted objects without one).
* The current object is replaced only by a change that supersedes it (``Change.supersedes``):
  ``HEAD`` -> compare -> ``PutObject`` with ``If-Match: <etag>`` (``If-None-Match: *`` when
  absent). A 412 means another writer got in between: re-read and compare again, at most
  ``max_cas_rounds`` times, then ``RetryableError``.
* Throttling (``SlowDown``), 5xx, a concurrent conditional write (409
  ``ConditionalRequestConflict``) and connection errors are retried with backoff inside
  ``apply``; still failing -> ``Failure(RetryableError)`` for that change only. Requests S3
  rejects as invalid, changes whose JSON, table name or document id is not valid UTF-8 (a
  lone UTF-16 surrogate), and changes with an empty table name or id or a key over 1024 bytes
  -> ``Failure(PoisonError)`` for that change only.
* The Ion kinds of every stored change's top-level fields (``Change.field_kinds``) are kept as
  one small object per (ledger table, field, kind) under ``_field_types/``
  (:func:`s3_keys.field_type_key`), written after the batch's documents (stale ones included:
  a replay after a crash records what the crash missed), each once per process (cached). A
  failed record raises ``RetryableError`` from ``apply``: the batch is retried (its document
  writes are idempotent) before it is checkpointed. :meth:`S3Projection.field_types` lists
  them back and :meth:`S3Projection.athena_ddl` turns them into Athena DDL
  (``projections/athena_ddl.py``).
* Every change is counted once: ``applied + stale + superseded + len(failures) == received``.
  The current object is written only after the winning change's revision object was: when
  that revision write fails the change is only a failure. A failed older revision is a failure,
  not superseded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from changes.coalesce import coalesce
from changes.reconcile import DocState, block_of
from core import json_codec
from core.errors import (
    CdcError,
    RetryableError,
    UnstorableChangeError,
    UserInputError,
    retryable_unless_poison,
)
from core.ion_kinds import IonKind
from core.model import BlockAddress, Change, ChangeKind, DocKey, wins
from core.retry import Retry
from projections import athena_ddl, duckdb_views, s3_keys
from projections.aws_errors import (
    ConditionFailedError,
    aws_retry,
    checked_call,
    classify_client_error,
    client_config,
    configured_client,
    http_status,
)
from projections.base import ApplyReport, Failure
from projections.recorded_kinds import KindRecord, KindTriple, kinds_of, numeric_shapes
from projections.s3_keys import parse_object_key
from projections.s3_target import S3Target
from projections.s3_target import parse as parse_target
from schemas.view_mapping import ViewMapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_WORKERS = 16


def object_body(change: Change) -> dict[str, Any]:
    """The JSON object stored for ``change`` (current and revision objects alike)."""
    return {
        "ledgerTable": change.key.table,
        "documentId": change.key.doc_id,
        "version": change.version,
        "deleted": change.is_tombstone,
        "redacted": change.is_redacted,
        "data": change.data,
        "txId": change.tx_id,
        "txTime": change.tx_time,
        "revisionHash": change.revision_hash,
        "dataHash": change.data_hash,
        "blockStrand": change.block.strand_id,
        "blockSeq": change.block.sequence_no,
    }


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a ``HEAD`` tells about an existing object: its ETag, version and redaction flag."""

    etag: str
    version: int
    redacted: bool
    notice: bool = False
    """A stream redaction notice (``Change.is_redaction_notice``): no metadata of its own."""
    lacks_data_hash: bool = False
    """Redacted without a ``dataHash`` (a notice, or a notice merged with the unredacted copy)."""


def wins_over(change: Change, stored: StoredState) -> bool:
    """Whether ``change`` supersedes ``stored`` (the rule of ``core.model.wins``)."""
    return wins(change.version, change.is_redacted, stored.version, stored.redacted)


def encoded_body(change: Change) -> bytes:
    """The UTF-8 JSON bytes of :func:`object_body`.

    Raises:
        UnstorableChangeError: the data has no JSON form, or some text of it (a value, a key,
            the table name, the document id...) holds a lone UTF-16 surrogate, not valid UTF-8.
    """
    try:
        return json_codec.dumps(object_body(change)).encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = (
            f"document {change.key.doc_id!r} v{change.version} contains a lone UTF-16 "
            f"surrogate, which is not valid UTF-8 ({exc.reason})"
        )
        raise UnstorableChangeError(msg) from exc
    except (TypeError, ValueError) as exc:
        msg = f"document {change.key.doc_id!r} v{change.version} has no JSON form: {exc}"
        raise UnstorableChangeError(msg) from exc


@dataclass(slots=True)
class _DocumentOutcome:
    """What happened to one document; each change of it is counted once.

    ``superseded_failed`` counts failed revisions of changes that the batch counts as
    superseded: the report moves them from ``superseded`` to ``failures``.
    """

    applied: bool = False
    stale: bool = False
    history_written: int = 0
    history_redactions: int = 0
    superseded_failed: int = 0
    failures: list[Failure] = field(default_factory=list)


MAX_LOOKUP_TABLES = 1000
"""Table folders :meth:`S3Projection.table_of_document` looks in at most (QLDB allows 40
active tables per ledger)."""


class S3Projection:
    """Current state and full revision history as JSON objects in S3 (see module docstring).

    Args:
        client: a boto3 S3 client (thread-safe; give it ``max_pool_connections`` >= workers).
        bucket: the bucket.
        prefix: key prefix, leading and trailing slashes ignored (may be empty).
        retry: backoff of retryable failures (:func:`projections.aws_errors.aws_retry` by
            default).
        workers: documents written concurrently.
        max_cas_rounds: compare-and-swap attempts per object before giving up as retryable.

    Raises:
        ConfigError: ``prefix`` has an empty, ``.`` or ``..`` segment, or is too long.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        retry: Retry | None = None,
        workers: int = DEFAULT_WORKERS,
        max_cas_rounds: int = 8,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = s3_keys.checked_prefix(prefix)
        self._retry = retry or aws_retry()
        self._rounds = max_cas_rounds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3")
        self._kinds_recorded = KindRecord()

    @property
    def name(self) -> str:
        """Always ``s3``."""
        return "s3"

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix`` of this projection (``DdlProjection``)."""
        return f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"

    # ------------------------------------------------------------------ keys

    def current_key(self, key: DocKey) -> str:
        """Object key of a document's current state (see :func:`s3_keys.current_key`)."""
        return s3_keys.current_key(self._prefix, key)

    def revision_key(self, key: DocKey, version: int) -> str:
        """Object key of one revision (see :func:`s3_keys.revision_key`)."""
        return s3_keys.revision_key(self._prefix, key, version)

    def checkpoint_prefix(self, export_id: str) -> str:
        """Key prefix (ending in ``/``) of the checkpoints of ``export_id``."""
        return s3_keys.checkpoint_prefix(self._prefix, export_id)

    # ------------------------------------------------------------------ apply

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Write revision objects and winning current objects, one document per worker."""
        batch = coalesce(changes)
        report = ApplyReport(received=batch.received, superseded=batch.superseded)
        revisions: dict[DocKey, list[Change]] = {}
        for (key, _), change in sorted(batch.revisions.items(), key=lambda kv: kv[0]):
            revisions.setdefault(key, []).append(change)
        work = [(latest, revisions.get(key, [])) for key, latest in batch.latest.items()]
        for (latest, _), outcome in zip(
            work, self._pool.map(lambda w: self._write_document(*w), work), strict=True
        ):
            report.history_written += outcome.history_written
            report.history_redactions += outcome.history_redactions
            report.superseded -= outcome.superseded_failed
            report.failures.extend(outcome.failures)
            if outcome.applied:
                report.applied += 1
                report.tombstones += latest.is_tombstone
                report.redactions += latest.is_redacted
            elif outcome.stale:
                report.stale += 1
        self._record_kinds(changes, report)
        return report

    # ------------------------------------------------------------------ field types

    def _record_kinds(self, changes: Sequence[Change], report: ApplyReport) -> None:
        """Write the field-types record of each new (table, field, kind) of the changes that
        did not fail (see the module docstring).

        Raises:
            RetryableError: a record could not be written (the batch must be retried).
        """
        failed = {(f.change.key, f.change.version) for f in report.failures}
        stored = (c for c in changes if (c.key, c.version) not in failed)
        pending = self._kinds_recorded.pending(stored)
        if pending.triples:
            try:
                for _ in self._pool.map(self._write_kind, pending.triples):
                    pass
            except CdcError as exc:
                msg = f"s3://{self._bucket}: recording the field types of the batch failed: {exc}"
                raise RetryableError(msg) from exc
        self._kinds_recorded.commit(pending)  # only once every record is written

    def _write_kind(self, triple: tuple[str, str, str]) -> None:
        key = s3_keys.field_type_key(self._prefix, *triple)
        body = s3_keys.field_type_body(*triple)
        self._retry.run(
            lambda: checked_call(
                self._client.put_object,
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
            )
        )

    def field_types(self) -> dict[str, dict[str, frozenset[IonKind]]]:
        """ledger table -> field -> the Ion kinds recorded, from a listing of
        ``_field_types/`` (pages of 1000 keys; a record whose key holds a hash is read).

        Kinds this version does not know (and numeric shape marks) are ignored.

        Raises:
            RetryableError: the listing or a record could not be read, or a record is not one.
            UserInputError: more than :data:`MAX_FIELD_TYPE_RECORDS` records.
        """
        return kinds_of(self.field_records())

    def field_records(self) -> list[KindTriple]:
        """Every (ledger table, field, kind or shape mark) recorded under ``_field_types/``
        (see :meth:`field_types` for the listing and its errors)."""
        records: list[KindTriple] = []

        def add(table: str, name: str, kind: str) -> None:
            records.append((table, name, kind))

        seen = 0
        for keys in self._pages(s3_keys.field_types_prefix(self._prefix)):
            seen += len(keys)
            if seen > MAX_FIELD_TYPE_RECORDS:
                msg = (
                    f"s3://{self._bucket}/{s3_keys.field_types_prefix(self._prefix)} holds "
                    f"more than {MAX_FIELD_TYPE_RECORDS} field type records"
                )
                raise UserInputError(msg)
            hashed = []
            for key in keys:
                parsed = s3_keys.parse_field_type_key(key, self._prefix)
                if parsed is None:
                    continue
                if parsed.table is None or parsed.field is None:
                    hashed.append(key)
                else:
                    add(parsed.table, parsed.field, parsed.kind)
            for triple in self._pool.map(self._read_kind, hashed):
                add(*triple)
        return records

    def _read_kind(self, key: str) -> tuple[str, str, str]:
        response = self._retry.run(
            lambda: checked_call(self._client.get_object, Bucket=self._bucket, Key=key)
        )
        try:
            return s3_keys.parse_field_type_body(response["Body"].read())
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"s3://{self._bucket}/{key} is not a field type record; move it away"
            raise RetryableError(msg) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc

    def ledger_tables_stored(self) -> list[str]:
        """The ledger tables with documents under the prefix (a ``<table>/current/`` folder;
        other folders in the bucket are not tables), sorted."""
        root = f"{self._prefix}/" if self._prefix else ""
        own = {f"{root}{s3_keys.CHECKPOINT_DIR}/", f"{root}{s3_keys.FIELD_TYPES_DIR}/"}
        return sorted(
            unquote(folder[len(root) : -1])
            for folder in self._folders(root)
            if folder not in own and f"{folder}current/" in set(self._folders(folder))
        )

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        """The ledger table whose ``current/`` folder holds ``document_id``
        (``DocumentTableLookup``): one listing of the table folders, then one ``HeadObject``
        per table (at most :data:`MAX_LOOKUP_TABLES`) until found. The objects keep no table
        id to compare ``table_id`` with; QLDB document ids are unique in a ledger.

        Raises:
            RetryableError: a listing or a head could not be read.
        """
        del table_id
        try:
            doc = s3_keys.segment(document_id, "document id")
        except UnstorableChangeError:
            return None
        root = f"{self._prefix}/" if self._prefix else ""
        own = {f"{root}{s3_keys.CHECKPOINT_DIR}/", f"{root}{s3_keys.FIELD_TYPES_DIR}/"}
        for seen, folder in enumerate(self._folders(root)):
            if seen >= MAX_LOOKUP_TABLES:
                return None
            key = f"{folder}current/{doc}.json"
            if folder in own or len(key.encode("utf-8")) > s3_keys.MAX_KEY_BYTES:
                continue
            if self._head(key) is not None:
                return unquote(folder[len(root) : -1])
        return None

    def athena_ddl(
        self, mapping: ViewMapping, *, leave_out: Collection[str] = ()
    ) -> athena_ddl.AthenaDdl:
        """The Athena DDL of every ledger table from the recorded field types
        (``DdlProjection``; ``projections/athena_ddl.py``). Raises ConfigError for an unusable
        mapped name."""
        records = self.field_records()
        types = kinds_of(records)
        tables = set(self.ledger_tables_stored()) | set(types)
        return athena_ddl.build(
            tables,
            types,
            mapping,
            self._bucket,
            self._prefix,
            leave_out=leave_out,
            shapes=numeric_shapes(records),
        )

    def duckdb_views(
        self, mapping: ViewMapping, *, leave_out: Collection[str] = (), root: str | None = None
    ) -> duckdb_views.DuckDbViews:
        """DuckDB views of every ledger table from the recorded field types and shapes
        (``DdlProjection``; ``projections/duckdb_views.py``), reading ``s3://bucket/prefix`` or
        ``root`` (a local copy). Raises ConfigError for an unusable mapped name."""
        records = self.field_records()
        types = kinds_of(records)
        tables = set(self.ledger_tables_stored()) | set(types)
        return duckdb_views.build(
            tables,
            types,
            numeric_shapes(records),
            mapping,
            root if root is not None else self.uri,
            leave_out=leave_out,
        )

    def _write_document(self, latest: Change, revisions: list[Change]) -> _DocumentOutcome:
        """Write the revisions of one document, then its current object.

        The current object is written only when the latest change's own revision object was
        written (or already there): a change is either applied/stale or failed, never both.
        """
        outcome = _DocumentOutcome()
        latest_failed = False
        for revision in revisions:
            try:
                written = self._retry.run(partial(self._write_revision, revision))
            except CdcError as exc:
                if revision.version == latest.version:
                    latest_failed = True
                    outcome.failures.append(Failure(latest, retryable_unless_poison(exc)))
                else:
                    outcome.superseded_failed += 1
                    outcome.failures.append(Failure(revision, retryable_unless_poison(exc)))
            else:
                outcome.history_written += written
                outcome.history_redactions += written * revision.is_redacted
        if latest_failed:
            return outcome
        try:
            applied = self._retry.run(lambda: self._write_current(latest))
        except CdcError as exc:
            outcome.failures.append(Failure(latest, retryable_unless_poison(exc)))
            return outcome
        outcome.applied = applied
        outcome.stale = not applied
        return outcome

    def _write_revision(self, change: Change) -> int:
        """1 when the revision object was created or changed now, 0 when already there.

        The object holds the merge of the revision's copies (``Change.history_copy``): a
        redaction replaces the unredacted copy, a redaction notice keeps the stored copy's
        metadata, a copy with metadata fills it into a stored notice; every replacement is
        conditioned on the ETag read.
        """
        key = self.revision_key(change.key, change.version)
        body = encoded_body(change)
        if not change.is_redacted and self._put(key, change, body, etag=None):
            return 1
        for _ in range(self._rounds):
            stored = self._head(key)
            if stored is None:
                if self._put(key, change, body, etag=None):
                    return 1
                continue
            adds_hash = (
                stored.lacks_data_hash and change.is_redacted and change.data_hash is not None
            )
            if not (stored.notice or adds_hash) and (stored.redacted or not change.is_redacted):
                return 0
            if stored.notice and change.is_redaction_notice:
                return 0
            merged = change
            if change.is_redaction_notice or stored.notice:
                seen = self._read_revision(key, stored.etag, change)
                if seen is None:
                    continue  # replaced since the HEAD: look again
                merged = change.history_copy(seen) or seen
            if self._put(key, merged, encoded_body(merged), etag=stored.etag):
                return 1
        msg = f"s3://{self._bucket}/{key}: gave up after {self._rounds} conflicting writers"
        raise RetryableError(msg)

    def _read_revision(self, key: str, etag: str, change: Change) -> Change | None:
        """The revision object ``key`` as a change (``None`` when it no longer has ``etag``)."""
        try:
            response = checked_call(
                self._client.get_object, Bucket=self._bucket, Key=key, IfMatch=etag
            )
        except ConditionFailedError:
            return None
        try:
            body = json_codec.loads(response["Body"].read())
            return Change(
                key=change.key,
                version=int(body["version"]),
                kind=ChangeKind.REDACTION if body["redacted"] is True else change_kind(body),
                data=body["data"],
                tx_id=str(body["txId"]),
                tx_time=str(body["txTime"]),
                block=BlockAddress(str(body["blockStrand"]), int(body["blockSeq"])),
                revision_hash=str(body["revisionHash"]),
                data_hash=None if body["dataHash"] is None else str(body["dataHash"]),
                table_id=change.table_id,
                origin=change.origin,
            )
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"s3://{self._bucket}/{key} is not a projection object; move it away"
            raise RetryableError(msg) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc

    def _write_current(self, change: Change) -> bool:
        """True when ``change`` became the current object, False when it is stale."""
        key = self.current_key(change.key)
        body = encoded_body(change)
        for _ in range(self._rounds):
            stored = self._head(key)
            if stored is not None and not wins_over(change, stored):
                return False
            if self._put(key, change, body, etag=stored.etag if stored else None):
                return True
        msg = f"s3://{self._bucket}/{key}: gave up after {self._rounds} conflicting writers"
        raise RetryableError(msg)

    def _put(self, key: str, change: Change, body: bytes, *, etag: str | None) -> bool:
        """Conditional put: create-only without ``etag``, else replace that exact object."""
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            checked_call(
                self._client.put_object,
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata={
                    "version": str(change.version),
                    "deleted": _flag(change.is_tombstone),
                    "redacted": _flag(change.is_redacted),
                    **({"notice": "true"} if change.is_redaction_notice else {}),
                    **(
                        {"datahash": "false"}
                        if change.is_redacted and change.data_hash is None
                        else {}
                    ),
                },
                **condition,
            )
        except ConditionFailedError:
            return False
        return True

    def _head(self, key: str) -> StoredState | None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if http_status(exc) == 404:
                return None
            raise classify_client_error(exc) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc
        metadata = head.get("Metadata", {})
        if "version" in metadata:
            return StoredState(
                etag=head["ETag"],
                version=int(metadata["version"]),
                redacted=metadata.get("redacted") == "true",
                notice=metadata.get("notice") == "true",
                lacks_data_hash=metadata.get("datahash") == "false",
            )
        # Written by something else without our metadata: read the body instead.
        try:
            response = checked_call(
                self._client.get_object, Bucket=self._bucket, Key=key, IfMatch=head["ETag"]
            )
        except ConditionFailedError as exc:
            msg = f"s3://{self._bucket}/{key} changed while it was read; read it again"
            raise RetryableError(msg) from exc
        try:
            parsed = json_codec.loads(response["Body"].read())
            return StoredState(
                etag=head["ETag"],
                version=int(parsed["version"]),
                redacted=parsed["redacted"] is True,
                notice=parsed["redacted"] is True and parsed.get("revisionHash") == "",
                lacks_data_hash=parsed["redacted"] is True and parsed.get("dataHash") is None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"s3://{self._bucket}/{key} is not a projection object; move it away"
            raise RetryableError(msg) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc

    # ------------------------------------------------------------------ reconcile

    def iter_current_state(self) -> Iterator[DocState]:
        """Every ``<table>/current/<doc>.json`` object, read by ``ListObjectsV2`` pages (one page
        of at most 1000 keys in memory, their bodies fetched on the worker threads).

        Raises:
            RetryableError: a listing or an object could not be read, or an object under
                ``current/`` is not a projection object.
        """
        root = f"{self._prefix}/" if self._prefix else ""
        own = {f"{root}{s3_keys.CHECKPOINT_DIR}/", f"{root}{s3_keys.FIELD_TYPES_DIR}/"}
        for table_prefix in self._folders(root):
            if table_prefix in own:
                continue
            for keys in self._pages(f"{table_prefix}current/"):
                found = [(k, s3_keys.parse_object_key(k, self._prefix)) for k in keys]
                wanted = [(k, p[1]) for k, p in found if p is not None and p[0] == "current"]
                yield from self._pool.map(lambda kp: self._read_state(*kp), wanted)

    def _folders(self, prefix: str) -> Iterator[str]:
        """The common prefixes under ``prefix`` (one level), page by page."""
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "Delimiter": "/"}
        while True:
            page = self._retry.run(lambda: checked_call(self._client.list_objects_v2, **kwargs))
            for entry in page.get("CommonPrefixes", []):
                yield entry["Prefix"]
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def _pages(self, prefix: str) -> Iterator[list[str]]:
        """The object keys under ``prefix``, one listing page at a time."""
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": _STATE_PAGE}
        while True:
            page = self._retry.run(lambda: checked_call(self._client.list_objects_v2, **kwargs))
            yield [entry["Key"] for entry in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def _read_state(self, key: str, doc: DocKey) -> DocState:
        response = self._retry.run(
            lambda: checked_call(self._client.get_object, Bucket=self._bucket, Key=key)
        )
        try:
            body = json_codec.loads(response["Body"].read())
            strand, seq = body.get("blockStrand"), body.get("blockSeq")
            return DocState(
                doc,
                int(body["version"]),
                body["deleted"] is True,
                body["redacted"] is True,
                str(body["revisionHash"]),
                block_of(strand, seq),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            msg = f"s3://{self._bucket}/{key} is not a projection object; move it away"
            raise RetryableError(msg) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc

    # ------------------------------------------------------------------ checkpoints

    def completed_objects(self, export_id: str) -> set[str]:
        """Data-object keys checkpointed for ``export_id``."""
        prefix = self.checkpoint_prefix(export_id)
        keys: set[str] = set()
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            page = self._retry.run(lambda: checked_call(self._client.list_objects_v2, **kwargs))
            for entry in page.get("Contents", []):
                keys.add(s3_keys.object_key_of(entry["Key"][len(prefix) :]))
            if not page.get("IsTruncated"):
                return keys
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Write the (idempotent) checkpoint object of data object ``key``."""
        name = self.checkpoint_prefix(export_id) + s3_keys.checkpoint_name(key)
        self._retry.run(
            lambda: checked_call(
                self._client.put_object, Bucket=self._bucket, Key=name, Body=key.encode("utf-8")
            )
        )

    def close(self) -> None:
        """Stop the worker threads; the projection is unusable afterwards."""
        self._pool.shutdown(wait=True)


_STATE_PAGE = 1000
"""Keys per listing page of :meth:`S3Projection.iter_current_state` (S3's maximum)."""
MAX_FIELD_TYPE_RECORDS = 1_000_000
"""Field-types records :meth:`S3Projection.field_types` reads at most."""


def change_kind(body: dict[str, Any]) -> ChangeKind:
    """The kind of an unredacted revision object's body."""
    if body["deleted"] is True:
        return ChangeKind.DELETE
    return ChangeKind.INSERT if int(body["version"]) == 0 else ChangeKind.UPDATE


def _flag(value: bool) -> str:
    return "true" if value else "false"


def from_uri(uri: str) -> S3Projection:
    """Parse ``uri`` (:func:`projections.s3_target.parse`) and :func:`open_target` it.

    Raises:
        ConfigError: see both.
    """
    return parse_target(uri).open()


def open_target(target: S3Target) -> S3Projection:
    """Build the projection of ``target`` with a default boto3 client.

    boto3 resolves credentials, region and endpoint (``AWS_ENDPOINT_URL``,
    ``AWS_ENDPOINT_URL_S3``); botocore's own retries are off, :func:`aws_retry` backs off.

    Raises:
        ConfigError: a botocore configuration error while building the client (unknown
            profile, partial credentials...).
    """
    config = client_config(DEFAULT_WORKERS + 4)
    what = f"the S3 target {target.uri}"
    client = configured_client(lambda: boto3.client("s3", config=config), what)
    return S3Projection(client, target.bucket, target.prefix)


__all__ = [
    "S3Projection",
    "StoredState",
    "encoded_body",
    "from_uri",
    "open_target",
    "parse_object_key",
]
