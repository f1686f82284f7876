"""Builders for changes and histories used across the test suite."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal
from typing import Any

from core.model import BlockAddress, Change, ChangeKind, DocKey

STRAND = "JUJgrQeIeI64ZgvXIuqlZ1"


def fake_hash(*parts: object) -> str:
    """A deterministic base64 SHA-256 standing in for a revision hash."""
    return base64.b64encode(hashlib.sha256(repr(parts).encode()).digest()).decode()


def make_change(
    doc_id: str = "doc1",
    version: int = 0,
    *,
    table: str = "Person",
    kind: ChangeKind | None = None,
    data: dict[str, Any] | None = None,
    seq: int | None = None,
) -> Change:
    """A change with sensible defaults; ``kind`` defaults from ``version`` like QLDB's shapes."""
    if kind is None:
        kind = ChangeKind.INSERT if version == 0 else ChangeKind.UPDATE
    if data is None and kind in (ChangeKind.INSERT, ChangeKind.UPDATE):
        data = {"name": f"{doc_id}-v{version}", "version_seen": version, "score": Decimal("1.50")}
    if kind in (ChangeKind.DELETE, ChangeKind.REDACTION):
        data = None
    return Change(
        key=DocKey(table, doc_id),
        version=version,
        kind=kind,
        data=data,
        tx_id=f"tx{doc_id}{version}",
        tx_time=f"2024-01-01T00:00:{version % 60:02d}.123Z",
        block=BlockAddress(STRAND, 100 + (seq if seq is not None else version)),
        revision_hash=fake_hash(table, doc_id, version),
        data_hash=fake_hash("data", table, doc_id, version)
        if kind is ChangeKind.REDACTION
        else None,
        table_id="TableId0000000000000001",
    )


def history(
    doc_id: str, versions: int, *, table: str = "Person", delete_last: bool = False
) -> list[Change]:
    """In-order revisions v0..v(versions-1) of one document, the last one a delete if asked."""
    out = [make_change(doc_id, v, table=table) for v in range(versions)]
    if delete_last and versions > 0:
        out[-1] = make_change(doc_id, versions - 1, table=table, kind=ChangeKind.DELETE)
    return out


def make_notice(
    doc_id: str = "doc1", version: int = 0, *, table: str = "Person", seq: int | None = None
) -> Change:
    """A stream redaction notice (``Change.is_redaction_notice``) of the revision
    :func:`make_change` builds for the same arguments: its key, version and block, no revision
    hash or data hash, and the redacting transaction's id and time."""
    return Change(
        key=DocKey(table, doc_id),
        version=version,
        kind=ChangeKind.REDACTION,
        data=None,
        tx_id=f"txredact{doc_id}{version}",
        tx_time="2024-06-01T00:00:00.000Z",
        block=BlockAddress(STRAND, 100 + (seq if seq is not None else version)),
        revision_hash="",
        data_hash=None,
        table_id="TableId0000000000000001",
    )
