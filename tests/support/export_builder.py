"""Writes small hand-made QLDB journal exports (hashes are placeholders) for reader tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import Timestamp, TimestampPrecision

from core import json_codec
from schemas import ion_values
from schemas.journal_export import ExportFormat

STRAND = "JUJgrQeIeI64ZgvXIuqlZ1"
TABLE_IDS = {"Person": "17CRCBBPOEe4aSgHpQ8fSm", "Vehicle": "K5ZrW3IBLcGAQm3TES3ADE"}


@dataclass(frozen=True)
class Rev:
    """One revision to put in a block: data None + redacted False means a delete."""

    table: str
    doc_id: str
    version: int
    data: dict[str, Any] | None = None
    redacted: bool = False


def h(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def ts(seq: int) -> Timestamp:
    return Timestamp(
        2024, 1, 1, 0, seq // 60 % 60, seq % 60, 123000, None, TimestampPrecision.SECOND, 3
    )


def block(
    seq: int, revs: Sequence[Rev], *, system: int = 0, strand: str = STRAND
) -> dict[str, Any]:
    """A journal block value (Ion model) holding ``revs`` plus ``system`` hash-only revisions."""
    revisions: list[dict[str, Any]] = [{"hash": h("sys", seq, i)} for i in range(system)]
    documents: dict[str, Any] = {}
    for r in revs:
        rev: dict[str, Any] = {
            "blockAddress": {"strandId": strand, "sequenceNo": seq},
            "hash": h(r.table, r.doc_id, r.version),
            "metadata": {
                "id": r.doc_id,
                "version": r.version,
                "txTime": ts(seq),
                "txId": f"tx{seq:020d}",
            },
        }
        if r.redacted:
            rev["dataHash"] = h("data", r.doc_id, r.version)
        elif r.data is not None:
            rev["data"] = r.data
        revisions.append(rev)
        documents[r.doc_id] = {
            "tableName": r.table,
            "tableId": TABLE_IDS.get(r.table, "T" * 22),
            "statements": [0],
        }
    value: dict[str, Any] = {
        "blockAddress": {"strandId": strand, "sequenceNo": seq},
        "transactionId": f"tx{seq:020d}",
        "blockTimestamp": ts(seq),
        "blockHash": h("block", seq),
        "entriesHash": h("entries", seq),
        "previousBlockHash": h("block", seq - 1),
        "entriesHashList": [h("e0", seq), h("e1", seq)],
        "revisions": revisions,
    }
    if documents:
        value["transactionInfo"] = {
            "statements": [
                {
                    "statement": "INSERT INTO x ?",
                    "startTime": ts(seq),
                    "statementDigest": h("st", seq),
                }
            ],
            "documents": documents,
        }
    return value


def encode(blocks: Sequence[dict[str, Any]], fmt: ExportFormat) -> bytes:
    """The bytes of a data object holding ``blocks`` (JSON as QLDB down-converts Ion; values
    nested beyond the projections' depth limit are written too, for hostile-input tests)."""
    if fmt is ExportFormat.ION_BINARY:
        return b"".join(simpleion.dumps(b, binary=True) for b in blocks)
    if fmt is ExportFormat.ION_TEXT:
        return "\n".join(
            simpleion.dumps(b, binary=False, omit_version_marker=True) for b in blocks
        ).encode()
    return (
        "\n".join(json_codec.dumps(ion_values.to_plain(b, 10_000)) for b in blocks).encode() + b"\n"
    )


def write_export(
    root: Path,
    objects: Sequence[Sequence[dict[str, Any]]],
    *,
    fmt: ExportFormat = ExportFormat.ION_BINARY,
    export_id: str = "8ZkGjpvZQsB2Xw1Pj0C3Fz",
    prefix: str = "exports/",
    strand: str = STRAND,
) -> list[str]:
    """Write ``objects`` (each a list of blocks) and the completed manifest; return the keys."""
    keys = []
    for blocks in objects:
        first = blocks[0]["blockAddress"]["sequenceNo"]
        last = blocks[-1]["blockAddress"]["sequenceNo"]
        key = f"{prefix}{export_id}/{strand}.{first}-{last}.ion"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(blocks, fmt))
        keys.append(key)
    manifest = root / f"{prefix}{export_id}.{strand}.completed.manifest"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(simpleion.dumps({"keys": keys}, binary=False))
    return keys


def person(i: int, version: int) -> dict[str, Any]:
    return {
        "name": f"p{i}",
        "v": version,
        "score": Decimal("12.50"),
        "when": ts(version),
        "tags": ["a", "b"],
        "blob": b"\x00\x01",
        "nested": {"ok": True, "none": None},
    }
