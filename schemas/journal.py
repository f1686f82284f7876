"""Typed QLDB journal blocks and revisions (export blocks, GetBlock output).

A block read from an export carries the same header as a stream BLOCK_SUMMARY plus its
``revisions``. Revisions do not name their table: the table comes from
``transactionInfo.documents[<document id>]``. Four revision shapes exist:

* user revision: ``{blockAddress, hash, data, metadata}``
* deleted document: ``{blockAddress, hash, metadata}`` (no ``data``, no ``dataHash``)
* redacted revision: ``{blockAddress, hash, dataHash, metadata}``
* internal system revision: ``{hash}`` only; it takes part in hashing but is never projected.

:func:`parse_block` accepts a block decoded from Ion (any value model) or from a JSON export line
(where blobs are base64 strings and timestamps are strings) and keeps the raw values so a
verifier can recompute hashes. A malformed block header is an error for the whole block; a
malformed revision (a version or sequence number beyond 64 bits, a missing field, data that is not
a struct) is set aside in :attr:`JournalBlock.rejected` with its reason, so the rest of the block
can still be applied and the bad revision dead-lettered. Pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amazon.ion.core import Timestamp
from amazon.ion.simple_types import IonPyDict, IonPyNull
from amazon.ion.symbols import SymbolToken

from core.errors import InvalidRecordError, PoisonError
from core.fast_init import fast_init
from core.model import BlockAddress
from schemas.ion_values import format_timestamp, to_plain
from schemas.limits import MAX_INT64


@fast_init
@dataclass(frozen=True, slots=True)
class RevisionMetadata:
    """``revision.metadata``: document id, 0-based version, commit time and transaction id."""

    doc_id: str
    version: int
    tx_time: str
    tx_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class JournalRevision:
    """One entry of a block's ``revisions`` list.

    ``metadata`` is ``None`` only for internal system revisions, which carry just a hash.
    ``raw`` is the decoded value as read, for hash verification.
    """

    hash: bytes
    metadata: RevisionMetadata | None
    data: Any
    data_hash: bytes | None
    address: BlockAddress | None
    raw: Any = field(repr=False, compare=False)

    @property
    def is_system(self) -> bool:
        """True for hash-only internal revisions (never projected)."""
        return self.metadata is None


@dataclass(frozen=True, slots=True)
class TableRef:
    """``transactionInfo.documents[<id>]``: the table a document belongs to."""

    table_name: str
    table_id: str | None


@dataclass(frozen=True, slots=True)
class RejectedRevision:
    """A revision of a block that breaks the QLDB format: poison, never projected.

    ``reason`` names the block and the revision (``block <strand>/<seq> revision <i>: ...``).
    ``index`` is its position in the block's ``revisions`` (``None`` when it was rejected after
    parsing, e.g. for data nested too deeply); ``document_id`` and ``version`` are what could be
    read of its metadata, ``raw`` the value as decoded.
    """

    index: int | None
    reason: str
    document_id: str | None
    version: int | None
    raw: Any = field(repr=False, compare=False)


@fast_init
@dataclass(frozen=True, slots=True)
class JournalBlock:
    """A committed journal block with its hashes, transaction info and revisions.

    Fields only a verifier or a report needs (``transaction_id``, ``timestamp``,
    ``entries_hash_list``) are read from ``raw`` on access, keeping the replay hot path lean.
    """

    address: BlockAddress
    block_hash: bytes
    entries_hash: bytes
    previous_block_hash: bytes
    documents: Mapping[str, TableRef]
    revisions: tuple[JournalRevision, ...]
    raw: Any = field(repr=False, compare=False)
    rejected: tuple[RejectedRevision, ...] = ()
    """Revisions that break the format (poison), in block order; not in :attr:`revisions`."""
    source: bytes | None = field(default=None, repr=False, compare=False)
    """The block's bytes as read, when the reader has them (a JSON Lines line), for dead
    letters that must carry the input exactly."""

    @property
    def has_documents(self) -> bool:
        """False for blocks without ``transactionInfo.documents`` (DDL, system blocks)."""
        return bool(self.documents)

    @property
    def transaction_id(self) -> str | None:
        """``transactionId`` of the block."""
        return _opt_text(self.raw.get("transactionId"))

    @property
    def timestamp(self) -> str | None:
        """``blockTimestamp`` as ISO-8601 text."""
        return _opt_time(self.raw.get("blockTimestamp"))

    @property
    def entries_hash_list(self) -> tuple[bytes, ...]:
        """``entriesHashList`` as bytes."""
        where = f"block {self.address.strand_id}/{self.address.sequence_no} entriesHashList"
        return tuple(to_hash_bytes(h, where) for h in (self.raw.get("entriesHashList") or []))


def parse_block(value: Any, source: bytes | None = None) -> JournalBlock:
    """Validate and type one decoded journal block; raise InvalidRecordError naming the problem.

    ``source`` is the block's bytes as read, kept in :attr:`JournalBlock.source` when given.

    Blocks decoded with plain dicts and bare values (the replay's fast value model) of the usual
    shape take a fused path; anything else, including every malformed block, takes the
    validating path below, so results and error messages are the same either way.
    """
    if type(value) is dict or type(value) is IonPyDict:
        try:
            fast = _parse_plain_block(value, source)
        except (KeyError, TypeError, AttributeError):
            fast = None
        if fast is not None:
            return fast
    if not isinstance(value, Mapping):
        msg = f"journal block must be a struct, got {type(value).__name__}"
        raise InvalidRecordError(msg)
    address = parse_address(_required(value, "blockAddress", "block"), "block")
    where = f"block {address.strand_id}/{address.sequence_no}"
    tx_info = value.get("transactionInfo")
    documents = _parse_documents(tx_info, where) if tx_info is not None else {}
    raw_revisions = value.get("revisions")
    revisions: list[JournalRevision] = []
    rejected: list[RejectedRevision] = []
    if raw_revisions is not None:
        if not isinstance(raw_revisions, list):
            msg = f"{where}: revisions must be a list"
            raise InvalidRecordError(msg)
        for index, raw in enumerate(raw_revisions):
            try:
                revisions.append(parse_revision(raw, f"{where} revision {index}", block=address))
            except PoisonError as exc:
                rejected.append(_rejected(index, raw, exc))
    return JournalBlock(
        address=address,
        block_hash=to_hash_bytes(_required(value, "blockHash", where), f"{where} blockHash"),
        entries_hash=to_hash_bytes(_required(value, "entriesHash", where), f"{where} entriesHash"),
        previous_block_hash=to_hash_bytes(
            value.get("previousBlockHash", b""), f"{where} previousBlockHash"
        ),
        documents=documents,
        revisions=tuple(revisions),
        raw=value,
        rejected=tuple(rejected),
        source=source,
    )


def _rejected(index: int, raw: Any, exc: PoisonError) -> RejectedRevision:
    """What can be said about a revision that failed to parse (its id and version if readable)."""
    meta: Any = raw.get("metadata") if _is_struct(raw) else None
    if not _is_struct(meta):
        meta = {}
    doc_id = meta.get("id")
    version = meta.get("version")
    return RejectedRevision(
        index=index,
        reason=str(exc),
        document_id=str(doc_id) if isinstance(doc_id, str) else None,
        version=(
            int(version)
            if isinstance(version, int)
            and not isinstance(version, bool)
            and 0 <= version <= MAX_INT64
            else None
        ),
        raw=raw,
    )


_TABLE_REFS: dict[tuple[str, str | None], TableRef] = {}
"""Interned table references (frozen, compared by value); bounded by ``_MAX_TABLE_REFS``."""
_MAX_TABLE_REFS = 4096


def _last_wins(value: Any) -> dict[Any, Any] | None:
    """An ``IonPyDict`` (the exact value model's struct) as the plain dict its ``get`` and
    ``[]`` read (the last of repeated field names), a plain dict as it is, else ``None``."""
    if type(value) is dict:
        return value
    if type(value) is IonPyDict:
        return {key: items[-1] for key, items in value._IonPyDict__store.items()}
    return None


def _parse_plain_block(value: Any, source: bytes | None) -> JournalBlock | None:  # noqa: PLR0912, PLR0915 - one fused pass, hot path
    """The block if every field has the usual plain type, else ``None`` (validate instead).

    Accepts exactly what :func:`parse_block` accepts and builds an equal block, only for plain
    ``dict``/``str``/``int``/``bytes``/``Timestamp`` values and structs that are ``dict`` or
    ``IonPyDict`` (read through :func:`_last_wins`, as ``get`` reads them); a missing field
    raises KeyError and an unusual type returns ``None``, and the caller then takes the
    validating path. The block's and the revisions' ``raw`` and ``data`` are the values given.
    """
    block_value = value
    if type(value) is not dict:
        value = _last_wins(value)
    raw_address = value["blockAddress"]
    if type(raw_address) is not dict:
        raw_address = _last_wins(raw_address)
        if raw_address is None:
            return None
    strand = raw_address["strandId"]
    seq = raw_address["sequenceNo"]
    if type(strand) is not str or type(seq) is not int or not 0 <= seq <= MAX_INT64:
        return None
    block_hash = value["blockHash"]
    entries_hash = value["entriesHash"]
    previous = value.get("previousBlockHash", b"")
    if type(block_hash) is not bytes or type(entries_hash) is not bytes:
        return None
    if type(previous) is not bytes:
        return None
    address = BlockAddress(strand, seq)
    documents: dict[str, TableRef] = {}
    tx_info = value.get("transactionInfo")
    if tx_info is not None:
        if type(tx_info) is not dict:
            tx_info = _last_wins(tx_info)
            if tx_info is None:
                return None
        docs = tx_info.get("documents")
        if docs is not None:
            if type(docs) is not dict:
                docs = _last_wins(docs)
                if docs is None:
                    return None
            refs = _TABLE_REFS
            for doc_id, raw_ref in docs.items():
                ref = raw_ref if type(raw_ref) is dict else _last_wins(raw_ref)
                if ref is None or type(doc_id) is not str:
                    return None
                name = ref["tableName"]
                table_id = ref.get("tableId")
                if type(name) is not str or (table_id is not None and type(table_id) is not str):
                    return None
                table = refs.get((name, table_id))
                if table is None:
                    table = TableRef(name, table_id)
                    if len(refs) < _MAX_TABLE_REFS:
                        refs[(name, table_id)] = table
                documents[doc_id] = table
    revisions: tuple[JournalRevision, ...] = ()
    raw_revisions = value.get("revisions")
    if raw_revisions is not None:
        if type(raw_revisions) is not list:
            return None
        parsed = []
        for raw in raw_revisions:
            fields = raw
            if type(raw) is not dict:
                fields = _last_wins(raw)
                if fields is None:
                    return None
            rev_hash = fields["hash"]
            if type(rev_hash) is not bytes:
                return None
            meta = fields.get("metadata")
            metadata = None
            if meta is not None:
                if type(meta) is not dict:
                    meta = _last_wins(meta)
                    if meta is None:
                        return None
                doc_id = meta["id"]
                version = meta["version"]
                tx_time = meta["txTime"]
                tx_id = meta["txId"]
                if type(doc_id) is not str or type(version) is not int or not doc_id:
                    return None
                if not 0 <= version <= MAX_INT64:
                    return None
                if type(tx_id) is not str:
                    return None
                if type(tx_time) is Timestamp:
                    tx_time = format_timestamp(tx_time)
                elif type(tx_time) is not str:
                    return None
                metadata = RevisionMetadata(doc_id, version, tx_time, tx_id)
            data = fields.get("data")
            if data is not None and type(data) is not dict and type(data) is not IonPyDict:
                return None
            data_hash = fields.get("dataHash")
            if data_hash is not None and type(data_hash) is not bytes:
                return None
            rev_address = fields.get("blockAddress")
            if rev_address is not None:
                if type(rev_address) is not dict:
                    rev_address = _last_wins(rev_address)
                if (
                    rev_address is None
                    or rev_address.get("sequenceNo") != seq
                    or rev_address.get("strandId") != strand
                ):
                    return None
                rev_address = address
            parsed.append(JournalRevision(rev_hash, metadata, data, data_hash, rev_address, raw))
        revisions = tuple(parsed)
    return JournalBlock(
        address, block_hash, entries_hash, previous, documents, revisions, block_value, (), source
    )


def parse_revision(value: Any, where: str, *, block: BlockAddress | None = None) -> JournalRevision:
    """Type one revision struct from a block (export) or a REVISION_DETAILS payload (stream).

    ``block`` is the enclosing block's address, reused when the revision's own ``blockAddress``
    is the same (the usual case) instead of building an equal object again.
    """
    if not _is_struct(value):
        msg = f"{where}: revision must be a struct"
        raise InvalidRecordError(msg)
    rev_hash = to_hash_bytes(_required(value, "hash", where), f"{where} revision hash")
    raw_meta = value.get("metadata")
    metadata = None if raw_meta is None else parse_metadata(raw_meta, where)
    data = value.get("data")
    if data is not None and is_null(data):
        data = None
    data_hash_raw = value.get("dataHash")
    data_hash = None
    if data_hash_raw is not None and not is_null(data_hash_raw):
        data_hash = to_hash_bytes(data_hash_raw, f"{where} dataHash")
    raw_address = value.get("blockAddress")
    if raw_address is None:
        address = None
    elif (
        block is not None
        and type(raw_address) is dict
        and raw_address.get("sequenceNo") == block.sequence_no
        and raw_address.get("strandId") == block.strand_id
    ):
        address = block
    else:
        address = parse_address(raw_address, where)
    if metadata is not None and data is not None and not _is_struct(data):
        msg = f"{where}: data of document {metadata.doc_id} v{metadata.version} is not a struct"
        raise InvalidRecordError(msg)
    return JournalRevision(
        hash=rev_hash, metadata=metadata, data=data, data_hash=data_hash, address=address, raw=value
    )


def parse_metadata(value: Any, where: str) -> RevisionMetadata:
    """Type ``revision.metadata``; ``id`` and a non-negative integer ``version`` are required."""
    if not _is_struct(value):
        msg = f"{where}: revision metadata must be a struct"
        raise InvalidRecordError(msg)
    doc_id = text_value(_required(value, "id", f"{where} metadata"), f"{where} metadata.id")
    if not doc_id:
        msg = f"{where}: metadata.id is empty"
        raise InvalidRecordError(msg)
    version = value.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_INT64:
        msg = (
            f"{where}: document {doc_id} has an invalid metadata.version {_short_repr(version)}"
            " (a non-negative 64-bit integer)"
        )
        raise InvalidRecordError(msg)
    tx_time = _opt_time(value.get("txTime"))
    tx_id = _opt_text(value.get("txId"))
    if tx_time is None or tx_id is None:
        msg = f"{where}: document {doc_id} v{version} lacks metadata.txTime or metadata.txId"
        raise InvalidRecordError(msg)
    return RevisionMetadata(doc_id=doc_id, version=int(version), tx_time=tx_time, tx_id=tx_id)


def parse_address(value: Any, where: str) -> BlockAddress:
    """Type a ``blockAddress`` struct ``{strandId, sequenceNo}``."""
    if not _is_struct(value):
        msg = f"{where}: blockAddress must be a struct"
        raise InvalidRecordError(msg)
    strand = text_value(_required(value, "strandId", f"{where} blockAddress"), f"{where} strandId")
    seq = value.get("sequenceNo")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_INT64:
        msg = (
            f"{where}: blockAddress.sequenceNo must be a non-negative 64-bit integer, "
            f"got {_short_repr(seq)}"
        )
        raise InvalidRecordError(msg)
    return BlockAddress(strand_id=strand, sequence_no=int(seq))


def to_hash_bytes(value: Any, what: str) -> bytes:
    """Return a hash as bytes: Ion blobs as they are, JSON exports' base64 strings decoded."""
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            msg = f"{what} is not valid base64"
            raise InvalidRecordError(msg) from exc
    msg = f"{what} must be a blob, got {type(value).__name__}"
    raise InvalidRecordError(msg)


def _parse_documents(tx_info: Any, where: str) -> dict[str, TableRef]:
    if not isinstance(tx_info, Mapping):
        msg = f"{where}: transactionInfo must be a struct"
        raise InvalidRecordError(msg)
    docs = tx_info.get("documents")
    if docs is None or is_null(docs):
        return {}
    if not isinstance(docs, Mapping):
        msg = f"{where}: transactionInfo.documents must be a struct"
        raise InvalidRecordError(msg)
    out: dict[str, TableRef] = {}
    for doc_id, ref in docs.items():
        if not isinstance(ref, Mapping):
            msg = f"{where}: transactionInfo.documents.{doc_id} must be a struct"
            raise InvalidRecordError(msg)
        name = text_value(_required(ref, "tableName", f"{where} documents.{doc_id}"), "tableName")
        out[text_value(doc_id, "document id")] = TableRef(name, _opt_text(ref.get("tableId")))
    return out


def _short_repr(value: Any) -> str:
    """A short text for a value in a message (a hostile value may be huge)."""
    if isinstance(value, int) and not isinstance(value, bool):
        bits = value.bit_length()
        return str(int(value)) if bits <= 128 else f"an integer of {bits} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _is_struct(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _required(value: Mapping[str, Any], name: str, where: str) -> Any:
    item = value.get(name)
    if item is None or isinstance(item, IonPyNull):
        msg = f"{where}: missing field {name}"
        raise InvalidRecordError(msg)
    return item


def is_null(value: Any) -> bool:
    """True for a missing value or any Ion typed null."""
    return value is None or isinstance(value, IonPyNull)


def text_value(value: Any, what: str) -> str:
    """A string or symbol's text; InvalidRecordError naming ``what`` for anything else."""
    if type(value) is str:
        return value
    if isinstance(value, SymbolToken):
        text = value.text
        if not isinstance(text, str):
            msg = f"{what} is a symbol with unknown text"
            raise InvalidRecordError(msg)
        return text
    if isinstance(value, str):
        return str(value)
    msg = f"{what} must be a string, got {type(value).__name__}"
    raise InvalidRecordError(msg)


def _opt_text(value: Any) -> str | None:
    if value is None or is_null(value):
        return None
    return text_value(value, "field")


def _opt_time(value: Any) -> str | None:
    if value is None or is_null(value):
        return None
    plain = to_plain(value)
    if not isinstance(plain, str):
        msg = f"expected a timestamp, got {type(value).__name__}"
        raise InvalidRecordError(msg)
    return plain
