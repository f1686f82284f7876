"""Pure building blocks of the OpenSearch projection: bulk bodies and per-item classification.

Nothing here does I/O. :mod:`projections.opensearch` sends what these functions build.

External version mapping (the one ordering rule OpenSearch enforces for us):
``external_version = qldb_version * 2 + (1 if redacted else 0)``. OpenSearch's
``version_type=external`` only writes when the given version is *strictly* greater than the stored
one, so a redaction (which must beat the unredacted copy of the *same* QLDB version) needs a
higher number than that copy, while every higher QLDB version must still beat both. Doubling keeps
the order of :meth:`core.model.Change.supersedes` exactly: ``(v, unredacted) < (v, redacted) <
(v + 1, anything)``. The true QLDB version is kept in the document body under ``qldb.version``.

Deletes and redactions are *tombstone documents* indexed with their external version, never a
native delete: a natively deleted document's version survives only ``index.gc_deletes`` (60 s by
default), after which a late, older update would resurrect the document.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core import json_codec
from core.errors import (
    PoisonError,
    RetryableError,
    ThrottledError,
    UnstorableChangeError,
)
from core.ion_kinds import IonKind
from core.model import Change
from core.tx_time import utc_text
from projections.opensearch_names import index_name

DEFAULT_MAX_BULK_BYTES = 5 * 1024 * 1024
"""Default upper bound of one ``_bulk`` request body (about 5 MiB, the AWS sizing guidance)."""


def external_version(change: Change) -> int:
    """The ``version_type=external`` version of ``change``: ``version * 2 + redacted``.

    Guarantees: strictly increasing in the order of ``Change.supersedes`` (a redaction beats the
    unredacted copy of the same version; any higher version beats both); equal only for
    duplicates, which OpenSearch then rejects as stale (409).
    """
    return change.version * 2 + (1 if change.is_redacted else 0)


def document_body(change: Change, *, typed: bool = False) -> dict[str, Any]:
    """The stored document: ``data`` (``None`` for deletes and redactions) plus ``qldb`` metadata,
    and with ``typed`` the ``typed`` copies of :func:`typed_fields` (live documents only).

    ``qldb.version`` is the true QLDB version (not the external version); ``qldb.ledgerTable``
    is the table name as QLDB spells it (index names escape it, see
    :mod:`projections.opensearch_names`).
    """
    body = _document_body(change)
    if typed and body["data"] is not None:
        body["typed"] = typed_fields(change)
    return body


MAX_TYPED_FIELDS = 200
"""Top-level fields copied into ``typed`` per document at most (by name)."""
MAX_TYPED_NAME = 200
"""Longer field names get no ``typed`` copy."""
_TYPED_NAME = str.maketrans({"%": "%25", ".": "%2E"})


def typed_fields(change: Change) -> dict[str, dict[str, Any]]:
    """``typed.<field>.<kind>`` copies of the top-level fields (``data=typed``; see
    ``projections/opensearch_template.py``). Field names have ``%`` and ``.`` percent-encoded
    (a dot would be an object path); values without a typed form (structs, lists, blobs,
    non-finite numbers, timestamps without an instant) get no copy."""
    data = change.data if isinstance(change.data, dict) else {}
    out: dict[str, dict[str, Any]] = {}
    for name, kind in sorted(change.field_kinds)[: MAX_TYPED_FIELDS * 2]:
        if len(out) >= MAX_TYPED_FIELDS:
            break
        if not name or len(name) > MAX_TYPED_NAME:
            continue
        copy = _typed_copy(kind, data.get(name))
        if copy is not None:
            out.setdefault(name.translate(_TYPED_NAME), {})[copy[0]] = copy[1]
    return out


def _typed_copy(kind: IonKind, value: Any) -> tuple[str, Any] | None:
    if value is None:
        return None
    if kind in (IonKind.STRING, IonKind.SYMBOL) and isinstance(value, str):
        return "string", value
    if kind is IonKind.BOOL and isinstance(value, bool):
        return "bool", value
    if kind in (IonKind.INT, IonKind.INT_BIG, IonKind.DECIMAL, IonKind.FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return None
        try:
            number = float(value)
        except OverflowError:
            return None
        return ("number", number) if math.isfinite(number) else None
    if kind is IonKind.TIMESTAMP and isinstance(value, str):
        instant = utc_text(value)
        return ("time", instant) if instant is not None else None
    if kind is IonKind.DATE and isinstance(value, str) and len(value) == 10:
        return "date", value
    return None


def _document_body(change: Change) -> dict[str, Any]:
    return {
        "data": None if change.is_tombstone or change.is_redacted else change.data,
        "qldb": {
            "version": change.version,
            "deleted": change.is_tombstone,
            "redacted": change.is_redacted,
            "txId": change.tx_id,
            "txTime": change.tx_time,
            "revisionHash": change.revision_hash,
            "dataHash": change.data_hash,
            "ledgerTable": change.key.table,
            "documentId": change.key.doc_id,
            "blockStrand": change.block.strand_id,
            "blockSeq": change.block.sequence_no,
        },
    }


@dataclass(frozen=True, slots=True)
class BulkEntry:
    """One ``index`` action of a ``_bulk`` body and the change it writes.

    Attributes:
        change: the change this entry writes.
        payload: the action line and the source line, each ending in ``\\n`` (UTF-8 NDJSON).
    """

    change: Change
    payload: bytes
    typed: bool = False

    @property
    def size(self) -> int:
        """Bytes this entry adds to a bulk body."""
        return len(self.payload)


def bulk_entry(prefix: str, change: Change, *, typed: bool = False) -> BulkEntry:
    """The ``index`` action (external version, ``_id`` = document id) and source for ``change``
    (with ``typed``: and its ``typed`` copies).

    Raises:
        UnstorableChangeError: the document holds a value JSON cannot carry (a non-finite
            decimal), or the document, its id or its table name holds text that is not valid
            UTF-8 (a lone UTF-16 surrogate); it can never be written.
    """
    action = {
        "index": {
            "_index": index_name(prefix, change.key.table),
            "_id": change.key.doc_id,
            "version": external_version(change),
            "version_type": "external",
        }
    }
    try:
        source = json_codec.dumps(document_body(change, typed=typed))
    except (TypeError, ValueError) as exc:
        msg = f"document {change.key} v{change.version} cannot be written as JSON: {exc}"
        raise UnstorableChangeError(msg) from exc
    text = json_codec.dumps(action) + "\n" + source + "\n"
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = (
            f"document {change.key} v{change.version} contains a lone UTF-16 surrogate, "
            f"which is not valid UTF-8 ({exc.reason})"
        )
        raise UnstorableChangeError(msg) from exc
    return BulkEntry(
        change, payload, typed=typed and not (change.is_tombstone or change.is_redacted)
    )


def chunk_by_bytes(entries: Iterable[BulkEntry], max_bytes: int) -> Iterator[list[BulkEntry]]:
    """Group ``entries`` in order into bodies of at most ``max_bytes`` each.

    Guarantees: every entry appears in exactly one chunk, order is kept, no chunk is empty, and a
    chunk exceeds ``max_bytes`` only when it holds a single entry larger than the limit.
    """
    chunk: list[BulkEntry] = []
    size = 0
    for entry in entries:
        if chunk and size + entry.size > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry.size
    if chunk:
        yield chunk


def bulk_body(entries: Sequence[BulkEntry]) -> bytes:
    """The NDJSON request body of ``entries`` (ends with a newline, as ``_bulk`` requires)."""
    return b"".join(entry.payload for entry in entries)


class ItemOutcome(enum.Enum):
    """What one ``_bulk`` item result means for its change."""

    APPLIED = "applied"
    """200/201: the document now holds this change."""
    STALE = "stale"
    """409 ``version_conflict_engine_exception``: an equal or newer version is stored (success)."""
    RETRY = "retry"
    """429 or 5xx: transient; retry this item only."""
    FAILED = "failed"
    """Anything else: not written; see the error's class (poison or retryable)."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Classification of one item; ``error`` is set for ``RETRY`` and ``FAILED``."""

    outcome: ItemOutcome
    error: PoisonError | RetryableError | None = None


def classify_item(item: Mapping[str, Any]) -> ItemResult:
    """Classify one entry of a ``_bulk`` response's ``items`` array.

    * 200/201 -> applied; 409 ``version_conflict_engine_exception`` -> stale.
    * 429 -> retry (:class:`ThrottledError` once retries run out); 5xx -> retry
      (:class:`RetryableError`).
    * 400 (``mapper_parsing_exception``, ``illegal_argument_exception``...) -> failed with
      :class:`UnstorableChangeError`: the document can never be stored as it is.
    * any other status (401/403 security, 404 missing index with auto-create off, a 409 that is
      not a version conflict, an unparsable item) -> failed with :class:`RetryableError`: the
      cluster's configuration, not the data, has to change.
    """
    result = item.get("index") if isinstance(item, Mapping) else None
    if not isinstance(result, Mapping):
        return ItemResult(ItemOutcome.FAILED, RetryableError(f"unparsable bulk item: {item!r}"))
    status = result.get("status")
    error = result.get("error")
    error_type = error.get("type") if isinstance(error, Mapping) else None
    reason = _describe(status, error)
    if not isinstance(status, int):
        return ItemResult(ItemOutcome.FAILED, RetryableError(f"bulk item without status: {reason}"))
    if 200 <= status < 300:
        return ItemResult(ItemOutcome.APPLIED)
    if status == 409 and error_type == "version_conflict_engine_exception":
        return ItemResult(ItemOutcome.STALE)
    if status == 429:
        return ItemResult(ItemOutcome.RETRY, ThrottledError(reason))
    if status >= 500:
        return ItemResult(ItemOutcome.RETRY, RetryableError(reason))
    if status == 400:
        return ItemResult(ItemOutcome.FAILED, UnstorableChangeError(reason))
    return ItemResult(ItemOutcome.FAILED, RetryableError(reason))


def _describe(status: object, error: object) -> str:
    if isinstance(error, Mapping):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, Mapping):
            text += f" (caused by {cause.get('type', 'error')}: {cause.get('reason', '')})"
        return f"OpenSearch bulk item status {status}: {text}"
    return f"OpenSearch bulk item status {status}: {error!r}"
