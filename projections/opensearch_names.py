"""Index names of the OpenSearch projection: valid for any table name, and collision-free.

Pure (no I/O). OpenSearch index names must be lowercase, must not contain
``\\ / * ? " < > | , #``, ``:`` or spaces, must not start with ``_``, ``-`` or ``+``, must not be
``.`` or ``..``, and are at most 255 bytes. QLDB table names are case-sensitive, so lowercasing
them (``Person`` and ``person`` -> one index) or passing them through (``a,b``, ``x\\ny``, a
304-character name) is wrong. Instead the index of table ``T`` is ``<prefix>-<suffix(T)>``:

* ``a``-``z``, ``0``-``9`` and ``_`` stay as they are;
* an uppercase ``A``-``Z`` becomes ``.`` plus the lowercase letter (``Person`` -> ``.person``);
* every other character becomes ``~<hex code point>~`` (``-`` -> ``~2d~``, ``,`` -> ``~2c~``,
  ``.`` -> ``~2e~``, ``~`` -> ``~7e~``, newline -> ``~a~``);
* when ``<prefix>-<suffix>`` would be longer than 255 bytes, the suffix is cut and ends in ``-``
  plus the SHA-256 (hex) of the table name's UTF-8 bytes, so the name is exactly 255 bytes.

The mapping is injective: an uncut suffix decodes back to its table name (``.`` is always
followed by a letter, ``~`` always delimits hex digits) and never contains ``-``; a cut one
always ends in ``-`` and the hash of the whole name. The replay checkpoints live in
``<prefix>~checkpoints``, outside the ``<prefix>-*`` pattern of the table indices (so an index
pattern for dashboards never shows them) and a name no table maps to; releases before used
``<prefix>-~checkpoints`` (:func:`legacy_checkpoint_index`), still read. The original table name
is kept in each document (``qldb.ledgerTable``).

Prefixes are validated up front (:func:`invalid_prefix_reason`): 1-128 bytes of ``a-z 0-9 . _
+ ~ -``, starting with a letter or digit.
"""

from __future__ import annotations

import hashlib
import re

MAX_INDEX_BYTES = 255
"""OpenSearch's longest index name, in bytes."""

MAX_PREFIX_BYTES = 128
"""Longest accepted prefix: leaves at least 126 bytes for the table part."""

CHECKPOINT_SUFFIX = "~checkpoints"
"""``<prefix>~checkpoints`` holds the replay checkpoints, outside ``<prefix>-*``."""

_HASH_HEX = 64
_PREFIX = re.compile(r"[a-z0-9][a-z0-9._+~-]*")
_KEPT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def table_suffix(table: str) -> str:
    """The escaped form of ``table`` before any length cut (see the module docstring)."""
    out: list[str] = []
    for char in table:
        if char in _KEPT:
            out.append(char)
        elif "A" <= char <= "Z":
            out.append("." + char.lower())
        else:
            out.append(f"~{ord(char):x}~")
    return "".join(out)


def index_name(prefix: str, table: str) -> str:
    """Index of ledger ``table``: ``<prefix>-<escaped table>``, at most 255 bytes."""
    name = f"{prefix}-{table_suffix(table)}"
    if len(name.encode("utf-8")) <= MAX_INDEX_BYTES:
        return name
    digest = hashlib.sha256(table.encode("utf-8", "surrogatepass")).hexdigest()
    keep = max(0, MAX_INDEX_BYTES - len(prefix.encode("utf-8")) - 1 - 1 - _HASH_HEX)
    return f"{prefix}-{table_suffix(table)[:keep]}-{digest}"


def checkpoint_index(prefix: str) -> str:
    """Index that stores replay checkpoints for ``prefix``: ``<prefix>~checkpoints`` (not
    matched by ``<prefix>-*``)."""
    return f"{prefix}{CHECKPOINT_SUFFIX}"


def legacy_checkpoint_index(prefix: str) -> str:
    """Where releases before this one kept the checkpoints: ``<prefix>-~checkpoints`` (inside
    ``<prefix>-*``; read, never written)."""
    return f"{prefix}-{CHECKPOINT_SUFFIX}"


def invalid_prefix_reason(prefix: str) -> str | None:
    """Why ``prefix`` cannot start the projection's index names, or ``None`` when it can.

    The message is one line (the prefix is shown with ``repr``).
    """
    if not prefix:
        return "the index prefix is empty (use opensearch+https://host/<index-prefix>)"
    if _PREFIX.fullmatch(prefix) is None:
        return (
            f"index prefix {prefix!r} must be lowercase letters, digits and . _ + ~ - only, "
            f"starting with a letter or digit"
        )
    if len(prefix) > MAX_PREFIX_BYTES:
        return f"index prefix {prefix[:40]!r}... is longer than {MAX_PREFIX_BYTES} bytes"
    return None
