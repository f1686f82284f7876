"""OpenSearch projection: current state per document, tombstones included, version-exact.

Target URI: ``opensearch+https://[user:password@]host[:port]/<index-prefix>[?options]`` (or
``opensearch+http://`` for local clusters). Options:

* ``auth=sigv4`` signs requests with AWS SigV4 (Amazon OpenSearch Service) using boto3's
  credential chain; ``region=`` (default: boto3's region) and ``service=es|aoss`` (default ``es``,
  or ``aoss`` for ``*.aoss.amazonaws.com`` hosts). ``user:password@`` means HTTP basic auth.
* ``bulk_bytes=`` caps one ``_bulk`` body (default 5 MiB); ``timeout=`` seconds per request
  (default 30); ``templates=false`` skips installing the index templates; ``verify=false``
  turns off TLS certificate verification (self-signed development clusters only);
  ``data=stored|flat|dynamic`` picks the mapping of the document data (default ``stored``, see
  :mod:`projections.opensearch_template`).

The default port is 443 for ``https`` and 9200 for ``http``. The URI is parsed without I/O by
:mod:`projections.opensearch_target`; :func:`open_target` builds the client.

Guarantees (the contract of :mod:`projections.base`):

* One index per ledger table, ``<prefix>-<escaped table name>`` (valid and collision-free for
  any name, see :mod:`projections.opensearch_names`); ``_id`` is the QLDB document id.
* Every write is ``index`` with ``version_type=external`` and ``version = qldb_version * 2 +
  redacted`` (see :mod:`projections.opensearch_bulk`), so OpenSearch itself rejects anything that
  does not supersede the stored document; the rejection (409) is counted as ``stale``.
* Deletes and redactions are tombstone documents (``data: null``, ``qldb.deleted`` /
  ``qldb.redacted``), never native deletes, so a late older update can never resurrect them.
* Decimals are written as JSON numbers with their exact digits (the body is serialised by
  :func:`core.json_codec.dumps`, never by the client).
* Per item: 429/5xx are retried with backoff for those items only (bounded); 400 (mapping or
  parse errors) is a :class:`~core.errors.UnstorableChangeError` failure for that change
  alone. A whole request that fails (connection error, timeout, 429, 5xx) is retried, then every
  change in it is a :class:`~core.errors.RetryableError` failure; a 413 splits the request.
  A document, id or table name that is not valid UTF-8 (a lone UTF-16 surrogate) is an
  :class:`~core.errors.UnstorableChangeError` failure before anything is sent.
* Replay checkpoints are documents in ``<prefix>~checkpoints``, a name no table maps to and
  outside the tables' ``<prefix>-*`` pattern; those of earlier releases in
  ``<prefix>-~checkpoints`` are still read.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    NotFoundError,
    OpenSearchException,
    TransportError,
)
from opensearchpy.serializer import JSONSerializer

from changes.coalesce import coalesce
from changes.reconcile import DocState, block_of
from core import json_codec
from core.errors import (
    ConfigError,
    PoisonError,
    RetryableError,
    ThrottledError,
    UnstorableChangeError,
)
from core.model import Change, DocKey
from core.retry import Backoff, Retry
from projections.base import ApplyReport, Failure
from projections.opensearch_bulk import (
    DEFAULT_MAX_BULK_BYTES,
    BulkEntry,
    ItemOutcome,
    bulk_body,
    bulk_entry,
    chunk_by_bytes,
    classify_item,
)
from projections.opensearch_names import (
    checkpoint_index,
    index_name,
    invalid_prefix_reason,
    legacy_checkpoint_index,
)
from projections.opensearch_target import OpenSearchTarget, parse_uri
from projections.opensearch_template import DataMapping, templates

_NDJSON = {"content-type": "application/x-ndjson"}
_CHECKPOINT_PAGE = 1000
_STATE_PAGE = 1000
"""Hits per page of :meth:`OpenSearchProjection.iter_current_state`."""


class ExactJSONSerializer(JSONSerializer):
    """opensearch-py serializer that keeps decimals exact both ways.

    ``dumps`` passes ``str``/``bytes`` bodies through untouched and writes everything else with
    :func:`core.json_codec.dumps`; ``loads`` reads fractional numbers as ``Decimal``.
    """

    def dumps(self, data: Any) -> Any:
        """Serialise a request body (pre-serialised text and bytes are sent as they are)."""
        if isinstance(data, str | bytes):
            return data
        return json_codec.dumps(data)

    def loads(self, s: str) -> Any:
        """Parse a response body with exact decimals."""
        return json_codec.loads(s)


OPENSEARCH_BACKOFF = Backoff(attempts=5, base_seconds=0.2, cap_seconds=10.0)
"""Backoff of one bulk chunk: 5 requests at most, waits of 0.2 s doubling up to 10 s (no jitter)."""


@dataclass(frozen=True, slots=True)
class _RequestFailed:
    """A whole ``_bulk`` request failed; ``retry_now`` says whether backing off can help."""

    error: RetryableError
    status: int | None
    retry_now: bool


class OpenSearchProjection:
    """Current-state projection into OpenSearch with tombstone documents.

    Args:
        client: an ``opensearchpy.OpenSearch`` client; build it with :class:`ExactJSONSerializer`
            (as :func:`from_uri` does) so responses keep exact decimals.
        prefix: index-name prefix (see :func:`projections.opensearch_names.invalid_prefix_reason`).
        max_bulk_bytes: upper bound of one ``_bulk`` body; a single larger document is sent alone.
        retry: backoff of one chunk's 429/5xx items and failed requests (requests per chunk at
            most, and the waits; :data:`OPENSEARCH_BACKOFF` by default, no jitter).
        sleep: called with the backoff in seconds (inject a recorder in tests).
        install_templates: ``PUT`` the index templates before the first write.
        data_mapping: how the templates map ``data`` (``stored``, ``flat``, ``dynamic``, ``typed``).

    Raises:
        ConfigError: ``prefix`` cannot start an index name.
    """

    def __init__(
        self,
        client: OpenSearch,
        prefix: str,
        *,
        max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES,
        retry: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        install_templates: bool = True,
        data_mapping: DataMapping = "stored",
    ) -> None:
        reason = invalid_prefix_reason(prefix)
        if reason is not None:
            raise ConfigError(reason)
        if max_bulk_bytes <= 0:
            msg = f"max_bulk_bytes must be positive, got {max_bulk_bytes}"
            raise ConfigError(msg)
        self._client = client
        self._prefix = prefix
        self._max_bulk_bytes = max_bulk_bytes
        self._retry = Retry(retry or OPENSEARCH_BACKOFF, sleep)
        self._templates_ready = not install_templates
        self._data_mapping: DataMapping = data_mapping
        self.untyped_fallbacks = 0
        """Documents written without their ``typed`` copies because the cluster refused them."""

    @property
    def name(self) -> str:
        """Always ``opensearch``."""
        return "opensearch"

    @property
    def prefix(self) -> str:
        """The index-name prefix."""
        return self._prefix

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Coalesce ``changes`` and index the winners in byte-bounded ``_bulk`` requests.

        Raises:
            RetryableError: the index templates could not be installed (nothing can be written).
            ConfigError: the cluster rejected the index templates as invalid.
        """
        batch = coalesce(changes)
        report = ApplyReport(received=batch.received, superseded=batch.superseded)
        if not batch.latest:
            return report
        self._ensure_templates()
        entries: list[BulkEntry] = []
        typed = self._data_mapping == "typed"
        for change in batch.latest.values():
            try:
                entries.append(bulk_entry(self._prefix, change, typed=typed))
            except UnstorableChangeError as exc:
                report.failures.append(Failure(change, exc))
        for chunk in chunk_by_bytes(entries, self._max_bulk_bytes):
            self._send_chunk(chunk, report)
        return report

    def completed_objects(self, export_id: str) -> set[str]:
        """Data-object keys marked complete for ``export_id`` (empty before the first mark), in
        the checkpoint index and in the one of earlier releases.

        Raises:
            RetryableError: the cluster could not be read.
        """
        keys: set[str] = set()
        for index in (checkpoint_index(self._prefix), legacy_checkpoint_index(self._prefix)):
            keys |= self._completed_in(index, export_id)
        return keys

    def _completed_in(self, index: str, export_id: str) -> set[str]:
        keys: set[str] = set()
        search_after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": _CHECKPOINT_PAGE,
                "query": {"term": {"exportId": export_id}},
                "sort": [{"key": "asc"}],
                "_source": ["key"],
            }
            if search_after is not None:
                body["search_after"] = search_after
            try:
                response = self._client.transport.perform_request(
                    "POST", f"/{index}/_search", body=body
                )
            except NotFoundError:
                return keys
            except OpenSearchException as exc:
                action = "reading checkpoints"
                raise _request_error(action, exc) from exc
            hits = response.get("hits", {}).get("hits", []) if isinstance(response, dict) else []
            for hit in hits:
                keys.add(str(hit["_source"]["key"]))
            if len(hits) < _CHECKPOINT_PAGE:
                return keys
            search_after = hits[-1]["sort"]

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Store a checkpoint document (idempotent ``_id``, visible to search on return).

        Raises:
            RetryableError: the checkpoint could not be written.
        """
        self._ensure_templates()
        index = checkpoint_index(self._prefix)
        doc_id = hashlib.sha256(f"{export_id}\0{key}".encode()).hexdigest()
        try:
            self._client.transport.perform_request(
                "PUT",
                f"/{index}/_doc/{doc_id}",
                params={"refresh": "wait_for"},
                body={"exportId": export_id, "key": key},
            )
        except OpenSearchException as exc:
            action = "writing a checkpoint"
            raise _request_error(action, exc) from exc

    def iter_current_state(self) -> Iterator[DocState]:
        """Every document of every ``<prefix>-*`` table index, after a refresh: one index at a
        time, pages of ``_STATE_PAGE`` hits sorted by ``qldb.documentId`` (unique in an index)
        with ``search_after``. Indices of another prefix that the wildcard also matches (the
        name does not map back to the document's table), the checkpoint index and hits without
        the ``qldb`` metadata of a projected document are skipped.

        Raises:
            RetryableError: the cluster could not be read.
        """
        pattern = f"{self._prefix}-*"
        try:
            self._client.transport.perform_request("POST", f"/{pattern}/_refresh")
            listed = self._client.transport.perform_request(
                "GET", f"/_cat/indices/{pattern}", params={"format": "json"}
            )
        except NotFoundError:
            return
        except OpenSearchException as exc:
            action = "listing indices"
            raise _request_error(action, exc) from exc
        names = sorted(str(e["index"]) for e in listed or [] if isinstance(e, dict))
        for name in names:
            if name != legacy_checkpoint_index(self._prefix):
                yield from self._index_state(name)

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        """The ledger table of the document with ``_id`` ``document_id`` in a table index
        (``DocumentTableLookup``): one listing of the ``<prefix>-*`` indices, then one real-time
        ``GET _doc`` per index (at most :data:`MAX_LOOKUP_INDICES`) until one holds it and its
        ``qldb.ledgerTable`` maps back to that index. The documents keep no table id to
        compare ``table_id`` with; QLDB document ids are unique in a ledger.

        Raises:
            RetryableError: the cluster could not be read.
        """
        del table_id
        try:
            id_bytes = len(document_id.encode("utf-8"))
        except UnicodeEncodeError:
            return None  # a lone surrogate: never stored
        if not 0 < id_bytes <= _MAX_ID_BYTES:
            return None
        try:
            listed = self._client.transport.perform_request(
                "GET", f"/_cat/indices/{self._prefix}-*", params={"format": "json"}
            )
        except NotFoundError:
            return None
        except OpenSearchException as exc:
            action = "listing indices"
            raise _request_error(action, exc) from exc
        names = sorted(str(e["index"]) for e in listed or [] if isinstance(e, dict))
        doc_path = quote(document_id, safe="")
        for index in names[:MAX_LOOKUP_INDICES]:
            if index == legacy_checkpoint_index(self._prefix):
                continue
            try:
                found = self._client.transport.perform_request(
                    "GET", f"/{index}/_doc/{doc_path}", params={"_source": "qldb.ledgerTable"}
                )
            except NotFoundError:
                continue
            except OpenSearchException as exc:
                action = f"reading a document of {index}"
                raise _request_error(action, exc) from exc
            source = found.get("_source") if isinstance(found, dict) else None
            qldb = source.get("qldb") if isinstance(source, dict) else None
            table = qldb.get("ledgerTable") if isinstance(qldb, dict) else None
            if isinstance(table, str) and table and index_name(self._prefix, table) == index:
                return table
        return None

    def _index_state(self, index: str) -> Iterator[DocState]:
        search_after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": _STATE_PAGE,
                "query": {"match_all": {}},
                "sort": [{"qldb.documentId": "asc"}],
                "_source": ["qldb"],
            }
            if search_after is not None:
                body["search_after"] = search_after
            try:
                response = self._client.transport.perform_request(
                    "POST", f"/{index}/_search", body=body
                )
            except NotFoundError:
                return
            except OpenSearchException as exc:
                action = f"listing documents of {index}"
                raise _request_error(action, exc) from exc
            hits = response.get("hits", {}).get("hits", []) if isinstance(response, dict) else []
            for hit in hits:
                state = _hit_state(hit)
                if state is not None and index_name(self._prefix, state.key.table) == index:
                    yield state
            if len(hits) < _STATE_PAGE:
                return
            search_after = hits[-1]["sort"]

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def _ensure_templates(self) -> None:
        if self._templates_ready:
            return
        for name, body in templates(self._prefix, self._data_mapping).items():
            action = f"installing index template {name!r}"
            try:
                self._client.transport.perform_request("PUT", f"/_index_template/{name}", body=body)
            except TransportError as exc:
                if exc.status_code == 400:
                    msg = f"OpenSearch rejected index template {name!r}: {exc.error} {exc.info}"
                    raise ConfigError(msg) from exc
                raise _request_error(action, exc) from exc
            except OpenSearchException as exc:
                raise _request_error(action, exc) from exc
        self._templates_ready = True

    def _send_chunk(self, chunk: list[BulkEntry], report: ApplyReport) -> None:
        """Send one chunk, retrying failed requests and 429/5xx items within the policy."""
        pending = chunk
        for attempt in self._retry.attempts():
            last = attempt == self._retry.backoff.attempts
            outcome = self._bulk(pending)
            if isinstance(outcome, _RequestFailed):
                if outcome.status == 413 and len(pending) > 1:
                    half = len(pending) // 2
                    self._send_chunk(pending[:half], report)
                    self._send_chunk(pending[half:], report)
                    return
                # A single document over the cluster's http.max_content_length cannot fit by
                # waiting: fail it now (retryable: the operator can raise the limit).
                if last or not outcome.retry_now or outcome.status == 413:
                    report.failures.extend(Failure(e.change, outcome.error) for e in pending)
                    return
                continue
            retry, untyped = self._tally(pending, outcome, report)
            if untyped:
                self.untyped_fallbacks += len(untyped)
                self._send_chunk(untyped, report)
            if not retry:
                return
            if last:
                report.failures.extend(Failure(e.change, err) for e, err in retry)
                return
            pending = [entry for entry, _ in retry]

    def _tally(
        self, pending: list[BulkEntry], items: list[Any], report: ApplyReport
    ) -> tuple[list[tuple[BulkEntry, PoisonError | RetryableError]], list[BulkEntry]]:
        """Count each item's outcome; return the items to retry and those to re-send without
        their ``typed`` copies."""
        retry: list[tuple[BulkEntry, PoisonError | RetryableError]] = []
        untyped: list[BulkEntry] = []
        for entry, item in _pair(pending, items):
            result = classify_item(item)
            if result.outcome is ItemOutcome.APPLIED:
                report.applied += 1
                report.tombstones += entry.change.is_tombstone
                report.redactions += entry.change.is_redacted
            elif result.outcome is ItemOutcome.STALE:
                report.stale += 1
            elif result.outcome is ItemOutcome.RETRY and result.error is not None:
                retry.append((entry, result.error))
            elif entry.typed:
                # data=typed: the cluster refused the typed copies (a mapping or field limit),
                # not the document: write it without them.
                untyped.append(bulk_entry(self._prefix, entry.change))
            elif result.error is not None:
                report.failures.append(Failure(entry.change, result.error))
        return retry, untyped

    def _bulk(self, entries: list[BulkEntry]) -> list[Any] | _RequestFailed:
        """POST one ``_bulk`` body; the per-item results or why the whole request failed."""
        try:
            response = self._client.transport.perform_request(
                "POST", "/_bulk", body=bulk_body(entries), headers=_NDJSON
            )
        except OpenSearchException as exc:
            return _request_failed(exc)
        items = response.get("items") if isinstance(response, dict) else None
        if not isinstance(items, list):
            error = RetryableError(f"OpenSearch _bulk response without items: {response!r:.300}")
            return _RequestFailed(error, None, retry_now=True)
        return items


MAX_LOOKUP_INDICES = 1000
"""Table indices :meth:`OpenSearchProjection.table_of_document` looks in at most."""
_MAX_ID_BYTES = 512
"""OpenSearch refuses a longer ``_id``, so no document with one is held."""


def _hit_state(hit: Any) -> DocState | None:
    """The state in a search hit, ``None`` for a hit that is not a projected document."""
    try:
        meta = hit["_source"]["qldb"]
        strand, seq = meta.get("blockStrand"), meta.get("blockSeq")
        return DocState(
            DocKey(str(meta["ledgerTable"]), str(hit["_id"])),
            int(meta["version"]),
            meta["deleted"] is True,
            meta["redacted"] is True,
            str(meta["revisionHash"]),
            block_of(strand, seq),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _pair(entries: list[BulkEntry], items: list[Any]) -> list[tuple[BulkEntry, Any]]:
    """Entries with their item results; a missing result reads as an unparsable item."""
    return [(entry, items[i] if i < len(items) else {}) for i, entry in enumerate(entries)]


def _status_of(exc: OpenSearchException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _request_failed(exc: OpenSearchException) -> _RequestFailed:
    """Classify a failed request: 429/5xx/413/connection problems are worth retrying now."""
    status = _status_of(exc)
    error = _request_error("bulk request", exc)
    transient = (
        isinstance(exc, OpenSearchConnectionError)
        or status is None
        or status in (413, 429)
        or status >= 500
    )
    return _RequestFailed(error, status, retry_now=transient)


def _request_error(action: str, exc: OpenSearchException) -> RetryableError:
    """A failed request as a retryable error (throttling as :class:`ThrottledError`)."""
    status = _status_of(exc)
    detail = f"{type(exc).__name__}: {exc}"
    if status == 429:
        return ThrottledError(f"OpenSearch throttled {action}: {detail}")
    return RetryableError(f"OpenSearch {action} failed: {detail:.500}")


def build_client(target: OpenSearchTarget) -> OpenSearch:
    """An ``OpenSearch`` client for ``target`` with exact-decimal serialisation.

    The client's own retries are off (``max_retries=0``): :class:`OpenSearchProjection` retries
    with its own bounded backoff, per item where it can.

    Raises:
        ConfigError: SigV4 requested but no AWS credentials or region are available, or
            botocore rejects the AWS configuration (unknown profile, partial credentials...).
    """
    http_auth: Any = None
    if target.sigv4:
        import boto3
        from botocore.exceptions import BotoCoreError
        from opensearchpy import Urllib3AWSV4SignerAuth

        try:
            session = boto3.Session(region_name=target.region) if target.region else boto3.Session()
            credentials = session.get_credentials()
        except BotoCoreError as exc:
            msg = f"auth=sigv4 but the AWS configuration is unusable: {exc}"
            raise ConfigError(msg) from exc
        if credentials is None:
            msg = "auth=sigv4 but boto3 found no AWS credentials"
            raise ConfigError(msg)
        region = target.region or session.region_name
        if not region:
            msg = "auth=sigv4 needs a region: add ?region=... or set AWS_REGION"
            raise ConfigError(msg)
        http_auth = Urllib3AWSV4SignerAuth(credentials, region, target.service)
    elif target.username is not None:
        http_auth = (target.username, target.password or "")
    return OpenSearch(
        hosts=[{"host": target.host, "port": target.port}],
        http_auth=http_auth,
        use_ssl=target.scheme == "https",
        verify_certs=target.scheme == "https" and target.verify_certs,
        ssl_show_warn=target.verify_certs,
        serializer=ExactJSONSerializer(),
        max_retries=0,
        retry_on_status=(),
        retry_on_timeout=False,
        timeout=target.timeout,
        http_compress=False,
    )


def from_uri(uri: str) -> OpenSearchProjection:
    """Parse ``uri`` (:func:`projections.opensearch_target.parse_uri`) and :func:`open_target` it.

    Raises:
        ConfigError: see both.
    """
    return parse_uri(uri).open()


def open_target(target: OpenSearchTarget) -> OpenSearchProjection:
    """Build the client (:func:`build_client`) and the projection of ``target``.

    Raises:
        ConfigError: see :func:`build_client`.
    """
    return OpenSearchProjection(
        build_client(target),
        target.prefix,
        max_bulk_bytes=target.bulk_bytes,
        install_templates=target.install_templates,
        data_mapping=target.data_mapping,
    )


__all__ = [
    "ExactJSONSerializer",
    "OpenSearchProjection",
    "OpenSearchTarget",
    "OPENSEARCH_BACKOFF",
    "build_client",
    "from_uri",
    "open_target",
    "parse_uri",
]
