"""The export writer: QLDB layout, manifests, formats, splitting, and what readers see."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import pytest

from core.errors import ConfigError
from schemas import journal_export
from schemas.journal import JournalBlock
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export
from simulation.ledger import final_state
from tests.support.simulation_readback import (
    hash_bytes,
    load_manifest,
    naive_replay,
    plain,
    read_export_blocks,
    read_object,
)

CONFIG = SimulationConfig(
    documents=25, revisions=300, seed=4, delete_ratio=0.05, redaction_ratio=0.05
)
EXTENSIONS = {"ion_binary": ".10n", "ion_text": ".ion", "json": ".json"}


@pytest.mark.parametrize("fmt", ["ion_binary", "ion_text", "json"])
def test_layout_round_trips_in_every_format(tmp_path: Path, fmt: str) -> None:
    layout = write_export(tmp_path, CONFIG, fmt, blocks_per_object=37, prefix="exports/")
    (export,) = layout.exports
    completed = load_manifest(tmp_path / export.completed_manifest)
    keys = [str(k) for k in completed["keys"]]
    assert keys == list(export.keys)
    assert len(keys) == -(-layout.totals.blocks // 37)
    next_seq = 0
    for key in keys:
        assert key.startswith(f"exports/{export.export_id}/{layout.strand_id}.")
        assert key.endswith(EXTENSIONS[fmt])
        blocks = read_object(tmp_path / key)
        name_range = journal_export.parse_object_key(key)
        seqs = [int(b["blockAddress"]["sequenceNo"]) for b in blocks]
        assert seqs == list(range(name_range.first, name_range.last + 1))
        assert name_range.first == next_seq
        next_seq = name_range.last + 1
    assert next_seq == layout.totals.blocks
    started = plain(load_manifest(tmp_path / export.started_manifest))
    assert started["exportId"] == export.export_id
    assert started["ledgerName"] == "simulated-ledger"
    assert started["prefix"] == "exports/"
    assert started["outputFormat"] == fmt.upper()
    assert started["objectEncryptionType"] == "SSE_S3"
    assert started["inclusiveStartTime"] < started["exclusiveEndTime"]
    assert not list(tmp_path.rglob("*.partial"))
    data_files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert data_files == {*keys, export.started_manifest, export.completed_manifest}


@pytest.mark.parametrize("fmt", ["ion_binary", "ion_text", "json"])
def test_project_reader_parses_every_block(tmp_path: Path, fmt: str) -> None:
    layout = write_export(tmp_path, CONFIG, fmt, blocks_per_object=50)
    manifest = (tmp_path / layout.exports[0].completed_manifest).read_bytes()
    keys = journal_export.parse_completed_manifest(manifest)
    parsed: list[JournalBlock] = []
    for key in keys:
        head = (tmp_path / key).read_bytes()[:4096]
        detected = journal_export.detect_format(head)
        assert detected.value == fmt
        with (tmp_path / key).open("rb") as handle:
            parsed.extend(journal_export.iter_blocks(handle, detected))
    assert len(parsed) == layout.totals.blocks
    assert sum(1 for b in parsed for r in b.revisions if r.metadata is not None) == CONFIG.revisions


def test_json_hashes_decode_to_the_ion_bytes(tmp_path: Path) -> None:
    ion = write_export(tmp_path / "ion", CONFIG, "ion_binary", blocks_per_object=64)
    js = write_export(tmp_path / "json", CONFIG, ExportFormat.JSON, blocks_per_object=64)
    ion_blocks = list(read_export_blocks(ion.root, list(ion.completed_manifests)))
    json_blocks = list(read_export_blocks(js.root, list(js.completed_manifests)))
    assert len(ion_blocks) == len(json_blocks) == ion.totals.blocks
    for a, b in zip(ion_blocks, json_blocks, strict=True):
        for name in ("blockHash", "entriesHash", "previousBlockHash"):
            assert hash_bytes(b[name]) == bytes(a[name])
            assert isinstance(b[name], str)
        assert [hash_bytes(h) for h in b["entriesHashList"]] == list(a["entriesHashList"])
        assert [hash_bytes(r["hash"]) for r in b["revisions"]] == [
            bytes(r["hash"]) for r in a["revisions"]
        ]
        assert b["blockTimestamp"] == plain(a["blockTimestamp"])
        assert plain(a) == b  # the whole block down-converts exactly (decimals keep digits)


@pytest.mark.parametrize("fmt", ["ion_text", "json"])
def test_replay_of_the_files_reaches_the_expected_final_state(tmp_path: Path, fmt: str) -> None:
    layout = write_export(tmp_path, CONFIG, fmt, blocks_per_object=20, split_exports=3)
    replayed = naive_replay(read_export_blocks(tmp_path, list(layout.completed_manifests)))
    expected = final_state(CONFIG)
    assert {k: (v["version"], v["deleted"], v["data"]) for k, v in replayed.items()} == {
        k: (v.version, v.deleted, v.data) for k, v in expected.items()
    }


def test_split_exports_are_contiguous_with_their_own_ids(tmp_path: Path) -> None:
    layout = write_export(tmp_path, CONFIG, "ion_binary", blocks_per_object=1000, split_exports=3)
    assert len(layout.exports) == 3
    assert len({e.export_id for e in layout.exports}) == 3
    assert layout.exports[0].first_sequence_no == 0
    for before, after in itertools.pairwise(layout.exports):
        assert after.first_sequence_no == before.last_sequence_no + 1
    assert layout.exports[-1].last_sequence_no == layout.totals.blocks - 1
    assert sum(e.blocks for e in layout.exports) == layout.totals.blocks
    blocks = list(read_export_blocks(tmp_path, list(layout.completed_manifests)))
    for before, after in itertools.pairwise(blocks):
        assert after["previousBlockHash"] == before["blockHash"]
    for export in layout.exports:
        started = plain(load_manifest(tmp_path / export.started_manifest))
        assert started["exportId"] == export.export_id


def test_same_arguments_write_identical_bytes(tmp_path: Path) -> None:
    a = write_export(tmp_path / "a", CONFIG, "ion_binary", blocks_per_object=40)
    b = write_export(tmp_path / "b", CONFIG, "ion_binary", blocks_per_object=40)
    files_a = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()


def test_progress_callback_counts_every_block(tmp_path: Path) -> None:
    seen: list[int] = []
    layout = write_export(tmp_path, CONFIG, "json", on_block=seen.append)
    assert seen == list(range(1, layout.totals.blocks + 1))


def test_explicit_export_id_and_invalid_arguments(tmp_path: Path) -> None:
    layout = write_export(tmp_path / "x", CONFIG, "json", export_id="myExport01")
    assert layout.exports[0].started_manifest == "myExport01.started.manifest"
    with pytest.raises(ConfigError, match="format"):
        write_export(tmp_path / "y", CONFIG, "csv")
    with pytest.raises(ConfigError, match="blocks_per_object"):
        write_export(tmp_path / "y", CONFIG, "json", blocks_per_object=0)
    with pytest.raises(ConfigError, match="export_id"):
        write_export(tmp_path / "y", CONFIG, "json", export_id="abc", split_exports=2)
    with pytest.raises(ConfigError, match="split_exports"):
        write_export(tmp_path / "y", CONFIG, "json", split_exports=CONFIG.revisions + 1)


def test_json_manifest_and_base64_are_plain_json(tmp_path: Path) -> None:
    layout = write_export(tmp_path, CONFIG, "json")
    text = (tmp_path / layout.exports[0].completed_manifest).read_text("utf-8")
    assert text.startswith('{"keys":[')
    first_line = (tmp_path / layout.exports[0].keys[0]).read_text("utf-8").splitlines()[0]
    assert '"blockHash":"' in first_line
    block = read_object(tmp_path / layout.exports[0].keys[0])[0]
    assert len(base64.b64decode(block["blockHash"])) == 32
