"""``qldb-cdc verify --digest``: an export anchored to a ledger digest, end to end.

Simulated exports carry their own digest and proofs (``qldb-cdc simulate --digest``); the real
ones are the digest, block 100, its revision and both proofs AWS published in the AWS CLI
examples (``tests/fixtures/aws-cli-qldb-proof/``, see its README). No real proofs file of the
migration sample was found; the one used here is built from those real values.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from consumers.cli import main
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "aws-cli-qldb-proof"
REAL_STRAND = "KmA3ZZca7vAIiJAK9S5Iwl"
REAL_DIGEST = "6m6BMXobbJKpMhahwVthAEsN6awgnHK62Qq5McGP1Gk="


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()  # what ran before (a simulate) is not this command's output
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def _simulate(out: Path, *extra: str) -> dict[str, object]:
    argv = ["simulate", str(out), "--documents", "8", "--revisions", "60", "--digest"]
    assert main([*argv, "--format", "ion_text", "--blocks-per-object", "9", *extra]) == 0
    digest: dict[str, object] = json.loads((out / "digest.json").read_text())
    return digest


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "out"
    _simulate(out, "--exports", "2", "--prefix", "exports/")
    return out


def _copy(simulated: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(simulated, target)
    return target


def _tip(simulated: Path) -> tuple[str, int, str]:
    digest = json.loads((simulated / "digest.json").read_text())
    text = digest["DigestTipAddress"]["IonText"]
    strand = text.split('"')[1]
    seq = int(text.rsplit(":", 1)[1].rstrip("}"))
    return strand, seq, digest["Digest"]


# ------------------------------------------------------------------------------- it works


@pytest.mark.parametrize("proof", ["block-proof.json", "revision-proof.json"])
def test_a_simulated_export_folds_to_its_digest(
    simulated: Path, proof: str, capsys: pytest.CaptureFixture[str]
) -> None:
    strand, tip, digest = _tip(simulated)
    code, out, err = _run(
        capsys,
        str(simulated),
        "--digest",
        str(simulated / "digest.json"),
        "--proof",
        str(simulated / proof),
    )
    assert (code, err) == (0, "")
    assert out[0].startswith("verify: OK;")
    assert out[1].startswith(f"digest: OK; blocks 0-{tip} of strand {strand} are exactly the ")
    assert f"digest {digest} (tip {strand}/{tip};" in out[1]
    assert out[2].startswith(f"digest: not proven: any block after {tip};")
    assert "only as trustworthy as the place it was kept" in out[2]


def test_the_proofs_files_in_the_export_prefix_are_found(
    simulated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strand, tip, digest = _tip(simulated)
    found = sorted(simulated.glob("exports/*.proofs.json"))
    assert len(found) == 2
    lasts = sorted(json.loads(p.read_text())["LastBlockNum"] for p in found)
    assert lasts[-1] == tip
    code, out, err = _run(capsys, str(simulated))
    assert (code, err) == (0, "")
    oks = [line for line in out if line.startswith("digest: OK;")]
    assert len(oks) == 2
    assert any(f"blocks 0-{lasts[0]} of strand {strand}" in line for line in oks)
    assert all(f"digest {digest}" in line and ".proofs.json)" in line for line in oks)


def test_the_migration_samples_malformed_proofs_name_is_found(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(simulated, tmp_path)
    for proofs in copy.glob("exports/*.proofs.json"):
        export_id, strand = proofs.name.split(".")[:2]
        manifest = f"{export_id}.{strand}.completed.manifest"
        proofs.rename(proofs.with_name(f"{manifest}{proofs.name}"))
    code, out, _ = _run(capsys, str(copy))
    assert code == 0
    assert sum(line.startswith("digest: OK;") for line in out) == 2


def test_a_digest_tip_after_the_exported_blocks_says_what_is_not_proven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The proof of the first export's last block, with the second export gone."""
    out = tmp_path / "sim"
    _simulate(out, "--exports", "2")
    manifests = sorted(out.glob("*.completed.manifest"))
    proofs = sorted(out.glob("*.proofs.json"))
    last_blocks = {p: json.loads(p.read_text())["LastBlockNum"] for p in proofs}
    late = max(last_blocks, key=last_blocks.__getitem__)
    late_id = late.name.split(".")[0]
    for path in [*manifests, *proofs]:
        if path.name.startswith(late_id):
            path.unlink()
    shutil.rmtree(out / late_id)
    (out / f"{late_id}.started.manifest").unlink()
    early = min(last_blocks.values())
    code, lines, _ = _run(capsys, str(out))
    assert code == 0
    assert lines[1].startswith(f"digest: OK; blocks 0-{early} ")
    assert lines[2].startswith(f"digest: not proven: any block after {early};")


# ------------------------------------------------------------------- it fails: exit 1


def _one_fail(out: list[str]) -> str:
    fails = [line for line in out if line.startswith("FAIL digest: ")]
    assert len(fails) == 1, out
    return fails[0]


def test_a_changed_proof_hash_is_exit_1_naming_block_and_digest(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strand, tip, digest = _tip(simulated)
    value = json.loads((simulated / "block-proof.json").read_text())
    text = value["Proof"]["IonText"]
    first = text[3:47]
    changed = base64.b64encode(bytes(32)).decode()
    value["Proof"]["IonText"] = text.replace(first, changed, 1)
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(value))
    code, out, err = _run(
        capsys, str(simulated), "--digest", str(simulated / "digest.json"), "--proof", str(proof)
    )
    assert (code, err) == (1, "")
    line = _one_fail(out)
    assert f"block {strand}/{tip} does not match digest {digest} (tip {strand}/{tip})" in line
    assert out[-1].startswith("verify: 1 problems;")


def test_a_changed_digest_is_exit_1(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = json.loads((simulated / "digest.json").read_text())
    value["Digest"] = base64.b64encode(b"\x80" * 32).decode()
    digest = tmp_path / "digest.json"
    digest.write_text(json.dumps(value))
    code, out, _ = _run(
        capsys,
        str(simulated),
        "--digest",
        str(digest),
        "--proof",
        str(simulated / "revision-proof.json"),
    )
    assert code == 1
    assert f"does not match digest {value['Digest']}" in _one_fail(out)


def test_a_changed_proofs_file_found_in_the_prefix_is_exit_1(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(simulated, tmp_path)
    proofs = sorted(copy.glob("exports/*.proofs.json"))[0]
    value = json.loads(proofs.read_text())
    value["Proof"] = value["Proof"][:-1]
    proofs.write_text(json.dumps(value))
    code, out, _ = _run(capsys, str(copy))
    assert code == 1
    assert f"block {value['DigestTipAddress']['strandId']}/{value['LastBlockNum']}" in _one_fail(
        out
    )
    assert sum(line.startswith("digest: OK;") for line in out) == 1


def test_a_changed_block_in_the_export_is_exit_1(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Change one value of the tip block: its revision or block hash no longer holds."""
    copy = _copy(simulated, tmp_path)
    strand, tip, _ = _tip(simulated)
    (obj,) = copy.glob(f"exports/*/{strand}.*-{tip}.ion")
    text = obj.read_text()
    changed = text.replace('statement:"', 'statement:"X', 1)
    assert changed != text
    obj.write_text(changed)
    code, out, _ = _run(
        capsys,
        str(copy),
        "--digest",
        str(copy / "digest.json"),
        "--proof",
        str(copy / "block-proof.json"),
    )
    assert code == 1
    assert any(line.startswith("FAIL ") for line in out)


def test_a_replaced_block_hash_in_the_export_fails_the_digest(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tip block rebuilt with other entries (self-consistent hashes) only the digest catches."""
    from amazon.ion import simpleion

    from verification.qldb_hashes import dot, merkle_root

    copy = _copy(simulated, tmp_path)
    strand, tip, digest = _tip(simulated)
    (obj,) = copy.glob(f"exports/*/{strand}.*-{tip}.ion")
    lines = obj.read_text().splitlines()
    block = simpleion.loads(lines[-1])
    entries = list(block["entriesHashList"])
    entries[0] = bytes(32)
    block["entriesHashList"] = entries
    block["entriesHash"] = merkle_root(entries)
    block["blockHash"] = dot(block["entriesHash"], block["previousBlockHash"])
    lines[-1] = simpleion.dumps(block, binary=False, omit_version_marker=True)
    obj.write_text("\n".join(lines) + "\n")
    code, out, _ = _run(
        capsys,
        str(copy),
        "--digest",
        str(copy / "digest.json"),
        "--proof",
        str(copy / "block-proof.json"),
    )
    assert code == 1
    line = _one_fail(out)
    assert f"block {strand}/{tip} does not match digest {digest}" in line
    assert "the block in" in line and "has blockHash" in line
    assert not [x for x in out if x.startswith("FAIL ") and not x.startswith("FAIL digest")]


# ------------------------------------------------------------- user mistakes: exit 2


def _mistake(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2, (out, err)
    assert out == []
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_file_mistakes_are_one_line_exit_2(
    simulated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, digest, proof = (
        str(simulated),
        str(simulated / "digest.json"),
        str(simulated / "block-proof.json"),
    )
    not_json = tmp_path / "not.json"
    not_json.write_text("{Digest:")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"Digest": "AAAA", "DigestTipAddress": {"IonText": "{}"}}')
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = {
        "cannot read --digest": ("--digest", str(tmp_path / "missing.json"), "--proof", proof),
        "is not JSON": ("--digest", str(not_json), "--proof", proof),
        "Digest is not the base64 of 32 bytes": ("--digest", str(wrong), "--proof", proof),
        "cannot read --proof": ("--digest", digest, "--proof", str(folder)),
        "--proof needs --digest": ("--proof", proof),
        "holds no proof: add --proof": ("--digest", digest),
        "pass it as --proof": ("--digest", proof, "--proof", digest),
        # a device or FIFO has no size to check first: reading stops at the bound
        "is larger than": ("--digest", "/dev/zero", "--proof", proof),
    }
    for expected, options in cases.items():
        assert expected in _mistake(capsys, src, *options), expected
    proofs = sorted(simulated.glob("exports/*.proofs.json"))[0]
    assert "drop --proof" in _mistake(capsys, src, "--digest", str(proofs), "--proof", proof)


def test_a_digest_of_another_ledger_is_exit_2(
    simulated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _mistake(
        capsys,
        str(simulated),
        "--digest",
        str(REAL / "digest.json"),
        "--proof",
        str(REAL / "block-proof.json"),
    )
    strand, _, _ = _tip(simulated)
    assert f"is of strand {REAL_STRAND}, but the export is of strand {strand}" in err


def test_a_proof_of_a_block_the_export_does_not_hold_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real block 100 is the only block of the real export: a proof of block 101 is not."""
    value = json.loads((REAL / "block-proof.json").read_text())
    value["Block"]["IonText"] = value["Block"]["IonText"].replace(
        "sequenceNo:100}", "sequenceNo:101}", 1
    )
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(value))
    err = _mistake(
        capsys, str(REAL / "export"), "--digest", str(REAL / "digest.json"), "--proof", str(proof)
    )
    assert "proves block 101, but the export holds blocks 100-100" in err


def test_a_get_digest_output_named_like_a_proofs_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    shutil.copytree(REAL / "export", export)
    shutil.copy(REAL / "digest.json", export / "x.proofs.json")
    assert "is a get-digest output, not a proofs file" in _mistake(capsys, str(export))


# ------------------------------------------------------------------- real AWS values


@pytest.mark.parametrize("proof", ["block-proof.json", "revision-proof.json"])
def test_the_real_aws_block_folds_to_the_real_digest(
    proof: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        str(REAL / "export"),
        "--digest",
        str(REAL / "digest.json"),
        "--proof",
        str(REAL / proof),
    )
    assert (code, err) == (0, "")
    assert out[1].startswith(f"digest: OK; block 100 of strand {REAL_STRAND} is exactly the block")
    assert f"digest {REAL_DIGEST} (tip {REAL_STRAND}/123;" in out[1]
    assert out[2].startswith("digest: not proven: any block after 100, blocks 0-99")


def _real_proofs_file() -> dict[str, object]:
    """The migration sample's proofs file for the real export, built from the real values."""
    block = json.loads((REAL / "block-proof.json").read_text())
    hashes = block["Proof"]["IonText"].strip("[]").split(",")
    return {
        "Ledger": "vehicle-registration",
        "Digest": REAL_DIGEST,
        "DigestTipAddress": {"strandId": REAL_STRAND, "sequenceNo": 123},
        "Export": "AwsCliExampleBlock100",
        "LastBlockNum": 100,
        "LastBlockTimestamp": "2019-09-16T19:37:05.360000Z",
        "Proof": [h.strip("{}") for h in hashes],
    }


def test_a_proofs_file_of_the_real_values_is_found_and_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    shutil.copytree(REAL / "export", export)
    name = f"AwsCliExampleBlock100.{REAL_STRAND}.completed.manifestAwsCliExampleBlock100"
    (export / f"{name}.{REAL_STRAND}.proofs.json").write_text(json.dumps(_real_proofs_file()))
    code, out, _ = _run(capsys, str(export))
    assert code == 0
    assert out[1].startswith("digest: OK; block 100 ")


def test_proofs_files_are_found_in_an_s3_prefix(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws_client("s3")
    bucket = unique_name("digest")
    s3.create_bucket(Bucket=bucket)
    for path in (REAL / "export").iterdir():
        body = path.read_bytes().replace(b'["', b'["exports/')  # manifests hold full S3 keys
        s3.put_object(Bucket=bucket, Key=f"exports/{path.name}", Body=body)
    s3.put_object(
        Bucket=bucket,
        Key=f"exports/AwsCliExampleBlock100.{REAL_STRAND}.proofs.json",
        Body=json.dumps(_real_proofs_file()).encode(),
    )
    code, out, err = _run(capsys, f"s3://{bucket}/exports/")
    assert (code, err) == (0, "")
    assert out[1].startswith("digest: OK; block 100 ")
    assert f"exports/AwsCliExampleBlock100.{REAL_STRAND}.proofs.json)" in out[1]
