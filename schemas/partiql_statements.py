"""Recognise the table DDL of QLDB PartiQL statements (``transactionInfo.statements[].statement``).

Recognised (keywords case-insensitive, comments ``-- ...`` and ``/* ... */`` skipped, several
statements in one text separated by ``;``):

* ``CREATE TABLE name [WITH (...)]`` -> :attr:`TableDdlKind.CREATED` with the table name;
* ``DROP TABLE name`` -> :attr:`TableDdlKind.DROPPED` with the table name;
* ``UNDROP TABLE "tableId"`` -> :attr:`TableDdlKind.UNDROPPED` with the table id (QLDB writes
  the id as a double-quoted identifier; a single-quoted string or a bare word is accepted too).

A name is a bare identifier, a double-quoted identifier (``""`` escapes a quote) or a
backtick-quoted word; names are case-sensitive, as in QLDB. Every other statement (``SELECT``,
``INSERT``, ``CREATE INDEX``...) is ignored.

Guarantees: pure, never raises on any input, and bounded: a text longer than
:data:`MAX_STATEMENT_CHARS` is not read at all and at most :data:`MAX_PARTS` ``;``-separated
parts are looked at. A text that starts like table DDL but does not parse (no name, an
unterminated quote, a name longer than :data:`MAX_NAME_CHARS`) is *unparsed*: reported so the
caller can count it, never an error.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

MAX_STATEMENT_CHARS = 100_000
"""Longer statement texts are reported unparsed without being scanned."""
MAX_PARTS = 100
"""``;``-separated statements looked at in one text."""
MAX_NAME_CHARS = 256
"""Longest table name or id accepted (QLDB allows 128 characters)."""

_MAYBE_DDL = re.compile(r"table", re.IGNORECASE)
# Comments and whitespace, then an optional ';'. One pattern, so skipping is linear.
_GAP = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOUBLE = re.compile(r'"((?:[^"]|"")*)"')
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_BACKTICK = re.compile(r"`([^`]*)`")
_KEYWORDS = {"create": "created", "drop": "dropped", "undrop": "undropped"}


class TableDdlKind(enum.Enum):
    """What a statement did to a table."""

    CREATED = "created"
    DROPPED = "dropped"
    UNDROPPED = "undropped"


@dataclass(frozen=True, slots=True)
class TableDdl:
    """One recognised table statement: ``name`` is the table name (CREATE, DROP) or the table id
    (UNDROP)."""

    kind: TableDdlKind
    name: str


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """What one statement text held: the table DDL found, in order, and whether some part looked
    like table DDL but did not parse."""

    ddl: tuple[TableDdl, ...] = ()
    unparsed: bool = False


NOTHING = ParsedStatement()


def parse_statement(text: object) -> ParsedStatement:
    """The table DDL in ``text``; never raises (a non-string is unparsed, see the module)."""
    if not isinstance(text, str):
        return ParsedStatement(unparsed=True)
    # The hot path (INSERT, UPDATE, SELECT...): no "b" means no "table" in any case.
    if ("b" not in text and "B" not in text) or _MAYBE_DDL.search(text) is None:
        return NOTHING
    if len(text) > MAX_STATEMENT_CHARS:
        return ParsedStatement(unparsed=True)
    found: list[TableDdl] = []
    unparsed = False
    pos = 0
    for _ in range(MAX_PARTS):
        pos = _GAP.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
        if pos >= len(text):
            break
        ddl, pos, bad = _one_statement(text, pos)
        if ddl is not None:
            found.append(ddl)
        unparsed = unparsed or bad
        pos = _skip_to_next(text, pos)
    return ParsedStatement(tuple(found), unparsed)


def _one_statement(text: str, pos: int) -> tuple[TableDdl | None, int, bool]:
    """Parse one statement at ``pos``: (ddl or None, position after it, unparsed)."""
    verb = _WORD.match(text, pos)
    if verb is None:
        return None, pos, False
    kind = _KEYWORDS.get(verb.group().lower())
    if kind is None:
        return None, verb.end(), False
    pos = _GAP.match(text, verb.end()).end()  # type: ignore[union-attr]
    table = _WORD.match(text, pos)
    if table is None or table.group().lower() != "table":
        return None, pos, False  # CREATE INDEX, DROP INDEX...
    pos = _GAP.match(text, table.end()).end()  # type: ignore[union-attr]
    name, end = _name(text, pos)
    if name is None or name == "" or len(name) > MAX_NAME_CHARS:
        return None, pos, True
    return TableDdl(TableDdlKind(kind), name), end, False


def _name(text: str, pos: int) -> tuple[str | None, int]:
    """A bare, double-quoted, single-quoted or backtick-quoted name at ``pos``."""
    if pos >= len(text):
        return None, pos
    first = text[pos]
    if first == '"':
        m = _DOUBLE.match(text, pos)
        return (m.group(1).replace('""', '"'), m.end()) if m else (None, pos)
    if first == "'":
        m = _SINGLE.match(text, pos)
        return (m.group(1).replace("''", "'"), m.end()) if m else (None, pos)
    if first == "`":
        m = _BACKTICK.match(text, pos)
        return (m.group(1).strip(), m.end()) if m else (None, pos)
    m = _WORD.match(text, pos)
    return (m.group(), m.end()) if m else (None, pos)


def _skip_to_next(text: str, pos: int) -> int:
    """The position after the next ``;`` outside quotes and comments (or the end)."""
    length = len(text)
    while pos < length:  # every step advances pos: bounded by the text length
        ch = text[pos]
        if ch == ";":
            return pos + 1
        if ch in "\"'`":
            close = text.find(ch, pos + 1)
            pos = length if close < 0 else close + 1
        elif text.startswith("--", pos):
            close = text.find("\n", pos)
            pos = length if close < 0 else close + 1
        elif text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            pos = length if close < 0 else close + 2
        else:
            pos += 1
    return length
