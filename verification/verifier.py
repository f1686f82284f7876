"""Pure verifier for QLDB journal blocks, revisions and hash chains.

Inputs are Ion values as returned by ``amazon.ion.simpleion.loads`` (default ``IonPy``
value model) or equivalent plain Python values: mappings for structs, ``bytes`` for
blobs. Nothing is ever raised for bad *data*: every problem is reported as a
:class:`VerificationFailure` whose message names the block (``strandId/sequenceNo``)
and, for revision problems, the document id and version, e.g.::

    block JUJgrQeIeI64ZgvXIuqlZ1/545: revision hash mismatch for document
    LSkFrekxpQeDFzPFUNidAt v0

An empty result list means every check that the given data allows was performed and
passed. What is checked (and what cannot be) is documented on each function.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.model import BlockAddress
from verification.clean_block import block_verifies
from verification.ionhash import IonHashError, ion_hash
from verification.qldb_hashes import (
    HASH_LENGTH,
    DeletedRevisionRule,
    deleted_revision_hash_candidates,
    dot,
    merkle_root,
)

__all__ = [
    "ALL_DELETED_RULES",
    "BlockAddress",
    "ChainVerifier",
    "FailureKind",
    "VerificationFailure",
    "block_address",
    "format_address",
    "match_deleted_revision",
    "verify_block",
    "verify_revision",
]

_ION_INT = 2  # amazon.ion.core.IonType.INT
_CLASS_CACHE_LIMIT = 256

ALL_DELETED_RULES: tuple[DeletedRevisionRule, ...] = tuple(DeletedRevisionRule)
"""Accept every deleted-revision hash candidate (the default)."""


class FailureKind(enum.Enum):
    """Machine-readable category of a :class:`VerificationFailure`."""

    MISSING_FIELD = "missing_field"
    MALFORMED = "malformed"
    UNHASHABLE = "unhashable"
    ENTRIES_HASH_MISMATCH = "entries_hash_mismatch"
    BLOCK_HASH_MISMATCH = "block_hash_mismatch"
    TRANSACTION_INFO_NOT_IN_ENTRIES = "transaction_info_not_in_entries"
    REVISIONS_ROOT_NOT_IN_ENTRIES = "revisions_root_not_in_entries"
    REVISION_HASH_MISMATCH = "revision_hash_mismatch"
    DATA_HASH_MISMATCH = "data_hash_mismatch"
    REVISION_NOT_IN_SUMMARY = "revision_not_in_summary"
    REVISION_BLOCK_MISMATCH = "revision_block_mismatch"
    STRAND_CHANGED = "strand_changed"
    SEQUENCE_GAP = "sequence_gap"
    OUT_OF_ORDER = "out_of_order"
    CHAIN_BROKEN = "chain_broken"


@dataclass(frozen=True)
class VerificationFailure:
    """One failed check.

    Attributes:
        kind: Category of the failure.
        message: Human-readable message naming the block and, for revision failures,
            the document id and version.
        block: Address of the block concerned, when known.
        document_id: Document id of the revision concerned, when known.
        version: Document version of the revision concerned, when known.
    """

    kind: FailureKind
    message: str
    block: BlockAddress | None = None
    document_id: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        """Return the human-readable message."""
        return self.message


# ----------------------------------------------------------------------------- helpers


_IS_MAPPING: dict[type, bool] = {}
"""Whether a class is a Mapping, per class: ``isinstance(x, Mapping)`` is an ABC check."""


def _get(value: object, key: str) -> Any:
    """Field ``key`` of a struct-like value, or ``None`` if absent / not a struct."""
    cls = value.__class__
    is_mapping = _IS_MAPPING.get(cls)
    if is_mapping is None:
        is_mapping = isinstance(value, Mapping)
        if len(_IS_MAPPING) < _CLASS_CACHE_LIMIT:
            _IS_MAPPING[cls] = is_mapping
    if is_mapping:
        try:
            return value[key]  # type: ignore[index]
        except KeyError:
            return None
    return None


def _is_null(value: object) -> bool:
    """True for an absent value or an Ion null (``IonPyNull``)."""
    return value is None or type(value).__name__ == "IonPyNull"


def _as_hash(value: object) -> bytes | None:
    """The value as a 32-byte hash, or ``None`` if it is not one."""
    if isinstance(value, (bytes, bytearray)) and len(value) == HASH_LENGTH:
        return bytes(value)
    return None


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        if getattr(value, "ion_type", _ION_INT) != _ION_INT:  # IonPyBool is an int
            return None
        return int(value)
    return None


def _as_str(value: object) -> str | None:
    if isinstance(value, str):
        return str(value)
    return None


def block_address(value: object) -> BlockAddress | None:
    """Parse a ``{strandId, sequenceNo}`` struct.

    Args:
        value: A ``blockAddress`` struct.

    Returns:
        The address, or ``None`` if ``value`` is not a well-formed block address.
    """
    strand = _as_str(_get(value, "strandId"))
    seq = _as_int(_get(value, "sequenceNo"))
    if strand is None or seq is None:
        return None
    return BlockAddress(strand, seq)


def format_address(address: BlockAddress | None) -> str:
    """Return ``strandId/sequenceNo`` (``<unknown address>`` for ``None``).

    Args:
        address: A block address or ``None``.

    Returns:
        The printable address used in every failure message.
    """
    if address is None:
        return "<unknown address>"
    return f"{address.strand_id}/{address.sequence_no}"


def _block_label(address: BlockAddress | None) -> str:
    return f"block {format_address(address)}"


def _doc_label(document_id: str | None, version: int | None) -> str:
    doc = document_id if document_id is not None else "<unknown id>"
    return f"document {doc} v{version}" if version is not None else f"document {doc}"


def _short(h: bytes | None) -> str:
    return h.hex()[:16] if h else "<empty>"


class _Reporter:
    """Collects failures for one block with a common message prefix."""

    def __init__(self, address: BlockAddress | None) -> None:
        self.address = address
        self.failures: list[VerificationFailure] = []

    def add(
        self,
        kind: FailureKind,
        text: str,
        document_id: str | None = None,
        version: int | None = None,
    ) -> None:
        self.failures.append(
            VerificationFailure(
                kind=kind,
                message=f"{_block_label(self.address)}: {text}",
                block=self.address,
                document_id=document_id,
                version=version,
            )
        )


# --------------------------------------------------------------------------- revisions


def match_deleted_revision(
    metadata: object,
    stored_hash: bytes,
    rules: Collection[DeletedRevisionRule] = ALL_DELETED_RULES,
) -> DeletedRevisionRule | None:
    """Tell which deleted-revision hash candidate, if any, reproduces ``stored_hash``.

    Args:
        metadata: The revision ``metadata`` struct.
        stored_hash: The revision ``hash`` stored in the journal.
        rules: Candidates to try (see :class:`DeletedRevisionRule`).

    Returns:
        The first matching rule in :class:`DeletedRevisionRule` order, or ``None``.

    Raises:
        verification.ionhash.IonHashError: If the metadata cannot be Ion-hashed.
    """
    candidates = deleted_revision_hash_candidates(metadata)
    for rule in DeletedRevisionRule:
        if rule in rules and candidates[rule] == stored_hash:
            return rule
    return None


class _Revision:
    """A revision struct with its identity extracted, bound to a reporter."""

    def __init__(self, revision: Mapping[Any, Any], report: _Reporter) -> None:
        self.revision = revision
        self.report = report
        self.metadata = _get(revision, "metadata")
        self.has_metadata = not _is_null(self.metadata)
        self.document_id = _as_str(_get(self.metadata, "id")) if self.has_metadata else None
        self.version = _as_int(_get(self.metadata, "version")) if self.has_metadata else None
        self.label = _doc_label(self.document_id, self.version)

    def fail(self, kind: FailureKind, text: str) -> None:
        self.report.add(kind, text, self.document_id, self.version)

    def check_address(self) -> None:
        own = _get(self.revision, "blockAddress")
        if _is_null(own) or self.report.address is None:
            return
        parsed = block_address(own)
        if parsed != self.report.address:
            self.fail(
                FailureKind.REVISION_BLOCK_MISMATCH,
                f"revision of {self.label} claims block {format_address(parsed)}",
            )

    def stored_hash(self) -> bytes | None:
        raw = _get(self.revision, "hash")
        stored = _as_hash(raw)
        if stored is None:
            if _is_null(raw):
                self.fail(FailureKind.MISSING_FIELD, f"revision hash missing for {self.label}")
            else:
                self.fail(
                    FailureKind.MALFORMED, f"revision hash is not a 32-byte blob for {self.label}"
                )
        return stored

    def recompute(self, stored: bytes, deleted_rules: Collection[DeletedRevisionRule]) -> None:
        """Recompute the hash of a user revision and compare it with ``stored``."""
        data = _get(self.revision, "data")
        raw_data_hash = _get(self.revision, "dataHash")
        metadata_hash = ion_hash(self.metadata)
        if data is not None:
            computed_data_hash = ion_hash(data)
            if not _is_null(raw_data_hash) and _as_hash(raw_data_hash) != computed_data_hash:
                self.fail(
                    FailureKind.DATA_HASH_MISMATCH,
                    f"dataHash does not match IonHash(data) for {self.label}",
                )
            computed = dot(metadata_hash, computed_data_hash)
        elif not _is_null(raw_data_hash):
            data_hash = _as_hash(raw_data_hash)
            if data_hash is None:
                self.fail(FailureKind.MALFORMED, f"dataHash is not a 32-byte blob for {self.label}")
                return
            computed = dot(metadata_hash, data_hash)
        else:
            if match_deleted_revision(self.metadata, stored, deleted_rules) is None:
                self.fail(
                    FailureKind.REVISION_HASH_MISMATCH,
                    f"revision hash mismatch for {self.label} (deleted revision: no accepted "
                    "candidate rule matches)",
                )
            return
        if computed != stored:
            self.fail(
                FailureKind.REVISION_HASH_MISMATCH, f"revision hash mismatch for {self.label}"
            )


def _verify_revision(
    revision: object,
    report: _Reporter,
    expected_hash: bytes | None,
    deleted_rules: Collection[DeletedRevisionRule],
) -> bytes | None:
    """Check one revision; return its stored hash (``None`` if unusable)."""
    if not isinstance(revision, Mapping):
        report.add(FailureKind.MALFORMED, "revision is not a struct")
        return None
    rev = _Revision(revision, report)
    rev.check_address()
    stored = rev.stored_hash()
    if stored is None:
        return None
    if expected_hash is not None and stored != expected_hash:
        rev.fail(
            FailureKind.REVISION_HASH_MISMATCH,
            f"revision hash for {rev.label} differs from the block summary "
            f"({_short(stored)} != {_short(expected_hash)})",
        )
    if not rev.has_metadata:
        # Internal system revision: only its hash exists; the block-level Merkle check
        # covers it.
        return stored
    try:
        rev.recompute(stored, deleted_rules)
    except IonHashError as exc:
        rev.fail(FailureKind.UNHASHABLE, f"revision of {rev.label} cannot be Ion-hashed: {exc}")
    return stored


def verify_revision(
    revision: object,
    *,
    block: BlockAddress | None = None,
    expected_hash: bytes | None = None,
    deleted_rules: Collection[DeletedRevisionRule] = ALL_DELETED_RULES,
) -> list[VerificationFailure]:
    """Verify one revision struct ``{blockAddress?, hash, data?, dataHash?, metadata?}``.

    Checks performed:
        * ``hash`` is a 32-byte blob (and equals ``expected_hash`` when given, e.g. the
          matching ``revisionSummaries[*].hash`` of a stream BLOCK_SUMMARY);
        * user revision: ``hash == dot(IonHash(metadata), IonHash(data))`` (and
          ``dataHash``, if also present, equals ``IonHash(data)``);
        * redacted revision: ``hash == dot(IonHash(metadata), dataHash)``;
        * deleted revision (no data, no dataHash): ``hash`` equals one of the accepted
          :class:`DeletedRevisionRule` candidates (see :func:`match_deleted_revision`);
        * ``blockAddress`` (if present) equals ``block`` (if given).

    A system revision (hash only, no metadata) cannot be recomputed; only its shape is
    checked here (its hash is covered by :func:`verify_block`'s Merkle check).

    Args:
        revision: The revision struct (stream ``payload.revision`` or an export block's
            ``revisions[i]``).
        block: Address of the containing block; defaults to the revision's own
            ``blockAddress``. Used to name the block in messages.
        expected_hash: Hash the revision must carry, if known.
        deleted_rules: Deleted-revision candidates accepted as valid.

    Returns:
        The failures found; empty if the revision verifies.
    """
    address = block if block is not None else block_address(_get(revision, "blockAddress"))
    report = _Reporter(address)
    _verify_revision(revision, report, expected_hash, deleted_rules)
    return report.failures


# ------------------------------------------------------------------------------ blocks


def _hash_list(value: object) -> list[bytes] | None:
    if not isinstance(value, (list, tuple)):
        return None
    hashes: list[bytes] = []
    for item in value:
        h = _as_hash(item)
        if h is None:
            return None
        hashes.append(h)
    return hashes


def _check_header(block: Mapping[Any, Any], report: _Reporter) -> list[bytes] | None:
    """Check entriesHash and blockHash; return the entries list if well-formed."""
    fields: dict[str, bytes] = {}
    for name in ("blockHash", "entriesHash", "previousBlockHash"):
        raw = _get(block, name)
        h = _as_hash(raw)
        first_block = report.address is not None and report.address.sequence_no == 0
        if h is None and name == "previousBlockHash" and _is_null(raw) and first_block:
            h = b""  # the first block of a strand has no predecessor
        if h is None:
            kind = FailureKind.MISSING_FIELD if _is_null(raw) else FailureKind.MALFORMED
            report.add(kind, f"{name} is missing or not a 32-byte blob")
        else:
            fields[name] = h

    entries = _hash_list(_get(block, "entriesHashList"))
    if entries is None:
        report.add(FailureKind.MALFORMED, "entriesHashList is missing or not a list of hashes")
    elif "entriesHash" in fields and merkle_root(entries) != fields["entriesHash"]:
        report.add(
            FailureKind.ENTRIES_HASH_MISMATCH,
            "entriesHash does not match the Merkle root of entriesHashList",
        )
    header_complete = len(fields) == 3  # blockHash, entriesHash and previousBlockHash
    if (
        header_complete
        and dot(fields["entriesHash"], fields["previousBlockHash"]) != fields["blockHash"]
    ):
        report.add(
            FailureKind.BLOCK_HASH_MISMATCH,
            "blockHash does not equal dot(entriesHash, previousBlockHash)",
        )
    return entries


def _check_transaction_info(
    block: Mapping[Any, Any], entries: set[bytes], report: _Reporter
) -> None:
    transaction_info = _get(block, "transactionInfo")
    if _is_null(transaction_info):
        return
    try:
        if ion_hash(transaction_info) not in entries:
            report.add(
                FailureKind.TRANSACTION_INFO_NOT_IN_ENTRIES,
                "IonHash(transactionInfo) is not in entriesHashList",
            )
    except IonHashError as exc:
        report.add(FailureKind.UNHASHABLE, f"transactionInfo cannot be Ion-hashed: {exc}")


class _RevisionHashes:
    """Revision hashes of a block in block order, plus the summary hashes per document."""

    def __init__(self) -> None:
        self.hashes: list[bytes] | None = None
        self.by_document: dict[str, set[bytes]] = {}
        self.revisions: list[Any] | tuple[Any, ...] = ()
        self.has_summaries = False

    def documents(self) -> list[str]:
        """The document ids of the block, sorted (for a failure message: computed on demand)."""
        if self.has_summaries:
            return sorted(self.by_document)
        ids = (_as_str(_get(_get(r, "metadata"), "id")) for r in self.revisions)
        return sorted({d for d in ids if d is not None})


def _collect_revision_hashes(
    block: Mapping[Any, Any],
    report: _Reporter,
    deleted_rules: Collection[DeletedRevisionRule],
) -> _RevisionHashes:
    """Verify export revisions / read stream summaries; collect their hashes."""
    result = _RevisionHashes()
    revisions = _get(block, "revisions")
    summaries = _get(block, "revisionSummaries")
    if isinstance(revisions, (list, tuple)):
        stored = [_verify_revision(r, report, None, deleted_rules) for r in revisions]
        if all(h is not None for h in stored):
            result.hashes = [h for h in stored if h is not None]
        result.revisions = revisions
    elif isinstance(summaries, (list, tuple)):
        result.has_summaries = True
        hashes: list[bytes] = []
        for i, summary in enumerate(summaries):
            h = _as_hash(_get(summary, "hash"))
            if h is None:
                report.add(
                    FailureKind.MALFORMED, f"revisionSummaries[{i}].hash is not a 32-byte blob"
                )
                return result
            hashes.append(h)
            document_id = _as_str(_get(summary, "documentId"))
            if document_id is not None:
                result.by_document.setdefault(document_id, set()).add(h)
        result.hashes = hashes
    elif not _is_null(revisions) or not _is_null(summaries):
        report.add(FailureKind.MALFORMED, "revisions/revisionSummaries is not a list")
    return result


def _check_revision_details(
    revision_details: Iterable[object],
    collected: _RevisionHashes,
    report: _Reporter,
    deleted_rules: Collection[DeletedRevisionRule],
) -> None:
    for revision in revision_details:
        stored = _verify_revision(revision, report, None, deleted_rules)
        if stored is None or not collected.has_summaries:
            continue
        metadata = _get(revision, "metadata")
        document_id = _as_str(_get(metadata, "id"))
        version = _as_int(_get(metadata, "version"))
        if stored not in collected.by_document.get(document_id or "", set()):
            report.add(
                FailureKind.REVISION_NOT_IN_SUMMARY,
                f"revision hash for {_doc_label(document_id, version)} is not the one "
                "recorded in revisionSummaries",
                document_id,
                version,
            )


def verify_block(
    block: object,
    *,
    revision_details: Iterable[object] = (),
    deleted_rules: Collection[DeletedRevisionRule] = ALL_DELETED_RULES,
) -> list[VerificationFailure]:
    """Verify a journal block (export block) or a stream BLOCK_SUMMARY payload.

    Checks performed:
        * ``entriesHash == MerkleRoot(entriesHashList)``;
        * ``blockHash == dot(entriesHash, previousBlockHash)``;
        * ``IonHash(transactionInfo)`` is a member of ``entriesHashList`` (when
          ``transactionInfo`` is present);
        * ``MerkleRoot(hashes of revisions or revisionSummaries, in block order, system
          revisions included)`` is a member of ``entriesHashList`` (when non-empty);
        * export blocks: every revision in ``revisions`` passes :func:`verify_revision`;
        * stream blocks: every REVISION_DETAILS ``revision`` passed in
          ``revision_details`` passes :func:`verify_revision`, belongs to this block, and
          its hash is the ``revisionSummaries`` hash recorded for its document.

    Not checkable from the block alone: the other (opaque) ``entriesHashList`` entries,
    ``statementDigest`` values (their parameters are not journaled) and the link to the
    previous block (use :class:`ChainVerifier`).

    Args:
        block: Struct with ``blockAddress``, ``blockHash``, ``entriesHash``,
            ``previousBlockHash``, ``entriesHashList``, optional ``transactionInfo`` and
            either ``revisions`` (export) or ``revisionSummaries`` (stream).
        revision_details: ``payload.revision`` structs of the REVISION_DETAILS records of
            this block (stream path).
        deleted_rules: Deleted-revision candidates accepted as valid.

    Returns:
        The failures found; empty if the block verifies.
    """
    if revision_details == () and block_verifies(block, deleted_rules):
        return []  # the same checks, passed (verification.clean_block)
    return _verify_block_in_full(block, revision_details, deleted_rules)


def _verify_block_in_full(
    block: object,
    revision_details: Iterable[object],
    deleted_rules: Collection[DeletedRevisionRule],
) -> list[VerificationFailure]:
    """:func:`verify_block` without the fast path: every check, every failure worded."""
    report = _Reporter(block_address(_get(block, "blockAddress")))
    if not isinstance(block, Mapping):
        report.add(FailureKind.MALFORMED, "block is not a struct")
        return report.failures
    if report.address is None:
        report.add(FailureKind.MISSING_FIELD, "blockAddress is missing or malformed")

    entries = _check_header(block, report)
    entry_set = set(entries) if entries is not None else None
    if entry_set is not None:
        _check_transaction_info(block, entry_set, report)
    collected = _collect_revision_hashes(block, report, deleted_rules)
    if (
        collected.hashes
        and entry_set is not None
        and merkle_root(collected.hashes) not in entry_set
    ):
        documents = collected.documents()
        named = f" (documents: {', '.join(documents)})" if documents else ""
        report.add(
            FailureKind.REVISIONS_ROOT_NOT_IN_ENTRIES,
            f"Merkle root of the revision hashes is not in entriesHashList{named}",
        )
    _check_revision_details(revision_details, collected, report, deleted_rules)
    return report.failures


# ------------------------------------------------------------------------------- chain


class ChainVerifier:
    """Stateful checker of the hash chain across consecutive blocks of one strand.

    Feed blocks in journal order. For each block it checks that the strand is unchanged,
    that ``sequenceNo`` is exactly one more than the previous block's, and that
    ``previousBlockHash`` equals the previous block's ``blockHash``; by default it also
    runs :func:`verify_block`. After any failure the fed block becomes the new reference,
    so one gap or break is reported once rather than cascading. An exact repeat of the
    last block (same address and blockHash, e.g. an at-least-once redelivery) is not a
    chain failure and does not change the state; its contents are still verified.
    """

    def __init__(
        self,
        *,
        previous_address: BlockAddress | None = None,
        previous_block_hash: bytes | None = None,
        deleted_rules: Collection[DeletedRevisionRule] = ALL_DELETED_RULES,
    ) -> None:
        """Create a verifier, optionally anchored at an already-verified block.

        Args:
            previous_address: Address of the last block verified earlier (checkpoint).
            previous_block_hash: ``blockHash`` of that block.
            deleted_rules: Deleted-revision candidates accepted by :func:`verify_block`.
        """
        self._address = previous_address
        self._hash = previous_block_hash
        self._deleted_rules = deleted_rules
        self.blocks_verified = 0

    @property
    def last_address(self) -> BlockAddress | None:
        """Address of the last block fed (or the anchor)."""
        return self._address

    @property
    def last_block_hash(self) -> bytes | None:
        """``blockHash`` of the last block fed (or the anchor)."""
        return self._hash

    def feed(
        self,
        block: object,
        *,
        revision_details: Iterable[object] = (),
        verify_contents: bool = True,
    ) -> list[VerificationFailure]:
        """Check the next block of the chain.

        Args:
            block: Export block or BLOCK_SUMMARY payload (see :func:`verify_block`).
            revision_details: REVISION_DETAILS ``revision`` structs of this block.
            verify_contents: Also run :func:`verify_block` on the block.

        Returns:
            The failures found; empty if the block links correctly (and verifies).
        """
        address = block_address(_get(block, "blockAddress"))
        current_hash = _as_hash(_get(block, "blockHash"))
        if address is not None and address == self._address and current_hash == self._hash:
            # Exact redelivery of the last block: no link to check, contents still are.
            if not verify_contents:
                return []
            return verify_block(
                block, revision_details=revision_details, deleted_rules=self._deleted_rules
            )

        report = _Reporter(address)
        if verify_contents:
            report.failures.extend(
                verify_block(
                    block, revision_details=revision_details, deleted_rules=self._deleted_rules
                )
            )
        if address is not None and self._address is not None:
            self._check_link(block, address, self._address, report)
        if address is not None:
            self._address = address
            self._hash = current_hash
        self.blocks_verified += 1
        return report.failures

    def _check_link(
        self, block: object, address: BlockAddress, previous: BlockAddress, report: _Reporter
    ) -> None:
        prev_text = format_address(previous)
        if address.strand_id != previous.strand_id:
            report.add(
                FailureKind.STRAND_CHANGED,
                f"strand changed from {previous.strand_id} (previous block {prev_text})",
            )
        elif address.sequence_no <= previous.sequence_no:
            report.add(
                FailureKind.OUT_OF_ORDER, f"sequenceNo does not follow previous block {prev_text}"
            )
        elif address.sequence_no > previous.sequence_no + 1:
            missing = address.sequence_no - previous.sequence_no - 1
            report.add(
                FailureKind.SEQUENCE_GAP,
                f"{missing} block(s) missing after previous block {prev_text}",
            )
        elif self._hash is not None and _as_hash(_get(block, "previousBlockHash")) != self._hash:
            report.add(
                FailureKind.CHAIN_BROKEN,
                f"previousBlockHash does not match blockHash of block {prev_text}",
            )
