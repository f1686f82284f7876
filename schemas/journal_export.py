"""QLDB ``ExportJournalToS3`` output: manifests, data-object keys and block streams.

Layout (qldb-formats.md §3): ``<prefix><exportId>.started.manifest``, one
``<prefix><exportId>.<strandId>.completed.manifest`` per strand holding ``{keys: [...]}`` (the
ordered list of data-object keys), and data objects whose file name is
``<strandId>.<firstSequenceNo>-<lastSequenceNo>.<ext>`` holding the blocks of that inclusive
range, one top-level value per block (Ion binary, Ion text, or JSON Lines).

Pure: callers open the bytes; this module only parses them. Block iteration is lazy, so memory
is bounded by the largest block, not by the object size.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from core import json_codec
from core.errors import DecodeError, InvalidRecordError
from schemas import ion_values
from schemas.journal import JournalBlock, parse_block

COMPLETED_MANIFEST = re.compile(
    r"(?:^|/)(?P<export_id>[^./]+)\.(?P<strand>[^./]+)\.completed\.manifest$"
)
STARTED_MANIFEST = re.compile(r"(?:^|/)(?P<export_id>[^./]+)\.started\.manifest$")
UTF8_BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark; some tools write one at the start of JSON files. It is skipped."""
OBJECT_NAME = re.compile(
    r"(?:^|/)(?P<strand>[A-Za-z0-9]+)\.(?P<first>\d+)-(?P<last>\d+)\.[A-Za-z0-9]+$"
)


class ExportFormat(enum.Enum):
    """``OutputFormat`` of an export."""

    ION_BINARY = "ion_binary"
    ION_TEXT = "ion_text"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class ObjectRange:
    """The inclusive block range a data object's name promises."""

    strand_id: str
    first: int
    last: int


def parse_object_key(key: str) -> ObjectRange:
    """Read ``<strandId>.<first>-<last>.<ext>`` from the end of a data-object key."""
    match = OBJECT_NAME.search(key)
    if match is None:
        msg = f"data object key {key!r} does not end in <strandId>.<first>-<last>.<ext>"
        raise InvalidRecordError(msg)
    first, last = int(match["first"]), int(match["last"])
    if last < first:
        msg = f"data object key {key!r} has an empty block range {first}-{last}"
        raise InvalidRecordError(msg)
    return ObjectRange(match["strand"], first, last)


def parse_completed_manifest(data: bytes) -> list[str]:
    """Return the ordered ``keys`` of a completed manifest (Ion text, Ion binary or JSON)."""
    value = ion_values.loads(data)
    keys = value.get("keys") if hasattr(value, "get") else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        msg = "completed manifest has no list of string 'keys'"
        raise InvalidRecordError(msg)
    return [str(k) for k in keys]


def parse_started_manifest(data: bytes) -> dict[str, Any]:
    """Return the started manifest's fields as plain values (``outputFormat`` may be absent)."""
    value = ion_values.loads(data)
    if not hasattr(value, "items"):
        msg = "started manifest is not a struct"
        raise InvalidRecordError(msg)
    return {str(k): ion_values.to_plain(v) for k, v in value.items()}


def detect_format(head: bytes) -> ExportFormat:
    """Guess an object's format from its first bytes (ideally at least its first line).

    Ion binary starts with the version marker. A first line that parses as a JSON object means
    JSON Lines. When the head holds no complete line (a very large first block), a quoted first
    field name (``{"``) means JSON: QLDB's Ion text writes field names as bare symbols. A UTF-8
    byte order mark before the first value is ignored.
    """
    if head.startswith(ion_values.ION_BINARY_MARKER):
        return ExportFormat.ION_BINARY
    text = head.removeprefix(UTF8_BOM).lstrip()
    if not text.startswith(b"{"):
        return ExportFormat.ION_TEXT
    line, newline, _rest = text.partition(b"\n")
    if not newline:
        return ExportFormat.JSON if text[1:].lstrip().startswith(b'"') else ExportFormat.ION_TEXT
    try:
        json.loads(line)
    except RecursionError:
        return ExportFormat.JSON  # parses as JSON as far as Python can nest; reading says more
    except ValueError:
        return ExportFormat.ION_TEXT
    return ExportFormat.JSON


def iter_blocks(
    stream: IO[bytes], fmt: ExportFormat, *, exact: bool = True, check_binary: bool = True
) -> Iterator[JournalBlock]:
    """Yield the typed blocks of one data object, lazily, in order.

    Raises DecodeError for bytes that are not the declared format (including a truncated last
    block) and InvalidRecordError for a value that is not a well-formed journal block.
    ``exact=False`` decodes Ion faster but the raw values can no longer be hash-verified.
    ``check_binary`` as in :func:`schemas.ion_values.iter_values`.
    """
    if fmt is ExportFormat.JSON:
        for number, line in enumerate(stream, start=1):
            text = line[len(UTF8_BOM) :] if number == 1 and line.startswith(UTF8_BOM) else line
            if not text.strip():
                continue
            try:
                value = json_codec.loads(text)
            except ValueError as exc:
                msg = f"line {number} is not valid JSON: {exc}"
                raise DecodeError(msg) from exc
            except RecursionError as exc:
                msg = f"line {number} nests JSON too deeply to read"
                raise DecodeError(msg) from exc
            yield parse_block(value, text)
        return
    for value in ion_values.iter_values(stream, exact=exact, check_binary=check_binary):
        yield parse_block(value)
