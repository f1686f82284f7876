"""Changes -> ``COPY`` text rows for the PostgreSQL projection, and the unstorable-change checks.

Guarantees:

* :func:`copy_line` turns a change into one line of ``COPY ... FROM STDIN`` text format (the
  ``COLUMNS`` in order, tab-separated, every field escaped, no trailing newline) in a single
  pass, or returns :class:`Unstorable` with the reason PostgreSQL can never store it: a NUL
  character (``\\u0000``) anywhere in the document or its metadata (``text`` and ``jsonb``
  reject it), a non-finite decimal or a value JSON cannot carry, or a version/sequence number
  outside ``bigint``.
* Lone UTF-16 surrogates (not encodable as UTF-8) are the one check :func:`copy_line` leaves to
  the UTF-8 encoding the caller does anyway: :func:`encode_lines` returns the indexes of the
  lines that do not encode, and :func:`unstorable_reason` (the exhaustive, slower check, also
  the reference the fast path is tested against) says why. Other server-side data errors
  (numeric overflow of huge exponents, oversized keys) are found by the projection's probe
  after the server rejects a batch.
* ``data`` is the exact JSON text of :func:`core.json_codec.dumps`. ``data_exact`` repeats it
  only when ``jsonb`` would respell a number (negative zero, exponent notation, including the
  codec's ``5E0`` spelling of integral decimals): reading ``coalesce(data_exact::text,
  data::text)`` with :func:`core.json_codec.loads` gives back the exact decimals every time,
  ``data`` alone always gives numerically equal values. The JSON is encoded once per change and
  the same text serves both tables.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from core import json_codec
from core.model import Change
from core.tx_time import parse_tx_time

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

NULL = "\\N"
"""The ``NULL`` marker of the ``COPY`` text format."""

# A JSON "\u0000" escape: a backslash preceded by an even number of backslashes (not escaped).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# A number token jsonb would respell: exponent notation or negative zero. Conservative: a string
# that happens to contain such text only costs a redundant data_exact copy, never a wrong read.
_RESPELLED_NUMBER = re.compile(r"[:\[,]-?[0-9][0-9.]*[eE]|[:\[,]-0(?:\.0*)?[,}\]]")
# Characters the COPY text format needs escaped (plus NUL, which it cannot carry at all).
_COPY_SPECIAL = re.compile(r"[\\\t\n\r\x00]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True, slots=True)
class Unstorable:
    """Why PostgreSQL can never store a change (becomes an ``UnstorableChangeError``)."""

    reason: str


@functools.lru_cache(maxsize=4096)
def _tx_time_field(text: str) -> str:
    parsed = parse_tx_time(text)
    return NULL if parsed is None else parsed.isoformat()


def needs_exact_copy(data_text: str) -> bool:
    """Whether ``jsonb`` would respell a number of ``data_text`` (so ``data_exact`` is kept).

    Conservative: text inside strings that looks like such a number gives ``True`` (a redundant
    copy), never a ``False`` for a respelled number.
    """
    if "E" not in data_text and "e" not in data_text and "-0" not in data_text:
        return False  # no exponent and no negative zero can be present: skip the regex
    return _RESPELLED_NUMBER.search(data_text) is not None


def copy_line(change: Change) -> str | Unstorable:
    """One ``COPY`` text line (no newline) of ``COLUMNS`` for ``change``, or why it is unstorable.

    Lone surrogates are not checked here (see the module docstring and :func:`encode_lines`).
    """
    key = change.key
    block = change.block
    data_hash = change.data_hash
    meta: tuple[str, ...] = (
        key.table,
        key.doc_id,
        change.tx_id,
        change.tx_time,
        block.strand_id,
        change.revision_hash,
        data_hash or "",
    )
    if _COPY_SPECIAL.search("".join(meta)) is not None:
        if "\x00" in "".join(meta):
            return Unstorable(_metadata_problem(change) or "metadata contains a NUL character")
        meta = tuple(field.translate(_COPY_ESCAPES) for field in meta)
    version = change.version
    seq = block.sequence_no
    if not (BIGINT_MIN <= version <= BIGINT_MAX and BIGINT_MIN <= seq <= BIGINT_MAX):
        return Unstorable(_bigint_problem(change) or "number outside bigint")
    data = change.data
    if data is None:
        data_field = exact_field = NULL
    else:
        try:
            text = json_codec.dumps(data)
        except (ValueError, TypeError) as exc:
            return Unstorable(f"document has no JSON form: {exc}")
        if "\\" in text:
            if "\\u0000" in text and _NUL_ESCAPE.search(text):
                return Unstorable(_NUL_IN_DOCUMENT)
            text = text.replace("\\", "\\\\")  # JSON escapes every other COPY special character
        data_field = text
        exact_field = text if needs_exact_copy(text) else NULL
    table, doc_id, tx_id, tx_time, strand, revision_hash, hash_field = meta
    return (
        f"{table}\t{doc_id}\t{version}\t{'t' if change.is_tombstone else 'f'}\t"
        f"{'t' if change.is_redacted else 'f'}\t{data_field}\t{exact_field}\t{tx_id}\t{tx_time}\t"
        f"{_tx_time_field(change.tx_time)}\t{strand}\t{seq}\t{revision_hash}\t"
        f"{NULL if data_hash is None else hash_field}"
    )


def encode_lines(lines: list[str]) -> bytes | list[int]:
    """UTF-8 bytes of ``lines`` joined, or the indexes of the lines that are not valid UTF-8."""
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        return [i for i, line in enumerate(lines) if not _is_utf8(line)]


_NUL_IN_DOCUMENT = "document contains a NUL character (\\u0000), which jsonb cannot store"


def unstorable_reason(change: Change) -> str | None:
    """Every check, field by field: why PostgreSQL can never store ``change``, or ``None``.

    Slower than :func:`copy_line`; used to explain a line :func:`encode_lines` rejected and as
    the reference the fast path is tested against.
    """
    problem = _metadata_problem(change) or _bigint_problem(change)
    if problem is not None or change.data is None:
        return problem
    try:
        text = json_codec.dumps(change.data)
    except (ValueError, TypeError) as exc:
        return f"document has no JSON form: {exc}"
    if _NUL_ESCAPE.search(text):
        return _NUL_IN_DOCUMENT
    return _text_problem("document", text)


def _bigint_problem(change: Change) -> str | None:
    for name, number in (("version", change.version), ("block sequence", change.block.sequence_no)):
        if not BIGINT_MIN <= number <= BIGINT_MAX:
            return f"{name} {number} does not fit a PostgreSQL bigint"
    return None


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
        change.data_hash,
    )
    names = ("ledger table name", "document id", "txId", "txTime", "block strand id")
    for name, value in zip((*names, "revision hash", "data hash"), fields, strict=True):
        problem = _text_problem(name, value)
        if problem is not None:
            return problem
    return None
