"""A small two-object export for replay tests, its expected state and the SQLite rows it gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from changes.from_qldb import block_changes
from projections.memory import MemoryProjection
from schemas.journal import parse_block
from tests.support.export_builder import Rev, block, person
from tests.support.projection_harness import current_row, history_row

A, B, C = "A" * 22, "B" * 22, "C" * 22

DocumentRow = tuple[int, bool, bool, Any, str, str, str]
"""version, deleted, redacted, data, tx_id, tx_time, revision_hash"""
RevisionRow = tuple[bool, bool, Any]
"""deleted, redacted, data"""
SqliteRows = tuple[dict[tuple[str, str], DocumentRow], dict[tuple[str, str, int], RevisionRow]]
"""The documents and revisions of a SQLite projection, keyed by (table, id[, version])."""


def sample_objects() -> list[list[dict[str, object]]]:
    return [
        [
            block(0, [], system=2),
            block(1, [Rev("Person", A, 0, person(1, 0)), Rev("Vehicle", B, 0, {"vin": "V1"})]),
            block(2, [Rev("Person", A, 1, person(1, 1))], system=1),
        ],
        [
            block(3, [Rev("Vehicle", B, 1)]),
            block(4, [Rev("Person", C, 0, person(3, 0))]),
            block(5, [Rev("Person", A, 1, redacted=True), Rev("Person", C, 1, person(3, 1))]),
        ],
    ]


def expected(objects: list[list[dict[str, object]]]) -> MemoryProjection:
    reference = MemoryProjection()
    for blocks in objects:
        for value in blocks:
            reference.apply(block_changes(parse_block(value)).changes)
    return reference


def read_db(
    path: Path,
) -> SqliteRows:
    from core import json_codec

    db = sqlite3.connect(path)
    docs = {
        (t, d): (v, bool(de), bool(r), None if j is None else json_codec.loads(j), tx, tt, h)
        for t, d, v, de, r, j, tx, tt, h in db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time,"
            " revision_hash FROM documents"
        )
    }
    revs = {
        (t, d, v): (bool(de), bool(r), None if j is None else json_codec.loads(j))
        for t, d, v, de, r, j in db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data FROM revisions"
        )
    }
    db.close()
    return docs, revs


def as_rows(
    ref: MemoryProjection,
) -> SqliteRows:
    docs: dict[tuple[str, str], DocumentRow] = {}
    for key, change in ref.documents.items():
        r = current_row(change)
        docs[(key.table, key.doc_id)] = (
            r.version,
            r.deleted,
            r.redacted,
            r.data,
            r.tx_id,
            r.tx_time,
            r.revision_hash,
        )
    revs: dict[tuple[str, str, int], RevisionRow] = {}
    for (key, version), change in ref.revisions.items():
        hr = history_row(change)
        revs[(key.table, key.doc_id, version)] = (hr.deleted, hr.redacted, hr.data)
    return docs, revs
