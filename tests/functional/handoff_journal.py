"""A synthetic ledger seen at different moments, for the export/stream hand-off tests.

The simulator (:mod:`simulation.ledger`) yields the journal as it reads *after* every redaction:
a redacted revision sits in its original block as ``{blockAddress, hash, dataHash, metadata}``.
What a consumer sees depends on *when* it reads:

* an export taken at the cut-over (block ``K``) shows a revision redacted only when its redaction
  block is ``<= K``; revisions redacted later still carry their ``data``;
* a live QLDB stream emits each block when it commits, so every REVISION_DETAILS carries
  ``data``: a revision cannot be redacted before it is committed. A later redaction shows up
  only as the ``redactionInfo`` of the redaction block's BLOCK_SUMMARY.

:class:`HandoffLedger` rebuilds the unredacted images from the simulator's own plan (same seed,
same document builder), so every view keeps valid revision and block hashes:
``hash = dot(IonHash(metadata), IonHash(data))`` and ``dataHash = IonHash(data)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.journal_export import ExportFormat
from simulation import timestamps
from simulation.config import SimulationConfig
from simulation.documents import make_document
from simulation.export_writer import encode_block, encode_manifest, extension, manifest_name
from simulation.ledger import Block, generate_blocks
from simulation.planner import BlockKind, LedgerPlan
from verification.ionhash import ion_hash

RevisionKey = tuple[str, str, int]
"""(ledger table, document id, version) of one user revision."""


@dataclass(frozen=True)
class HandoffLedger:
    """Every block of a synthetic ledger plus what redaction hides in them.

    Attributes:
        config: the simulated ledger.
        blocks: the journal after every redaction (the simulator's output), in sequence order.
        unredacted: for each redacted revision, its ``data`` before the redaction.
        redacted_by: for each redacted revision, the sequence number of its redaction block.
        committed_in: for each redacted revision, the sequence number of its own block.
    """

    config: SimulationConfig
    blocks: tuple[Block, ...]
    unredacted: dict[RevisionKey, Any]
    redacted_by: dict[RevisionKey, int]
    committed_in: dict[RevisionKey, int]

    @property
    def strand_id(self) -> str:
        """The strand every block is on."""
        return str(self.blocks[0]["blockAddress"]["strandId"])

    @property
    def last_sequence_no(self) -> int:
        """Sequence number of the last block."""
        return len(self.blocks) - 1

    def block_view(self, seq: int, *, as_of: int) -> Block:
        """Block ``seq`` as read when the journal ended at block ``as_of``.

        Revisions whose redaction block is later than ``as_of`` get their ``data`` back (and
        lose ``dataHash``); their hashes stay valid.
        """
        block = self.blocks[seq]
        documents = block["transactionInfo"].get("documents") or {}
        restore = []
        for index, revision in enumerate(block["revisions"]):
            if "dataHash" not in revision:
                continue
            meta = revision["metadata"]
            key = (documents[meta["id"]]["tableName"], meta["id"], meta["version"])
            if self.redacted_by[key] > as_of:
                restore.append((index, key))
        if not restore:
            return block
        view = dict(block)
        view["revisions"] = list(block["revisions"])
        for index, key in restore:
            revision = {k: v for k, v in block["revisions"][index].items() if k != "dataHash"}
            revision["data"] = self.unredacted[key]  # shared, never mutated: only dumped
            view["revisions"][index] = {
                name: revision[name] for name in ("blockAddress", "hash", "data", "metadata")
            }
        return view

    def redactions_after(self, seq: int) -> set[RevisionKey]:
        """Redacted revisions whose redaction block comes after block ``seq``."""
        return {key for key, at in self.redacted_by.items() if at > seq}


def build_ledger(config: SimulationConfig) -> HandoffLedger:
    """Generate the ledger and recover the data of every redacted revision from the plan."""
    blocks = tuple(generate_blocks(config))
    plan = LedgerPlan(config)
    unredacted: dict[RevisionKey, Any] = {}
    redacted_by: dict[RevisionKey, int] = {}
    committed_in: dict[RevisionKey, int] = {}
    pending: dict[tuple[str, int], RevisionKey] = {}
    for planned, block in zip(plan, blocks, strict=True):
        assert planned.sequence_no == block["blockAddress"]["sequenceNo"]
        for op in planned.ops:
            if op.redacted:
                table = config.tables[op.table]
                key = (table, op.doc_id, op.version)
                data = make_document(table, op.seed, op.version, planned.time_ms)
                unredacted[key] = data
                committed_in[key] = planned.sequence_no
                pending[(op.doc_id, op.version)] = key
        if planned.kind is BlockKind.REDACTION:
            assert planned.redaction is not None
            target = planned.redaction
            redacted_by[pending.pop((target.doc_id, target.version))] = planned.sequence_no
    assert not pending, "every redacted revision has a redaction block"
    ledger = HandoffLedger(
        config=config,
        blocks=blocks,
        unredacted=unredacted,
        redacted_by=redacted_by,
        committed_in=committed_in,
    )
    _check_recovered_hashes(ledger)
    return ledger


def _check_recovered_hashes(ledger: HandoffLedger) -> None:
    """The rebuilt images must hash to the ``dataHash`` the journal keeps (else views lie)."""
    for block in ledger.blocks:
        documents = block["transactionInfo"].get("documents") or {}
        for revision in block["revisions"]:
            if "dataHash" in revision:
                meta = revision["metadata"]
                key = (documents[meta["id"]]["tableName"], meta["id"], meta["version"])
                assert ion_hash(ledger.unredacted[key]) == revision["dataHash"], key


@dataclass(frozen=True)
class WrittenExport:
    """An export folder written by :func:`write_export_view`."""

    root: Path
    export_id: str
    keys: tuple[str, ...]
    first_sequence_no: int
    last_sequence_no: int


def write_export_view(
    root: Path,
    ledger: HandoffLedger,
    *,
    last: int,
    as_of: int,
    export_id: str,
    blocks_per_object: int = 25,
    fmt: ExportFormat = ExportFormat.ION_BINARY,
) -> WrittenExport:
    """Write blocks ``0..last`` as an ``ExportJournalToS3`` folder, read when the journal ended
    at block ``as_of`` (same layout as :func:`simulation.export_writer.write_export`).

    Data objects ``<exportId>/<strandId>.<first>-<last>.<ext>``, then the started manifest, then
    the completed manifest (last), exactly as the simulator's writer lays them out.
    """
    root.mkdir(parents=True, exist_ok=True)
    strand = ledger.strand_id
    keys: list[str] = []
    for first in range(0, last + 1, blocks_per_object):
        end = min(first + blocks_per_object, last + 1) - 1
        key = f"{export_id}/{strand}.{first}-{end}.{extension(fmt)}"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = b"$ion_1_0\n" if fmt is ExportFormat.ION_TEXT else b""
        body = b"".join(
            encode_block(ledger.block_view(seq, as_of=as_of), fmt) for seq in range(first, end + 1)
        )
        path.write_bytes(prefix + body)
        keys.append(key)
    first_time = ledger.blocks[0]["blockTimestamp"]
    end_time = ledger.blocks[last]["blockTimestamp"]
    started = {
        "ledgerName": ledger.config.ledger_name,
        "exportId": export_id,
        "inclusiveStartTime": first_time,
        "exclusiveEndTime": timestamps.millis(_millis(end_time) + 1),
        "bucket": "handoff-bucket",
        "prefix": "",
        "objectEncryptionType": "SSE_S3",
        "outputFormat": manifest_name(fmt),
    }
    (root / f"{export_id}.started.manifest").write_bytes(encode_manifest(started, fmt))
    completed = root / f"{export_id}.{strand}.completed.manifest"
    completed.write_bytes(encode_manifest({"keys": keys}, fmt))
    return WrittenExport(root, export_id, tuple(keys), 0, last)


def _millis(stamp: Any) -> int:
    delta = stamp - timestamps.millis(0)
    return int(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


def history(ledger: HandoffLedger, *, as_of: int) -> dict[RevisionKey, tuple[bool, bool, Any]]:
    """Every user revision as ``(deleted, redacted, data)`` once redactions up to ``as_of`` ran.

    Read straight from the blocks (not through ``changes``), as an independent expectation.
    """
    from schemas.ion_values import to_plain

    out: dict[RevisionKey, tuple[bool, bool, Any]] = {}
    for seq in range(len(ledger.blocks)):
        block = ledger.block_view(seq, as_of=as_of)
        documents = block["transactionInfo"].get("documents") or {}
        for revision in block["revisions"]:
            meta = revision.get("metadata")
            if meta is None:
                continue
            key = (documents[meta["id"]]["tableName"], meta["id"], meta["version"])
            assert key not in out, f"revision {key} appears twice in the journal"
            redacted = "dataHash" in revision
            data = revision.get("data")
            out[key] = (data is None and not redacted, redacted, to_plain(data))
    return out
