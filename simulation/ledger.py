"""Synthetic QLDB journals: export-shaped blocks with correct hashes, streamed.

:func:`generate_blocks` yields journal blocks exactly shaped like the blocks of a QLDB
``ExportJournalToS3`` export (qldb-formats.md §3.3): ``blockAddress``, ``transactionId``,
``blockTimestamp``, ``blockHash``, ``entriesHash``, ``previousBlockHash``, ``entriesHashList``,
``transactionInfo{statements, documents}``, optional ``redactionInfo`` and ``revisions``.
Values are plain Python that ``amazon.ion.simpleion.dumps`` writes as the right Ion types
(``str`` -> string, ``bytes`` -> blob, ``Decimal`` -> decimal, ``Timestamp`` -> timestamp).

The journal is: one ``CREATE TABLE`` and one ``CREATE INDEX`` block per table (hash-only system
revisions, no ``documents``), then user transactions (inserts at version 0, updates writing the
full image at version + 1, deletes writing metadata only), some touching several documents and
some carrying a hash-only system revision, interleaved with redaction blocks; with
``SimulationConfig.table_lifecycle``, then DROP / UNDROP / DROP TABLE blocks of the last table.

Hash guarantees (qldb-formats.md §4, computed with :mod:`verification`):
    * revision ``hash = dot(IonHash(metadata), IonHash(data))``; a redacted revision is written
      as ``{blockAddress, hash, dataHash, metadata}`` with ``dataHash = IonHash(data)``, so its
      hash stays valid; a deleted revision's hash is ``dot(IonHash(metadata), b"")``, i.e.
      ``IonHash(metadata)`` (candidate (a), ``DeletedRevisionRule.METADATA_ONLY``).
    * ``entriesHashList = [opaque, MerkleRoot(revision hashes in block order, system ones
      included), opaque, IonHash(transactionInfo)]``, the positions seen in real blocks; the
      opaque entries and system revision hashes are SHA-256 values derived from the seed.
    * ``entriesHash = MerkleRoot(entriesHashList)``, ``blockHash = dot(entriesHash,
      previousBlockHash)``; the first block's ``previousBlockHash`` is an opaque seed-derived
      hash standing for the ledger's genesis, every later one is the previous ``blockHash``.
    * ``statementDigest = fold(dot, [IonHash(p) for p in parameters], IonHash(statement))``
      with the parameters listed in :func:`_user_statement` (the data image for INSERT/UPDATE).
    * Every value is hashed exactly as it is written (field names as symbols, timestamps with
      their millisecond precision and offset).

Other guarantees: deterministic per config; exactly ``config.revisions`` user revisions;
memory O(documents) (the planner keeps a few integers per document, never a revision list).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.ion_values import to_plain
from simulation import timestamps
from simulation.config import SimulationConfig
from simulation.documents import index_field, make_document
from simulation.planner import BlockKind, LedgerPlan, Op, OpKind, PlannedBlock, PlanTotals
from verification.ionhash import ion_hash
from verification.qldb_hashes import dot, merkle_root

Block = dict[str, Any]

REDACT_STATEMENT = "EXEC redact_revision ?, ?, ?"


@dataclass(frozen=True, slots=True)
class SimulationTotals:
    """What a generated ledger contains.

    Attributes:
        blocks: All blocks (DDL + user + redaction).
        ddl_blocks: ``CREATE TABLE`` / ``CREATE INDEX`` blocks (two per table), plus the three
            lifecycle blocks of ``SimulationConfig.table_lifecycle``.
        user_blocks: Blocks with user revisions.
        redaction_blocks: Blocks with ``redactionInfo`` (one redaction each).
        user_revisions: User revisions (= ``config.revisions``).
        inserts: Version-0 revisions (= ``config.documents``).
        updates: Revisions with data and version > 0 (redacted ones included).
        deletes: Revisions with metadata and neither data nor dataHash.
        redactions: Revisions written redacted (= redaction blocks).
        system_revisions: Hash-only internal revisions.
        documents: Distinct documents (= ``config.documents``).
        first_sequence_no: ``sequenceNo`` of the first block.
        last_sequence_no: ``sequenceNo`` of the last block.
    """

    blocks: int
    ddl_blocks: int
    user_blocks: int
    redaction_blocks: int
    user_revisions: int
    inserts: int
    updates: int
    deletes: int
    redactions: int
    system_revisions: int
    documents: int
    first_sequence_no: int
    last_sequence_no: int

    @classmethod
    def from_plan(cls, totals: PlanTotals) -> SimulationTotals:
        """Freeze the counters of an exhausted plan."""
        return cls(
            blocks=totals.blocks,
            ddl_blocks=totals.ddl_blocks,
            user_blocks=totals.user_blocks,
            redaction_blocks=totals.redaction_blocks,
            user_revisions=totals.user_revisions,
            inserts=totals.inserts,
            updates=totals.updates,
            deletes=totals.deletes,
            redactions=totals.redactions,
            system_revisions=totals.system_revisions,
            documents=totals.inserts,
            first_sequence_no=0,
            last_sequence_no=totals.blocks - 1,
        )


@dataclass(frozen=True, slots=True)
class ExpectedDoc:
    """The state a correct replay of the whole ledger must reach for one document.

    Attributes:
        table_id: QLDB table id of the document's table.
        version: Highest version written.
        deleted: True when that version is a delete (tombstone).
        redacted: True when that version's content was redacted. Always False for a generated
            ledger: like QLDB, the generator redacts only superseded revisions.
        data: The document at ``version`` as ``schemas.ion_values.to_plain`` gives it;
            ``None`` when deleted.
        redacted_versions: Earlier versions whose content was redacted, ascending.
    """

    table_id: str
    version: int
    deleted: bool
    redacted: bool
    data: Any
    redacted_versions: tuple[int, ...]


class LedgerSimulation:
    """Iterate once over the blocks of a synthetic ledger; then read ``totals``.

    Attributes:
        config: The configuration simulated.
        strand_id: The strand every block is on.
        ledger_name: ``config.ledger_name``.
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self._plan = LedgerPlan(config)
        self.strand_id = self._plan.strand_id
        self.ledger_name = config.ledger_name
        self._salt = hashlib.sha256(f"qldb-cdc-simulation:{config.seed}".encode()).digest()
        self._previous = self._opaque(b"genesis")
        self._text_hashes: dict[str, bytes] = {}
        self._finished = False

    @property
    def totals(self) -> SimulationTotals:
        """Counts of the generated ledger; only available after iteration has finished."""
        if not self._finished:
            msg = "totals are known only after every block has been generated"
            raise RuntimeError(msg)
        return SimulationTotals.from_plan(self._plan.totals)

    def __iter__(self) -> Iterator[Block]:
        return self._generate()

    def _generate(self) -> Iterator[Block]:
        for planned in self._plan:
            yield self._build(planned)
        self._finished = True

    # ------------------------------------------------------------------ hashes

    def _opaque(self, label: bytes) -> bytes:
        return hashlib.sha256(self._salt + label).digest()

    def _text_hash(self, text: str) -> bytes:
        found = self._text_hashes.get(text)
        if found is None:
            found = ion_hash(text)
            if len(self._text_hashes) < 4096:
                self._text_hashes[text] = found
        return found

    def _statement(self, text: str, start_ms: int, parameter_hashes: list[bytes]) -> Block:
        digest = self._text_hash(text)
        for parameter in parameter_hashes:
            digest = dot(digest, parameter)
        return {
            "statement": text,
            "startTime": timestamps.millis(start_ms),
            "statementDigest": digest,
        }

    # ------------------------------------------------------------------ blocks

    def _build(self, planned: PlannedBlock) -> Block:
        seq = planned.sequence_no
        address = {"strandId": self.strand_id, "sequenceNo": seq}
        block_time = timestamps.millis(planned.time_ms)
        revisions: list[Block]
        redaction_info: Block | None = None
        if planned.kind is BlockKind.USER:
            statements, documents, revisions = self._user_entries(planned, address, block_time)
            tx_info: Block = {"statements": statements, "documents": documents}
        elif planned.kind is BlockKind.DDL:
            tx_info = {"statements": [self._statement(planned.statement, planned.time_ms - 2, [])]}
            revisions = []
        else:
            tx_info, redaction_info = self._redaction_entries(planned)
            revisions = []
        for position in planned.system_positions:
            system_hash = self._opaque(b"system:%d:%d" % (seq, position))
            revisions.insert(position, {"hash": system_hash})
        entries = [
            self._opaque(b"entry0:%d" % seq),
            merkle_root([revision["hash"] for revision in revisions]),
            self._opaque(b"entry2:%d" % seq),
            ion_hash(tx_info),
        ]
        entries_hash = merkle_root(entries)
        block_hash = dot(entries_hash, self._previous)
        block: Block = {
            "blockAddress": address,
            "transactionId": planned.tx_id,
            "blockTimestamp": block_time,
            "blockHash": block_hash,
            "entriesHash": entries_hash,
            "previousBlockHash": self._previous,
            "entriesHashList": entries,
            "transactionInfo": tx_info,
        }
        if redaction_info is not None:
            block["redactionInfo"] = redaction_info
        block["revisions"] = revisions
        self._previous = block_hash
        return block

    def _user_entries(
        self, planned: PlannedBlock, address: Block, block_time: Any
    ) -> tuple[list[Block], Block, list[Block]]:
        tables = self.config.tables
        table_ids = self._plan.table_ids
        count = len(planned.ops) + (1 if planned.leading_select else 0)
        start_ms = planned.time_ms - 2 * count
        statements: list[Block] = []
        if planned.leading_select:
            first = planned.ops[0]
            table = tables[first.table]
            text = f"SELECT * FROM {table} AS t WHERE t.{index_field(table)} = ?"
            statements.append(self._statement(text, start_ms, [ion_hash(first.doc_id)]))
        documents: Block = {}
        revisions: list[Block] = []
        for op in planned.ops:
            table = tables[op.table]
            metadata = {
                "id": op.doc_id,
                "version": op.version,
                "txTime": block_time,
                "txId": planned.tx_id,
            }
            metadata_hash = ion_hash(metadata)
            revision: Block = {"blockAddress": address}
            if op.kind is OpKind.DELETE:
                revision["hash"] = dot(metadata_hash, b"")
                parameters = [ion_hash(op.doc_id)]
            else:
                data = make_document(table, op.seed, op.version, planned.time_ms)
                data_hash = ion_hash(data)
                revision["hash"] = dot(metadata_hash, data_hash)
                if op.redacted:
                    revision["dataHash"] = data_hash
                else:
                    revision["data"] = data
                parameters = [data_hash]
                if op.kind is OpKind.UPDATE:
                    parameters.append(ion_hash(op.doc_id))
            revision["metadata"] = metadata
            revisions.append(revision)
            documents[op.doc_id] = {
                "tableName": table,
                "tableId": table_ids[op.table],
                "statements": [len(statements)],
            }
            statements.append(
                self._statement(
                    _user_statement(op, table), start_ms + 2 * len(statements), parameters
                )
            )
        return statements, documents, revisions

    def _redaction_entries(self, planned: PlannedBlock) -> tuple[Block, Block]:
        target = planned.redaction
        if target is None:  # pragma: no cover - the planner always sets it
            msg = "redaction block without a target"
            raise RuntimeError(msg)
        address = {"strandId": self.strand_id, "sequenceNo": target.sequence_no}
        table_id = self._plan.table_ids[target.table]
        parameters = [ion_hash(address), ion_hash(table_id), ion_hash(target.doc_id)]
        tx_info = {
            "statements": [self._statement(REDACT_STATEMENT, planned.time_ms - 2, parameters)]
        }
        redaction_info = {
            "revisions": [
                {
                    "blockAddress": address,
                    "tableId": table_id,
                    "documentId": target.doc_id,
                    "version": target.version,
                }
            ]
        }
        return tx_info, redaction_info


def _user_statement(op: Op, table: str) -> str:
    """PartiQL text of a user revision; parameters: INSERT [data], UPDATE [data, id],
    DELETE [id]."""
    if op.kind is OpKind.INSERT:
        return f"INSERT INTO {table} ?"
    if op.kind is OpKind.UPDATE:
        return f"UPDATE {table} AS t BY t_id SET t = ? WHERE t_id = ?"
    return f"DELETE FROM {table} AS t BY t_id WHERE t_id = ?"


def generate_blocks(config: SimulationConfig) -> Iterator[Block]:
    """Yield the journal blocks of the ledger ``config`` describes, in sequence order.

    Args:
        config: What to simulate.

    Returns:
        A lazy iterator; one block is built at a time (see the module guarantees).
    """
    return iter(LedgerSimulation(config))


def final_state(config: SimulationConfig) -> dict[tuple[str, str], ExpectedDoc]:
    """The state every correct replay of the ledger reaches, keyed by (table, document id).

    Computed from the generator's own plan without building blocks or hashes, so it is an
    independent expectation for replay tests.
    """
    plan = LedgerPlan(config)
    for _ in plan:
        pass
    out: dict[tuple[str, str], ExpectedDoc] = {}
    for doc in plan.docs.values():
        table = config.tables[doc.table]
        data = None
        if not doc.deleted:
            data = to_plain(make_document(table, doc.seed, doc.version, doc.updated_ms))
        out[(table, doc.doc_id)] = ExpectedDoc(
            table_id=plan.table_ids[doc.table],
            version=doc.version,
            deleted=doc.deleted,
            redacted=False,
            data=data,
            redacted_versions=tuple(sorted(doc.redacted_versions)),
        )
    return out


def expected_totals(config: SimulationConfig) -> SimulationTotals:
    """Counts of the ledger ``config`` describes, computed from the plan alone (no hashing)."""
    plan = LedgerPlan(config)
    for _ in plan:
        pass
    return SimulationTotals.from_plan(plan.totals)
