"""Read the blocks of one export data object with the checks every reader needs.

Guarantees: blocks come out in order and are exactly the range the object's name promises
(``<strand>.<first>-<last>.<ext>``), contiguous, on the promised strand; a missing, extra,
out-of-order or truncated block raises :class:`ObjectContentError` naming the object. Decoding
problems (corrupt Ion, bad JSON, malformed blocks) are re-raised with the object key and the
last good block in the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from core.errors import InvalidRecordError, PoisonError
from exports.plan import ExportObject
from exports.store import ExportStore
from runtime import decode_watch
from schemas.journal import JournalBlock
from schemas.journal_export import ExportFormat, detect_format, iter_blocks


class ObjectContentError(InvalidRecordError):
    """A data object whose content does not match its name or cannot be decoded."""


def iter_object_blocks(
    store: ExportStore, obj: ExportObject, fmt: ExportFormat | None = None, *, exact: bool = True
) -> Iterator[tuple[JournalBlock, ExportFormat]]:
    """Yield ``(block, format)`` for every block of ``obj``; see the module docstring.

    ``exact`` keeps the decoded values hashable for verification (slower); see
    ``schemas.ion_values.loads``.
    """
    expected = obj.range.first
    with store.open(obj.key) as stream:
        peek = getattr(stream, "peek", None)
        actual = fmt or detect_format(peek(1 << 20) if peek is not None else b"")
        watch = decode_watch.current()
        blocks = iter_blocks(stream, actual, exact=exact, check_binary=decode_watch.check_wanted())
        try:
            for block in _watched(blocks, watch):
                address = block.address
                if address.sequence_no != expected or address.strand_id != obj.range.strand_id:
                    msg = (
                        f"object {obj.key}: expected block {obj.range.strand_id}/{expected}, "
                        f"found {address.strand_id}/{address.sequence_no}"
                    )
                    raise ObjectContentError(msg)
                expected += 1
                yield block, actual
        except ObjectContentError:
            raise
        except PoisonError as exc:
            msg = f"object {obj.key} (after block {expected - 1}): {exc}"
            raise ObjectContentError(msg) from exc
    if expected != obj.range.last + 1:
        msg = (
            f"object {obj.key} ends at block {expected - 1} but its name promises blocks up to "
            f"{obj.range.last}: the object is truncated"
        )
        raise ObjectContentError(msg)


_T = TypeVar("_T")


def _watched(items: Iterator[_T], watch: decode_watch.DecodeWatch | None) -> Iterator[_T]:
    """``items``, each ``next`` marked in ``watch`` (it is the C reader's turn then)."""
    if watch is None:
        yield from items
        return
    while True:
        watch.begin()
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            watch.end()
        yield item
