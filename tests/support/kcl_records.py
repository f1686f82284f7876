"""QLDB stream records for the KCL processor's tests, and the projection state they must give.

Shared by the fake-daemon tests (tests/functional/test_kcl_processor.py) and the real-daemon
tests (tests/kcl_daemon/): :func:`ion_revision` builds an Ion binary ``REVISION_DETAILS`` user
record, :func:`expected_documents` folds user records into the current state in-order application
gives (poison skipped); ``tests.support.stream_readback.read_documents`` reads a SQLite
projection back in the same shape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from amazon.ion import simpleion

from changes.from_qldb import stream_change
from core.errors import PoisonError
from core.model import DocKey
from schemas.qldb_stream import RevisionDetailsRecord, decode_stream_record
from tests.support.projection_harness import CurrentRow, expected_state

ARN = "arn:aws:qldb:eu-west-1:123456789012:stream/ledger/7ISCkqwe6fBNPrHmx5nt4u"
STRAND = "JUJgrQeIeI64ZgvXIuqlZ1"
KCL_TABLE_ID = "5PLf9SXwndd63lPaSIa0O6"


def ion_revision(
    doc_id: str, version: int, *, table: str = "Person", kind: str = "data", seq_no: int = 10
) -> bytes:
    """An Ion binary REVISION_DETAILS user record (qldb-formats.md section 1.4)."""
    revision: dict[str, Any] = {
        "blockAddress": {"strandId": STRAND, "sequenceNo": seq_no},
        "hash": hashlib.sha256(f"{table}/{doc_id}/{version}".encode()).digest(),
        "metadata": {
            "id": doc_id,
            "version": version,
            "txTime": dt.datetime(2024, 5, 1, 12, 0, version, tzinfo=dt.UTC),
            "txId": f"tx{doc_id}{version}",
        },
    }
    if kind == "data":
        revision["data"] = {"name": f"{doc_id} v{version}", "n": version, "tags": ["a", "b"]}
    elif kind == "redact":
        revision["dataHash"] = hashlib.sha256(f"data/{doc_id}/{version}".encode()).digest()
    value = {
        "qldbStreamArn": ARN,
        "recordType": "REVISION_DETAILS",
        "payload": {
            "tableInfo": {"tableName": table, "tableId": KCL_TABLE_ID},
            "revision": revision,
        },
    }
    data: bytes = simpleion.dumps(value, binary=True)
    return data


def expected_documents(user_records: Iterable[bytes]) -> dict[DocKey, CurrentRow]:
    """Reference current state of every decodable revision among ``user_records`` (the Ion
    binary of de-aggregated Kinesis user records), whatever their order and duplicates."""
    changes = []
    for data in user_records:
        try:
            decoded = decode_stream_record(data)
        except PoisonError:  # poison in the test input: not part of the state
            continue
        if isinstance(decoded, RevisionDetailsRecord):
            changes.append(stream_change(decoded))
    return expected_state(changes)[0]
