"""``qldb-cdc simulate --digest``: the digest of the tip and proofs that fold to it."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from consumers.cli import main
from schemas.qldb_digest import (
    DigestAnchor,
    LedgerDigest,
    ProofKind,
    parse_digest_file,
    parse_proof_file,
)
from simulation.config import SimulationConfig
from simulation.ledger import generate_blocks
from verification.digest import fold
from verification.qldb_hashes import merkle_root


def _simulate(out: Path, *extra: str) -> tuple[int, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["simulate", str(out), "--documents", "5", "--revisions", "40", "--seed", "7"]
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main([*argv, *extra])
    assert stderr.getvalue() == ""
    return code, stdout.getvalue()


@pytest.mark.parametrize("fmt", ["ion_binary", "ion_text", "json"])
def test_the_digest_is_the_merkle_root_of_every_block_hash(tmp_path: Path, fmt: str) -> None:
    code, out = _simulate(tmp_path, "--digest", "--format", fmt, "--exports", "3")
    assert code == 0
    assert out.rstrip().endswith("; digest of the tip in digest.json")
    config = SimulationConfig(documents=5, revisions=40, seed=7)
    hashes = [bytes(b["blockHash"]) for b in generate_blocks(config)]
    digest = parse_digest_file((tmp_path / "digest.json").read_bytes(), "digest.json")
    assert isinstance(digest, LedgerDigest)
    assert digest.digest == merkle_root(hashes)
    assert digest.tip.sequence_no == len(hashes) - 1

    block = parse_proof_file((tmp_path / "block-proof.json").read_bytes(), "b")
    assert block.kind is ProofKind.BLOCK and block.block == digest.tip
    assert block.leaf == hashes[-1]
    assert fold(hashes[-1], block.hashes) == digest.digest

    revision = parse_proof_file((tmp_path / "revision-proof.json").read_bytes(), "r")
    assert revision.kind is ProofKind.REVISION and revision.leaf is not None
    assert revision.document_id is not None
    assert fold(revision.leaf, revision.hashes) == digest.digest

    proofs = sorted(tmp_path.glob("*.proofs.json"))
    assert len(proofs) == 3
    for path in proofs:
        anchor = parse_digest_file(path.read_bytes(), path.name)
        assert isinstance(anchor, DigestAnchor)
        assert anchor.digest.digest == digest.digest
        seq = anchor.proof.block.sequence_no
        assert fold(hashes[seq], anchor.proof.hashes) == digest.digest
        assert json.loads(path.read_text())["Export"] == path.name.split(".")[0]


def test_without_digest_no_digest_file_is_written_and_the_record_is_unchanged(
    tmp_path: Path,
) -> None:
    assert _simulate(tmp_path)[0] == 0
    assert not (tmp_path / "digest.json").exists()
    assert not list(tmp_path.glob("*.proofs.json"))
    record = json.loads((tmp_path / "qldb-cdc-simulation.json").read_text())
    assert "digest" not in record["parameters"]


def test_a_rerun_with_digest_is_idempotent(tmp_path: Path) -> None:
    assert _simulate(tmp_path, "--digest")[0] == 0
    first = (tmp_path / "digest.json").read_bytes()
    code, out = _simulate(tmp_path, "--digest")
    assert code == 0
    assert "already holds this simulation" in out
    assert (tmp_path / "digest.json").read_bytes() == first
