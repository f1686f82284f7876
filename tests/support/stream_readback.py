"""What a stream consumer's SQLite projection must hold, and what it holds: the changes of
Kinesis payloads and the ``documents`` table read back (the Lambda, redrive and KCL tests)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from changes.from_qldb import stream_change
from core import json_codec
from core.errors import PoisonError
from core.model import Change, DocKey
from schemas.kinesis import StreamRecord
from schemas.kpl import iter_user_records
from schemas.qldb_stream import RevisionDetailsRecord, decode_stream_record
from tests.support.projection_harness import CurrentRow


def payload_changes(payloads: Sequence[bytes]) -> list[Change]:
    """Every change in ``payloads`` (outer Kinesis record data, KPL de-aggregated), poison
    skipped: what a correct consumer must apply."""
    out = []
    for index, data in enumerate(payloads):
        try:
            users = list(iter_user_records(StreamRecord(data, "pk", str(index))))
        except PoisonError:
            continue
        for user in users:
            try:
                decoded = decode_stream_record(user.data)
            except PoisonError:
                continue
            if isinstance(decoded, RevisionDetailsRecord):
                out.append(stream_change(decoded))
    return out


def read_documents(db: Path) -> dict[DocKey, CurrentRow]:
    """The ``documents`` table of a SQLite projection ({} before it exists)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time,"
            " revision_hash FROM documents"
        ).fetchall()
    return {
        DocKey(table, doc): CurrentRow(
            version=version,
            deleted=bool(deleted),
            redacted=bool(redacted),
            data=None if data is None else json_codec.loads(data),
            tx_id=tx_id,
            tx_time=tx_time,
            revision_hash=revision_hash,
        )
        for table, doc, version, deleted, redacted, data, tx_id, tx_time, revision_hash in rows
    }
