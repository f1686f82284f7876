"""The ledger digest of a simulated journal, with proofs, as the files a user would have saved.

``qldb-cdc simulate OUT --digest`` writes, next to the export (keys relative to OUT):

* :data:`DIGEST_FILE`: what ``aws qldb get-digest`` prints: ``Digest`` (base64) and
  ``DigestTipAddress.IonText`` (the last block of the journal);
* :data:`BLOCK_PROOF_FILE`: what ``aws qldb get-block --digest-tip-address`` prints for the tip
  block: ``Block.IonText`` and ``Proof.IonText``;
* :data:`REVISION_PROOF_FILE`: what ``aws qldb get-revision`` prints for the last user revision
  that has data (absent when there is none);
* ``<prefix><exportId>.<strandId>.proofs.json`` per export: the proofs file of the QLDB migration
  sample for the export's last block, against the same digest.

The simulated digest is the :func:`~verification.qldb_hashes.merkle_root` of every block hash,
in journal order (QLDB documents only that the digest covers the whole journal up to its tip; the
real proofs of the AWS CLI examples fold the same way). Every proof folds with ``dot`` to the
digest (:func:`verification.digest.merkle_path`).

Pure: :meth:`DigestRecorder.files` returns the bytes; the simulator's CLI writes them. Memory: 32
bytes of block hash and 8 bytes of timestamp per block, plus the last block with a revision.
"""

from __future__ import annotations

import json
from array import array
from typing import TYPE_CHECKING, Any

from amazon.ion import simpleion

from simulation import timestamps
from verification.digest import b64, merkle_path
from verification.qldb_hashes import HASH_LENGTH, merkle_root

if TYPE_CHECKING:
    from simulation.export_writer import ExportLayout
    from simulation.ledger import Block

DIGEST_FILE = "digest.json"
BLOCK_PROOF_FILE = "block-proof.json"
REVISION_PROOF_FILE = "revision-proof.json"


def _address_text(strand_id: str, sequence_no: int) -> str:
    return f'{{strandId:"{strand_id}",sequenceNo:{sequence_no}}}'


def _ion_text(value: Any) -> str:
    text: str = simpleion.dumps(value, binary=False, omit_version_marker=True)
    return text


def _proof_text(hashes: list[bytes]) -> str:
    return "[" + ",".join(f"{{{{{b64(h)}}}}}" for h in hashes) + "]"


def _json(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=4) + "\n").encode("utf-8")


class DigestRecorder:
    """Sees every block as it is written; then gives the digest and proof files."""

    def __init__(self) -> None:
        """Start with no block."""
        self._hashes = bytearray()
        self._times = array("q")
        self._tip: Block | None = None
        self._revision_block: Block | None = None

    def observe(self, block: Block) -> None:
        """Record one block, in journal order."""
        self._hashes += block["blockHash"]
        self._times.append(_millis(block))
        self._tip = block
        if any("data" in r and "metadata" in r for r in block.get("revisions", ())):
            self._revision_block = block

    def _leaves(self) -> list[bytes]:
        data = bytes(self._hashes)
        return [data[i : i + HASH_LENGTH] for i in range(0, len(data), HASH_LENGTH)]

    def files(self, layout: ExportLayout) -> dict[str, bytes]:
        """Key (relative to OUT) -> content of every file (see the module docstring)."""
        tip = self._tip
        if tip is None:  # pragma: no cover - write_export always writes a block
            return {}
        leaves = self._leaves()
        strand = layout.strand_id
        tip_seq = len(leaves) - 1
        digest = merkle_root(leaves)
        tip_text = _address_text(strand, tip_seq)
        files = {
            DIGEST_FILE: _json({"Digest": b64(digest), "DigestTipAddress": {"IonText": tip_text}}),
            BLOCK_PROOF_FILE: _json(
                {
                    "Block": {"IonText": _ion_text(tip)},
                    "Proof": {"IonText": _proof_text(merkle_path(leaves, tip_seq))},
                }
            ),
        }
        if self._revision_block is not None:
            files[REVISION_PROOF_FILE] = self._revision_proof(self._revision_block, leaves)
        for export in layout.exports:
            prefix = export.completed_manifest.removesuffix(
                f"{export.export_id}.{strand}.completed.manifest"
            )
            last = export.last_sequence_no
            stamp = timestamps.millis(self._times[last])
            proofs = {
                "Ledger": layout.ledger_name,
                "Digest": b64(digest),
                "DigestTipAddress": {"strandId": strand, "sequenceNo": tip_seq},
                "Export": export.export_id,
                "LastBlockNum": last,
                "LastBlockTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "Proof": [b64(h) for h in merkle_path(leaves, last)],
            }
            files[f"{prefix}{export.export_id}.{strand}.proofs.json"] = _json(proofs)
        return files

    def _revision_proof(self, block: Block, leaves: list[bytes]) -> bytes:
        revisions = block["revisions"]
        index = max(i for i, r in enumerate(revisions) if "data" in r and "metadata" in r)
        revision_hashes = [r["hash"] for r in revisions]
        entries = block["entriesHashList"]
        root_index = entries.index(merkle_root(revision_hashes))
        seq = int(block["blockAddress"]["sequenceNo"])
        proof = (
            merkle_path(revision_hashes, index)
            + merkle_path(entries, root_index)
            + [block["previousBlockHash"]]
            + merkle_path(leaves, seq)
        )
        return _json(
            {
                "Revision": {"IonText": _ion_text(revisions[index])},
                "Proof": {"IonText": _proof_text(proof)},
            }
        )


def _millis(block: Block) -> int:
    delta = block["blockTimestamp"] - timestamps.millis(0)
    return int(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)
