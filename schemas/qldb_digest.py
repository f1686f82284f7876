"""The files a user saves to anchor an export to a ledger digest, parsed into typed frozen values.

Accepted, exactly as the AWS CLI and the AWS migration sample write them (qldb-formats.md §4.5):

* ``aws qldb get-digest`` output: ``{"Digest": <base64>, "DigestTipAddress": {"IonText":
  "{strandId:\\"…\\",sequenceNo:N}"}}`` (:func:`parse_digest_file` gives a :class:`LedgerDigest`);
* ``aws qldb get-block --digest-tip-address …`` output: ``{"Block": {"IonText": <block>},
  "Proof": {"IonText": "[{{<base64>}}, …]"}}``, and ``aws qldb get-revision`` output, with
  ``Revision`` in place of ``Block`` (:func:`parse_proof_file` gives a :class:`LedgerProof`);
* the proofs file that ``aws-samples/example-qldb-ledger-migration`` (``ledger-export.yml``)
  writes per export, ``<exportId>.<strandId>.proofs.json``: ``{"Ledger", "Digest",
  "DigestTipAddress": {"strandId", "sequenceNo"}, "Export", "LastBlockNum",
  "LastBlockTimestamp", "Proof": [<base64>, …]}``; it proves block ``LastBlockNum`` of the tip's
  strand, whose hash it does not hold (:func:`parse_digest_file` gives a :class:`DigestAnchor`).

Guarantees: every hash is exactly 32 bytes (strict base64, or an Ion blob); every sequence number
is an integer in ``0..MAX_INT64``; every strand id is 1 to 64 letters and digits; a proof holds
at most :data:`MAX_PROOF_HASHES` hashes and proves a block at or before the digest's tip, of the
tip's strand (:func:`pair`). Anything else raises :class:`DigestFileError`, a
:class:`~core.errors.UserInputError` (exit 2), with one line naming the file and what to change.
Pure: callers read the bytes.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amazon.ion.core import IonType

from core.errors import CdcError, UserInputError
from core.model import BlockAddress
from schemas import ion_values
from schemas.journal_export import UTF8_BOM
from schemas.limits import MAX_INT64

HASH_LENGTH = 32
MAX_PROOF_HASHES = 256
"""A block proof of a ledger of 2**63 blocks needs at most 63 hashes; a revision proof adds the
climb through its block's revisions and entries trees. More than this is not a QLDB proof."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Digest and proof files larger than this are refused before they are read (a GetBlock output
holds one block: QLDB documents are at most 128 KB, transactions touch at most 40 of them)."""
PROOFS_FILE = re.compile(r"\.proofs\.json$")
"""Names of the migration sample's proofs files. The sample writes them as
``<manifest key><exportId>.<strandId>.proofs.json`` (a manifest key run into the file name),
which still ends so."""
_STRAND_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_TIP_HINT = "save the output of `aws qldb get-digest --name LEDGER` as it is"
_PROOF_HINT = (
    "save the output of `aws qldb get-block` or `aws qldb get-revision` run with "
    "--digest-tip-address as it is"
)


class DigestFileError(UserInputError):
    """A digest, proof or proofs file that cannot be used: a user mistake (exit 2)."""


class ProofKind(enum.Enum):
    """What a proof starts from."""

    BLOCK = "block"
    """A block hash (GetBlock, or the migration sample's proofs file)."""
    REVISION = "revision"
    """A revision hash (GetRevision): the proof climbs the block's trees to its blockHash first."""


@dataclass(frozen=True, slots=True)
class LedgerDigest:
    """A ledger digest and the tip block it covers, as ``GetDigest`` returned them."""

    digest: bytes
    tip: BlockAddress
    source: str
    """Where it was read from (a file name), for messages."""


@dataclass(frozen=True, slots=True)
class LedgerProof:
    """A proof that a block (or a revision of it) is covered by a digest."""

    kind: ProofKind
    block: BlockAddress
    """The block proven: the GetBlock block, the GetRevision revision's block, or
    ``LastBlockNum`` of a proofs file."""
    leaf: bytes | None
    """The hash the proof starts from, as the file holds it: the block's ``blockHash``
    (GetBlock) or the revision's ``hash`` (GetRevision); None for a proofs file."""
    hashes: tuple[bytes, ...]
    source: str
    document_id: str | None = None
    """The revision's document id (GetRevision), when the revision has metadata."""


@dataclass(frozen=True, slots=True)
class DigestAnchor:
    """A digest with a proof of one block of its strand, at or before its tip."""

    digest: LedgerDigest
    proof: LedgerProof

    @property
    def sources(self) -> str:
        """The file(s) the anchor was read from, for messages."""
        if self.digest.source == self.proof.source:
            return self.digest.source
        return f"{self.digest.source} + {self.proof.source}"


def parse_digest_file(data: bytes, source: str) -> LedgerDigest | DigestAnchor:
    """A ``get-digest`` output (a :class:`LedgerDigest`) or a proofs file (a
    :class:`DigestAnchor`, already :func:`pair` ed).

    Raises:
        DigestFileError: Not JSON, or not one of those two shapes (see the module docstring).
    """
    document = _json_object(data, source)
    if "Block" in document or "Revision" in document:
        msg = (
            f"{source} is a get-block/get-revision output: pass it as --proof, and the "
            "get-digest output as --digest"
        )
        raise DigestFileError(msg)
    digest_text = _field(document, "Digest", source, _TIP_HINT)
    tip_value = _field(document, "DigestTipAddress", source, _TIP_HINT)
    digest = _hash_b64(digest_text, f"{source}: Digest")
    if isinstance(tip_value, Mapping) and "IonText" in tip_value:
        tip = _address(_ion(tip_value["IonText"], f"{source}: DigestTipAddress.IonText"), source)
        if "Proof" in document:
            msg = f"{source}: a get-digest output has no Proof; {_TIP_HINT}"
            raise DigestFileError(msg)
        return LedgerDigest(digest, tip, source)
    if not isinstance(tip_value, Mapping):
        msg = f"{source}: DigestTipAddress is not an object; {_TIP_HINT}"
        raise DigestFileError(msg)
    tip = _address(tip_value, f"{source}: DigestTipAddress")
    return _proofs_file(document, LedgerDigest(digest, tip, source), source)


def parse_proof_file(data: bytes, source: str) -> LedgerProof:
    """A ``get-block`` or ``get-revision`` output holding a proof.

    Raises:
        DigestFileError: Not JSON, no ``Proof``, or a malformed block, revision or proof.
    """
    document = _json_object(data, source)
    if "Digest" in document:
        msg = (
            f"{source} holds a Digest, not a get-block/get-revision output: pass it as --digest "
            "(a proofs file needs no --proof)"
        )
        raise DigestFileError(msg)
    proof_holder = _field(document, "Proof", source, _PROOF_HINT)
    hashes = _proof_hashes(
        _ion(_ion_text(proof_holder, f"{source}: Proof"), f"{source}: Proof.IonText"), source
    )
    if "Block" in document:
        block = _ion(_ion_text(document["Block"], f"{source}: Block"), f"{source}: Block.IonText")
        where = f"{source}: Block"
        address = _address(_get(block, "blockAddress", where), f"{where}.blockAddress")
        leaf = _hash_blob(_get(block, "blockHash", where), f"{where}.blockHash")
        return LedgerProof(ProofKind.BLOCK, address, leaf, hashes, source)
    if "Revision" in document:
        revision = _ion(
            _ion_text(document["Revision"], f"{source}: Revision"), f"{source}: Revision.IonText"
        )
        where = f"{source}: Revision"
        address = _address(_get(revision, "blockAddress", where), f"{where}.blockAddress")
        leaf = _hash_blob(_get(revision, "hash", where), f"{where}.hash")
        metadata = revision.get("metadata") if isinstance(revision, Mapping) else None
        document_id = metadata.get("id") if isinstance(metadata, Mapping) else None
        return LedgerProof(
            ProofKind.REVISION,
            address,
            leaf,
            hashes,
            source,
            str(document_id) if isinstance(document_id, str) else None,
        )
    msg = f"{source} has a Proof but neither Block nor Revision; {_PROOF_HINT}"
    raise DigestFileError(msg)


def pair(digest: LedgerDigest, proof: LedgerProof) -> DigestAnchor:
    """The digest with a proof of one of its blocks.

    Raises:
        DigestFileError: The proof is of another strand than the digest's tip, or of a block
            after the tip (it cannot be a proof against that digest).
    """
    tip, block = digest.tip, proof.block
    if block.strand_id != tip.strand_id:
        msg = (
            f"{proof.source} proves a block of strand {block.strand_id}, but the digest in "
            f"{digest.source} is of strand {tip.strand_id}: use a digest and proof of one ledger"
        )
        raise DigestFileError(msg)
    if block.sequence_no > tip.sequence_no:
        msg = (
            f"{proof.source} proves block {block.sequence_no}, after the tip "
            f"{tip.sequence_no} of the digest in {digest.source}: request the proof with "
            "--digest-tip-address set to that digest's DigestTipAddress"
        )
        raise DigestFileError(msg)
    return DigestAnchor(digest, proof)


def _proofs_file(document: Mapping[str, Any], digest: LedgerDigest, source: str) -> DigestAnchor:
    hint = "expected the proofs file of the QLDB migration sample"
    for name in ("Ledger", "Export", "LastBlockTimestamp"):
        if name in document and not isinstance(document[name], str):
            msg = f"{source}: {name} is not a string; {hint}"
            raise DigestFileError(msg)
    last = _sequence_no(_field(document, "LastBlockNum", source, hint), f"{source}: LastBlockNum")
    raw = _field(document, "Proof", source, hint)
    if not isinstance(raw, list):
        msg = f"{source}: Proof is not a list of base64 hashes; {hint}"
        raise DigestFileError(msg)
    _check_count(len(raw), source)
    hashes = tuple(_hash_b64(item, f"{source}: Proof[{i}]") for i, item in enumerate(raw))
    block = BlockAddress(digest.tip.strand_id, last)
    return pair(digest, LedgerProof(ProofKind.BLOCK, block, None, hashes, source))


def _json_object(data: bytes, source: str) -> Mapping[str, Any]:
    if len(data) > MAX_FILE_BYTES:
        msg = f"{source} is larger than {MAX_FILE_BYTES} bytes: not a digest or proof file"
        raise DigestFileError(msg)
    try:
        value = json.loads(data.removeprefix(UTF8_BOM).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = f"{source} is not JSON ({_first_line(exc)}); save the AWS CLI output as it is"
        raise DigestFileError(msg) from None
    if not isinstance(value, dict):
        msg = f"{source} is not a JSON object; save the AWS CLI output as it is"
        raise DigestFileError(msg)
    return value


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _field(document: Mapping[str, Any], name: str, source: str, hint: str) -> Any:
    if name not in document:
        msg = f"{source} has no {name}; {hint}"
        raise DigestFileError(msg)
    return document[name]


def _get(value: Any, name: str, where: str) -> Any:
    if not isinstance(value, Mapping) or name not in value:
        msg = f"{where} has no {name}; {_PROOF_HINT}"
        raise DigestFileError(msg)
    return value[name]


def _ion_text(holder: Any, where: str) -> str:
    text = holder.get("IonText") if isinstance(holder, Mapping) else None
    if not isinstance(text, str):
        msg = f'{where} is not {{"IonText": "..."}}; save the AWS CLI output as it is'
        raise DigestFileError(msg)
    return text


def _ion(text: Any, where: str) -> Any:
    if not isinstance(text, str):
        msg = f"{where} is not a string of Ion text"
        raise DigestFileError(msg)
    try:
        return ion_values.loads(text)
    except CdcError as exc:
        msg = f"{where} is not Ion text: {_first_line(exc)}"
        raise DigestFileError(msg) from None


def _address(value: Any, where: str) -> BlockAddress:
    if not isinstance(value, Mapping):
        msg = f"{where} is not a {{strandId, sequenceNo}} struct"
        raise DigestFileError(msg)
    strand = value.get("strandId")
    if not isinstance(strand, str) or _STRAND_ID.fullmatch(strand) is None:
        msg = f"{where}: strandId is not 1 to 64 letters and digits"
        raise DigestFileError(msg)
    return BlockAddress(str(strand), _sequence_no(value.get("sequenceNo"), f"{where}.sequenceNo"))


def _sequence_no(value: Any, where: str) -> int:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or getattr(value, "ion_type", IonType.INT) is not IonType.INT:
        msg = f"{where} is not an integer"
        raise DigestFileError(msg)
    if not 0 <= value <= MAX_INT64:
        msg = f"{where} {value} is outside 0..{MAX_INT64}"
        raise DigestFileError(msg)
    return int(value)


def _proof_hashes(value: Any, source: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        msg = f"{source}: Proof.IonText is not an Ion list of hashes; {_PROOF_HINT}"
        raise DigestFileError(msg)
    _check_count(len(value), source)
    return tuple(_hash_blob(item, f"{source}: Proof[{i}]") for i, item in enumerate(value))


def _check_count(count: int, source: str) -> None:
    if count > MAX_PROOF_HASHES:
        msg = f"{source}: a proof holds at most {MAX_PROOF_HASHES} hashes, this one {count}"
        raise DigestFileError(msg)


def _hash_blob(value: Any, where: str) -> bytes:
    is_blob = isinstance(value, bytes) and getattr(value, "ion_type", IonType.BLOB) is IonType.BLOB
    if not is_blob or len(value) != HASH_LENGTH:
        msg = f"{where} is not a {HASH_LENGTH}-byte Ion blob"
        raise DigestFileError(msg)
    return bytes(value)


def _hash_b64(value: Any, where: str) -> bytes:
    if isinstance(value, str) and value.isascii():
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) == HASH_LENGTH:
            return decoded
    msg = f"{where} is not the base64 of {HASH_LENGTH} bytes"
    raise DigestFileError(msg)
