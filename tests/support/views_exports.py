"""Exports for the typed-view tests: documents of every Ion type, mixed types, names that need
quoting, a ledger table named like a projection table, and a large document."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from amazon.ion.core import Timestamp, TimestampPrecision
from amazon.ion.symbols import SymbolToken

from tests.support import export_builder as eb

LARGE_FIELDS = 1200
"""Fields of the large document: more than a view takes (``view_plan.MAX_VIEW_COLUMNS``)."""
LARGE_TEXT = 3 * 1024 * 1024
"""Characters of the large document's big text field."""


def every_type(i: int) -> dict[str, Any]:
    """A document with every Ion type as a top-level field, and awkward field names."""
    return {
        "name": f"p{i}",
        "sym": SymbolToken(f"s{i}", None),
        "count": i,
        "huge": 2**70 + i,
        "amount": Decimal("1.50"),
        "ratio": 0.25,
        "ok": i % 2 == 0,
        "at": Timestamp(2021, 2, 9, 2, 16, 6, 240000, None, TimestampPrecision.SECOND, 3),
        "day": Timestamp(2021, 2, 9, precision=TimestampPrecision.DAY),
        "photo": b"\x00\x01\xff",
        "address": {"city": "Tacoma", "zip": "98402"},
        "tags": ["a", "b"],
        'odd "name"': "quoted",
        "dot.$[0]": "path",
        "é ü": "unicode",
        "Version": "a field named like a metadata column",
    }


def large_document() -> dict[str, Any]:
    """A document with :data:`LARGE_FIELDS` fields, one of them :data:`LARGE_TEXT` long."""
    fields: dict[str, Any] = {f"f{n:04d}": n for n in range(LARGE_FIELDS)}
    fields["f0000"] = "x" * LARGE_TEXT
    return fields


def write_views_export(root: Path, *, large: bool = False) -> Path:
    """The export of the typed-view tests under ``root`` (with the large document if asked)."""
    blocks = [
        eb.block(1, [eb.Rev("Person", "d1", 0, every_type(1))]),
        eb.block(2, [eb.Rev("Person", "d2", 0, every_type(2))]),
        eb.block(3, [eb.Rev("Person", "d1", 1, {**every_type(1), "count": 10})]),
        eb.block(4, [eb.Rev("Person", "d2", 1)]),  # deleted: not in the current view
        eb.block(5, [eb.Rev("Mixed", "m1", 0, {"v": 1, "w": "x"})]),
        eb.block(6, [eb.Rev("Mixed", "m2", 0, {"v": "one", "w": "y"})]),
        eb.block(7, [eb.Rev("documents", "x1", 0, {"v": 1})]),
    ]
    if large:
        blocks.append(eb.block(8, [eb.Rev("Large", "g1", 0, large_document())]))
    eb.write_export(root, [blocks])
    return root
