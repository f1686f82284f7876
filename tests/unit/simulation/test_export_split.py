"""Cutting a ledger into N exports: exactly N, contiguous, non-empty, balanced by revisions."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from simulation.config import SimulationConfig
from simulation.export_split import export_ends, revisions_per_block
from simulation.export_writer import write_export
from simulation.planner import LedgerPlan
from tests.support.simulation_readback import load_manifest


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=40),
    data=st.data(),
)
def test_ends_cut_every_block_into_exactly_n_non_empty_exports(
    counts: list[int], data: st.DataObject
) -> None:
    exports = data.draw(st.integers(min_value=1, max_value=len(counts)))
    ends = export_ends(iter(counts), sum(counts), exports)
    assert len(ends) == exports
    assert ends[-1] == len(counts) - 1
    assert ends[0] >= 0
    assert all(a < b for a, b in itertools.pairwise(ends))


def test_ends_follow_the_revision_thresholds_and_push_past_a_fat_block() -> None:
    # 10 revisions into 5 exports: thresholds 2, 4, 6, 8. Block 1 crosses 2 and 4 at once.
    counts = [0, 5, 1, 1, 1, 1, 1]
    assert export_ends(counts, 10, 5) == (1, 2, 3, 4, 6)
    # Near the end the cuts are pulled back so that every export keeps one block.
    assert export_ends([0, 0, 10], 10, 3) == (0, 1, 2)
    assert export_ends([3, 3, 4], 10, 1) == (2,)


def test_ends_refuse_more_exports_than_blocks() -> None:
    with pytest.raises(ConfigError, match="3 blocks into 4 exports"):
        export_ends([1, 1, 1], 3, 4)
    with pytest.raises(ConfigError, match="split_exports"):
        export_ends([1], 1, 0)


def test_revisions_per_block_matches_the_plan() -> None:
    config = SimulationConfig(documents=20, revisions=90, seed=5)
    counts = list(revisions_per_block(config))
    assert sum(counts) == config.revisions
    assert counts == [len(planned.ops) for planned in LedgerPlan(config)]
    assert counts[: 2 * len(config.tables)] == [0] * (2 * len(config.tables))


@pytest.mark.parametrize(("seed", "exports"), [(0, 10), (1, 10), (2, 9), (3, 5), (4, 5)])
def test_split_exports_close_to_revisions_writes_exactly_that_many(
    tmp_path: Path, seed: int, exports: int
) -> None:
    config = SimulationConfig(documents=10, revisions=10, seed=seed, max_docs_per_tx=4)
    layout = write_export(tmp_path, config, "json", split_exports=exports)
    assert len(layout.exports) == exports
    assert len(list(tmp_path.glob("*.completed.manifest"))) == exports
    assert len(list(tmp_path.glob("*.started.manifest"))) == exports
    assert layout.exports[0].first_sequence_no == 0
    assert layout.exports[-1].last_sequence_no == layout.totals.blocks - 1
    for before, after in itertools.pairwise(layout.exports):
        assert after.first_sequence_no == before.last_sequence_no + 1
    for export in layout.exports:
        assert export.blocks == export.last_sequence_no - export.first_sequence_no + 1 >= 1
        keys = [str(k) for k in load_manifest(tmp_path / export.completed_manifest)["keys"]]
        assert keys == list(export.keys)
        assert keys


def test_more_exports_than_blocks_is_refused_before_writing(tmp_path: Path) -> None:
    config = SimulationConfig(documents=10, revisions=10, seed=0, tables=("T",))
    blocks = sum(1 for _ in LedgerPlan(config))
    assert blocks < 10
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=f"{blocks} blocks into 10 exports"):
        write_export(out, config, "json", split_exports=10)
    assert not out.exists()
    layout = write_export(out, config, "json", split_exports=blocks)
    assert [e.blocks for e in layout.exports] == [1] * blocks
