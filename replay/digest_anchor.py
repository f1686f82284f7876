"""``qldb-cdc verify --digest``: anchor an export to a ledger digest (the I/O edge).

The digest and proof come from the files given (``--digest`` with ``--proof``, or one proofs
file), or, when none is given, from every ``*.proofs.json`` at the source (the files the AWS
migration sample writes next to its exports), read through the export store and confined like
every other key.

Guarantees:

* Before any data object is read, every anchor is checked against the plan: the digest's strand
  is the export's, and the block proven is in the export. Each mistake is one
  :class:`~core.errors.UserInputError` line (exit 2) saying what to change.
* After the hash chain is verified, each proof is folded from the export's own ``blockHash`` of
  the block proven (a revision proof must pass through it). A fold that does not end at the
  digest is one problem (exit 1) naming the block and the digest.
* The report says exactly what was proven: blocks F..M of the strand (F, the start of the
  verified chain that holds M; M, the block proven) are what the ledger had committed when it
  issued the digest, as long as the chain verification found no problem. It also says what was
  not: blocks after M, blocks before F, and the digest itself, which is only as trustworthy as
  the place it was kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserInputError
from exports.plan import ExportPlan
from exports.store import ExportStore
from replay.verify import VerifyResult
from schemas.qldb_digest import (
    MAX_FILE_BYTES,
    DigestAnchor,
    LedgerDigest,
    ProofKind,
    pair,
    parse_digest_file,
    parse_proof_file,
)
from verification.digest import AnchorCheck, b64, check_block, check_revision

__all__ = ["DigestAnchors", "check_anchors", "load_anchors"]


@dataclass(frozen=True, slots=True)
class DigestAnchors:
    """The anchors to check, and the found files that were left out (with why)."""

    anchors: tuple[DigestAnchor, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    @property
    def blocks(self) -> frozenset[int]:
        """Sequence numbers of the blocks whose hashes the fold starts from."""
        return frozenset(a.proof.block.sequence_no for a in self.anchors)


def load_anchors(
    store: ExportStore, plan: ExportPlan, digest: Path | None, proof: Path | None
) -> DigestAnchors:
    """Read the anchors (see the module docstring) and check them against ``plan``.

    Raises:
        UserInputError: An unreadable or malformed file, ``--proof`` without ``--digest``, a
            get-digest output without ``--proof``, a proofs file with one, a digest of another
            strand, or a proof of a block the export does not hold.
    """
    if digest is None:
        if proof is not None:
            msg = "--proof needs --digest FILE (the output of `aws qldb get-digest`)"
            raise UserInputError(msg)
        return _found(store, plan)
    parsed = parse_digest_file(_read(digest, "--digest"), str(digest))
    if isinstance(parsed, DigestAnchor):
        if proof is not None:
            msg = f"{digest} is a proofs file, which holds its proof: drop --proof {proof}"
            raise UserInputError(msg)
        anchor = parsed
    else:
        if proof is None:
            msg = (
                f"{digest} is a get-digest output, which holds no proof: add --proof FILE, the "
                "output of `aws qldb get-block` (or get-revision) run with --digest-tip-address"
            )
            raise UserInputError(msg)
        anchor = pair(parsed, parse_proof_file(_read(proof, "--proof"), str(proof)))
    _check_against(anchor, plan)
    return DigestAnchors((anchor,))


def check_anchors(anchoring: DigestAnchors, plan: ExportPlan, result: VerifyResult) -> None:
    """Fold every proof from the export's block hash; record problems and notes in ``result``."""
    result.notes.extend(f"digest: skipped {why}" for why in anchoring.skipped)
    if not anchoring.anchors:
        return
    failed = 0
    highest = -1
    for anchor in anchoring.anchors:
        check = _check(anchor, result)
        if check.ok:
            result.notes.append(_proven(anchor, plan, chain_ok=result.problems_total == failed))
            highest = max(highest, anchor.proof.block.sequence_no)
        else:
            result.problems.insert(failed, f"digest: {check.problem} (proof: {anchor.sources})")
            result.problems_total += 1
            failed += 1
    if highest >= 0:
        result.notes.append(_not_proven(plan, highest))


def _found(store: ExportStore, plan: ExportPlan) -> DigestAnchors:
    strand = _strand(plan)
    anchors: list[DigestAnchor] = []
    skipped: list[str] = []
    for key in store.proof_keys():
        size = store.size(key)
        if size is not None and size > MAX_FILE_BYTES:
            skipped.append(f"{key}: larger than {MAX_FILE_BYTES} bytes, not a proofs file")
            continue
        parsed = parse_digest_file(store.read_bytes(key), key)
        if not isinstance(parsed, DigestAnchor):
            msg = (
                f"{key} in {store.describe()} is a get-digest output, not a proofs file: "
                "rename it (it must not end in .proofs.json) and pass it as --digest with --proof"
            )
            raise UserInputError(msg)
        if parsed.digest.tip.strand_id != strand:
            skipped.append(f"{key}: of strand {parsed.digest.tip.strand_id}, not {strand}")
            continue
        _check_against(parsed, plan)
        anchors.append(parsed)
    return DigestAnchors(tuple(anchors), tuple(skipped))


def _read(path: Path, option: str) -> bytes:
    too_large = f"{option} {path} is larger than {MAX_FILE_BYTES} bytes: not a digest or proof"
    try:
        with path.open("rb") as file:  # read at most the bound: /dev/zero or a FIFO has no size
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"cannot read {option} {path}: {exc.strerror or exc}"
        raise UserInputError(msg) from None
    if len(data) > MAX_FILE_BYTES:
        raise UserInputError(too_large)
    return data


def _strand(plan: ExportPlan) -> str:
    if not plan.objects:
        msg = "the export holds no blocks: there is nothing to anchor to a digest"
        raise UserInputError(msg)
    return plan.objects[0].range.strand_id


def _span(plan: ExportPlan) -> tuple[int, int]:
    return (
        min(o.range.first for o in plan.objects),
        max(o.range.last for o in plan.objects),
    )


def _check_against(anchor: DigestAnchor, plan: ExportPlan) -> None:
    strand = _strand(plan)
    digest, proof = anchor.digest, anchor.proof
    if digest.tip.strand_id != strand:
        msg = (
            f"the digest in {digest.source} is of strand {digest.tip.strand_id}, but the export "
            f"is of strand {strand}: use a digest of the ledger this export comes from"
        )
        raise UserInputError(msg)
    first, last = _span(plan)
    seq = proof.block.sequence_no
    if not first <= seq <= last:
        msg = (
            f"{proof.source} proves block {seq}, but the export holds blocks {first}-{last}: get "
            f'a proof of block {last} (--block-address \'{{IonText: "{{strandId:\\"{strand}\\",'
            f"sequenceNo:{last}}}\"}}')"
        )
        raise UserInputError(msg)


def _check(anchor: DigestAnchor, result: VerifyResult) -> AnchorCheck:
    digest: LedgerDigest = anchor.digest
    proof = anchor.proof
    block_hash = result.block_hashes.get(proof.block.sequence_no)
    if block_hash is None:  # the object names promised the block, but no object held it
        problem = (
            f"block {proof.block.strand_id}/{proof.block.sequence_no} is in no data object of "
            f"the export, so it cannot be checked against digest {b64(digest.digest)}"
        )
        return AnchorCheck(proof.block, digest.digest, digest.tip, None, problem)
    if proof.kind is ProofKind.REVISION and proof.leaf is not None:
        return check_revision(
            proof.leaf,
            block_hash,
            block=proof.block,
            proof=proof.hashes,
            digest=digest.digest,
            tip=digest.tip,
        )
    check = check_block(
        block_hash, block=proof.block, proof=proof.hashes, digest=digest.digest, tip=digest.tip
    )
    if not check.ok and proof.leaf is not None and proof.leaf != block_hash:
        differs = (
            f"; the block in {proof.source} has blockHash {b64(proof.leaf)}, the export's "
            f"{b64(block_hash)}"
        )
        return AnchorCheck(
            check.block, check.digest, check.tip, check.computed, (check.problem or "") + differs
        )
    return check


def _chain_start(plan: ExportPlan, seq: int) -> int:
    starts = [o.range.first for o in plan.objects if o.key in plan.chain_starts]
    return max((s for s in starts if s <= seq), default=_span(plan)[0])


def _proven(anchor: DigestAnchor, plan: ExportPlan, *, chain_ok: bool) -> str:
    digest, proof = anchor.digest, anchor.proof
    block = proof.block
    tip = f"tip {digest.tip.strand_id}/{digest.tip.sequence_no}"
    document = f" (document {proof.document_id})" if proof.document_id else ""
    how = f"{proof.kind.value} proof{document} of block {block.sequence_no} in {anchor.sources}"
    if not chain_ok:
        return (
            f"digest: block {block.strand_id}/{block.sequence_no} folds to digest "
            f"{b64(digest.digest)} ({tip}; {how}), but the problems above mean the export's "
            "blocks are not proven"
        )
    first = _chain_start(plan, block.sequence_no)
    blocks = (
        f"block {first} of strand {block.strand_id} is exactly the block"
        if first == block.sequence_no
        else f"blocks {first}-{block.sequence_no} of strand {block.strand_id} are exactly the "
        "blocks"
    )
    return (
        f"digest: OK; {blocks} the ledger had committed when it issued digest "
        f"{b64(digest.digest)} ({tip}; {how})"
    )


def _not_proven(plan: ExportPlan, highest: int) -> str:
    first, last = _span(plan)
    after = (
        f"blocks {highest + 1}-{last} of this export and any block after them"
        if last > highest
        else f"any block after {highest}"
    )
    before = f", blocks 0-{first - 1} (not in this export)" if first > 0 else ""
    return (
        f"digest: not proven: {after}{before}; and a digest is only as trustworthy as the place "
        "it was kept (compare it with a copy kept elsewhere)"
    )
