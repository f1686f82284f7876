"""Changes -> rows for the PostgreSQL projection, and the checks that find unstorable changes.

Guarantees:

* :func:`screen` returns a :class:`StagedRow` for every change PostgreSQL can store and an
  :class:`~schemas.errors.UnstorableChangeError` reason for every change it can never store:
  a NUL character (``\\u0000``) anywhere in the document or its metadata (``text`` and ``jsonb``
  reject it), a lone UTF-16 surrogate (not encodable as UTF-8), a non-finite decimal, a value
  JSON cannot carry, or a version/sequence number outside ``bigint``. Other server-side data
  errors (numeric overflow of huge exponents, oversized keys) are found by the projection's
  probe after the server rejects a batch.
* ``data`` is the exact JSON text of :func:`changes.json_codec.dumps`. ``data_exact`` repeats it
  only when ``jsonb`` would respell a number (negative zero, exponent notation): reading
  ``coalesce(data_exact::text, data::text)`` with :func:`changes.json_codec.loads` gives back the
  exact decimals every time, ``data`` alone always gives numerically equal values.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from changes import json_codec
from changes.model import Change

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

COLUMNS: tuple[str, ...] = (
    "ledger_table",
    "document_id",
    "version",
    "deleted",
    "redacted",
    "data",
    "data_exact",
    "tx_id",
    "tx_time",
    "tx_time_utc",
    "block_strand",
    "block_seq",
    "revision_hash",
    "data_hash",
)
"""Columns shared by ``documents``, ``revisions`` and the staging table, in COPY order."""

# A JSON "\u0000" escape: a backslash preceded by an even number of backslashes (not escaped).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# A number token jsonb would respell: exponent notation or negative zero. Conservative: a string
# that happens to contain such text only costs a redundant data_exact copy, never a wrong read.
_RESPELLED_NUMBER = re.compile(r"[:\[,]-?[0-9][0-9.]*[eE]|[:\[,]-0(?:\.0*)?[,}\]]")
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True, slots=True)
class StagedRow:
    """One change as the tuple written to the staging table (``COLUMNS`` order)."""

    change: Change
    values: tuple[object, ...]


@functools.lru_cache(maxsize=4096)
def parse_tx_time(text: str) -> dt.datetime | None:
    """``txTime`` as an aware datetime (fraction cut to microseconds), ``None`` when not a full
    timestamp with an offset (the text column always keeps the original)."""
    try:
        parsed = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text_problem(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        return f"{name} contains a NUL character, which PostgreSQL text cannot store"
    if not _is_utf8(value):
        return f"{name} contains a lone UTF-16 surrogate, which is not valid UTF-8"
    return None


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _metadata_problem(change: Change) -> str | None:
    fields = (
        change.key.table,
        change.key.doc_id,
        change.tx_id,
        change.tx_time,
        change.block.strand_id,
        change.revision_hash,
        change.data_hash or "",
    )
    joined = "\x1f".join(fields)
    if "\x00" not in joined and _is_utf8(joined):  # fast path: one scan for all fields
        return None
    names = ("ledger table name", "document id", "txId", "txTime", "block strand id")
    for name, value in zip((*names, "revision hash", "data hash"), fields, strict=True):
        problem = _text_problem(name, value)
        if problem is not None:
            return problem
    return None  # pragma: no cover - the joined text had a problem, so one field has it


def screen(change: Change) -> StagedRow | str:
    """The staged row for ``change``, or the reason PostgreSQL can never store it."""
    problem = _metadata_problem(change)
    if problem is not None:
        return problem
    for name, number in (("version", change.version), ("block sequence", change.block.sequence_no)):
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            return f"{name} {number} does not fit a PostgreSQL bigint"
    data_text: str | None = None
    exact: str | None = None
    if change.data is not None:
        try:
            data_text = json_codec.dumps(change.data)
        except (ValueError, TypeError) as exc:
            return f"document has no JSON form: {exc}"
        if "\\u0000" in data_text and _NUL_ESCAPE.search(data_text):
            return "document contains a NUL character (\\u0000), which jsonb cannot store"
        problem = _text_problem("document", data_text)
        if problem is not None:
            return problem
        if _RESPELLED_NUMBER.search(data_text):
            exact = data_text
    return StagedRow(
        change,
        (
            change.key.table,
            change.key.doc_id,
            change.version,
            change.is_tombstone,
            change.is_redacted,
            data_text,
            exact,
            change.tx_id,
            change.tx_time,
            parse_tx_time(change.tx_time),
            change.block.strand_id,
            change.block.sequence_no,
            change.revision_hash,
            change.data_hash,
        ),
    )
