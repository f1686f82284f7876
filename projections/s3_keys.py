"""Object keys of the S3 projection: unambiguous, always under the prefix, within S3's limit.

Pure (no I/O). Layout::

    <prefix>/<table>/current/<docId>.json
    <prefix>/<table>/revisions/<docId>/<version, zero-padded to 20 digits>.json
    <prefix>/_checkpoints/<exportId>/<urlsafe base64 of the data-object key>
    <prefix>/_field_types/<table part>/<field part>/<Ion kind>

Encoding of a name (table name, document id, export id) as one key segment:

* Every character outside ``A-Z a-z 0-9 - _ . ~`` is percent-encoded as its UTF-8 bytes
  (``quote(name, safe="")``), so ``/`` can never add a level and ``%`` is ``%25``.
* A name made only of dots (``.``, ``..``, ...) has every dot encoded (``%2E%2E``): no key ever
  holds a ``.`` or ``..`` segment that a tool could resolve to a parent folder.
* A table name starting with ``_`` has that ``_`` encoded (``%5F``): names starting with ``_``
  belong to the projection's own records (``_checkpoints``, ``_field_types``).

A *part* of a field-types key names a ledger table or a field: ``=`` followed by the name's
percent-encoding (``quote(name, safe="")``: never empty, never dots only, never a ``/``), or,
when the key would be longer than S3 allows, ``#`` and 32 hex digits of the name's SHA-256
(the object's body then names the table and field: :func:`field_type_body`).

``quote`` never writes ``%2E`` or ``%5F`` itself (both characters are unreserved), so the
encoding is injective and :func:`parse_object_key` inverts it. An empty name has no segment and
a key longer than S3's 1024 UTF-8 bytes cannot be written: both are
:class:`~core.errors.UnstorableChangeError` (poison), as is a name holding a lone UTF-16
surrogate (not valid UTF-8).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from urllib.parse import quote, unquote

from core.errors import ConfigError, UnstorableChangeError
from core.model import DocKey

MAX_KEY_BYTES = 1024
"""S3's longest object key, in UTF-8 bytes."""

CHECKPOINT_DIR = "_checkpoints"
"""Folder of the replay checkpoints under the prefix; no table name encodes to it."""

FIELD_TYPES_DIR = "_field_types"
"""Folder of the Ion kinds seen per (ledger table, field) under the prefix (README "Typed
views"); no table name encodes to it."""

VERSION_DIGITS = 20
"""Revision file names are the version zero-padded to this many digits (a 64-bit version)."""


def segment(name: str, what: str = "name") -> str:
    """``name`` as one key segment (see the module docstring).

    Raises:
        UnstorableChangeError: ``name`` is empty or holds a lone UTF-16 surrogate.
    """
    if not name:
        msg = f"the {what} is empty, so it has no S3 key"
        raise UnstorableChangeError(msg)
    try:
        encoded = quote(name, safe="")
    except UnicodeEncodeError as exc:
        msg = f"{what} {name!r} contains a lone UTF-16 surrogate, which is not valid UTF-8"
        raise UnstorableChangeError(msg) from exc
    if encoded.strip(".") == "":
        return "%2E" * len(encoded)
    return encoded


def table_segment(table: str) -> str:
    """The key segment of a ledger table name; a leading ``_`` is encoded as ``%5F``.

    Raises:
        UnstorableChangeError: see :func:`segment`.
    """
    encoded = segment(table, "table name")
    return "%5F" + encoded[1:] if encoded.startswith("_") else encoded


def _join(prefix: str, *parts: str) -> str:
    key = "/".join((prefix, *parts)) if prefix else "/".join(parts)
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        msg = f"S3 key {key[:80]}... is {size} bytes, longer than S3's {MAX_KEY_BYTES}"
        raise UnstorableChangeError(msg)
    return key


def current_key(prefix: str, key: DocKey) -> str:
    """Key of a document's current state.

    Raises:
        UnstorableChangeError: an empty or non-UTF-8 name, or a key over 1024 bytes.
    """
    doc = segment(key.doc_id, "document id")
    return _join(prefix, table_segment(key.table), "current", f"{doc}.json")


def revision_key(prefix: str, key: DocKey, version: int) -> str:
    """Key of one revision.

    Raises:
        UnstorableChangeError: an empty or non-UTF-8 name, or a key over 1024 bytes.
    """
    doc = segment(key.doc_id, "document id")
    name = f"{version:0{VERSION_DIGITS}d}.json"
    return _join(prefix, table_segment(key.table), "revisions", doc, name)


def checkpoint_prefix(prefix: str, export_id: str) -> str:
    """Key prefix (ending in ``/``) of the checkpoints of ``export_id``.

    Raises:
        UnstorableChangeError: ``export_id`` is empty or not valid UTF-8.
    """
    return _join(prefix, CHECKPOINT_DIR, segment(export_id, "export id")) + "/"


def checkpoint_name(object_key: str) -> str:
    """The file name of data object ``object_key``'s checkpoint (URL-safe base64, unpadded)."""
    return base64.urlsafe_b64encode(object_key.encode("utf-8")).decode("ascii").rstrip("=")


def object_key_of(checkpoint: str) -> str:
    """The data-object key that :func:`checkpoint_name` encoded as ``checkpoint``."""
    return base64.urlsafe_b64decode(checkpoint + "=" * (-len(checkpoint) % 4)).decode("utf-8")


def field_types_prefix(prefix: str) -> str:
    """Key prefix (ending in ``/``) of every field-types record."""
    return _join(prefix, FIELD_TYPES_DIR) + "/"


def _name_part(name: str, what: str) -> str:
    try:
        return "=" + quote(name, safe="")
    except UnicodeEncodeError as exc:
        msg = f"{what} {name!r} contains a lone UTF-16 surrogate, which is not valid UTF-8"
        raise UnstorableChangeError(msg) from exc


def _hashed_part(name: str) -> str:
    return "#" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def field_type_key(prefix: str, table: str, field: str, kind: str) -> str:
    """Key of the record that ``field`` of ``table`` was seen holding Ion ``kind``.

    The field part, then also the table part, is hashed when the key would be too long
    (see the module docstring): every name gets a key, at most ~620 bytes with both hashed.

    Raises:
        UnstorableChangeError: a name holds a lone UTF-16 surrogate.
    """
    table_part = _name_part(table, "table name")
    field_part = _name_part(field, "field name")
    for parts in (
        (table_part, field_part),
        (table_part, _hashed_part(field)),
        (_hashed_part(table), _hashed_part(field)),
    ):
        key = field_types_prefix(prefix) + "/".join((*parts, kind))
        if len(key.encode("utf-8")) <= MAX_KEY_BYTES:
            return key
    msg = f"field types key of {table!r}.{field[:40]!r} does not fit S3's {MAX_KEY_BYTES} bytes"
    raise UnstorableChangeError(msg)


def field_type_body(table: str, field: str, kind: str) -> bytes:
    """The body of a field-types record: the names in full (a key may hold only hashes)."""
    return json.dumps(
        {"ledgerTable": table, "field": field, "ionKind": kind}, ensure_ascii=True
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class FieldTypeKey:
    """A parsed field-types key; ``table`` / ``field`` are ``None`` when hashed (read the
    body with :func:`parse_field_type_body`)."""

    table: str | None
    field: str | None
    kind: str


def parse_field_type_key(key: str, prefix: str = "") -> FieldTypeKey | None:
    """Split a key built by :func:`field_type_key`; ``None`` for any other key."""
    root = field_types_prefix(prefix.strip("/"))
    if not key.startswith(root):
        return None
    parts = key[len(root) :].split("/")
    if len(parts) != 3 or not parts[2] or any(not p or p[0] not in "=#" for p in parts[:2]):
        return None
    table, field = (unquote(p[1:]) if p[0] == "=" else None for p in parts[:2])
    return FieldTypeKey(table, field, parts[2])


def parse_field_type_body(body: bytes) -> tuple[str, str, str]:
    """(table, field, kind) of a field-types record's body.

    Raises:
        ValueError: not a body written by :func:`field_type_body`.
    """
    value = json.loads(body)
    if not isinstance(value, dict):
        msg = "not a JSON object"
        raise ValueError(msg)
    names = (value.get("ledgerTable"), value.get("field"), value.get("ionKind"))
    if not all(isinstance(n, str) for n in names):
        msg = "ledgerTable, field and ionKind must be strings"
        raise ValueError(msg)
    table, field, kind = names
    return str(table), str(field), str(kind)


def invalid_prefix_reason(prefix: str) -> str | None:
    """Why ``prefix`` (without leading/trailing ``/``) cannot hold the layout, or ``None``."""
    if not prefix:
        return None
    bad = [part for part in prefix.split("/") if part in ("", ".", "..")]
    if bad:
        return f"S3 prefix {prefix!r} has an empty, '.' or '..' segment"
    try:
        size = len(prefix.encode("utf-8"))
    except UnicodeEncodeError:
        return f"S3 prefix {prefix!r} is not valid UTF-8"
    if size > MAX_KEY_BYTES // 2:
        limit = MAX_KEY_BYTES // 2
        return f"S3 prefix {prefix[:40]!r}... is {size} bytes; at most {limit} leave keys room"
    return None


def parse_object_key(key: str, prefix: str = "") -> tuple[str, DocKey, int | None] | None:
    """Split a projection object key into (``"current"``/``"revisions"``, key, version).

    Returns ``None`` for keys outside the layout (checkpoints, foreign objects).
    """
    prefix = prefix.strip("/")
    if prefix:
        if not key.startswith(prefix + "/"):
            return None
        key = key[len(prefix) + 1 :]
    parts = key.split("/")
    if parts[0] in (CHECKPOINT_DIR, FIELD_TYPES_DIR):
        return None
    if len(parts) == 3 and parts[1] == "current" and parts[2].endswith(".json"):
        return "current", DocKey(unquote(parts[0]), unquote(parts[2][: -len(".json")])), None
    if len(parts) == 4 and parts[1] == "revisions" and parts[3].endswith(".json"):
        version = int(parts[3][: -len(".json")])
        return "revisions", DocKey(unquote(parts[0]), unquote(parts[2])), version
    return None


def checked_prefix(prefix: str) -> str:
    """``prefix`` without surrounding ``/``.

    Raises:
        ConfigError: see :func:`invalid_prefix_reason`.
    """
    stripped = prefix.strip("/")
    reason = invalid_prefix_reason(stripped)
    if reason is not None:
        raise ConfigError(reason)
    return stripped
