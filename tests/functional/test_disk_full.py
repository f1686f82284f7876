"""A replay onto a filesystem that fills up: one "disk full" line naming the database, exit 4,
and after space is freed a re-run resumes to the exact state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.cli import main
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export

CONFIG = SimulationConfig(documents=300, revisions=6000, seed=3)


def mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs (needs root and mount rights; the max_page_count unit test covers the
    same path without them)."""
    target = tmp_path / "small"
    target.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    result = mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", str(target)])
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def dump(db: Path) -> object:
    con = sqlite3.connect(db)
    try:
        return (
            con.execute("SELECT * FROM documents ORDER BY 1, 2").fetchall(),
            con.execute("SELECT * FROM revisions ORDER BY 1, 2, 3").fetchall(),
        )
    finally:
        con.close()


def test_a_full_filesystem_is_one_disk_full_line_and_a_rerun_resumes(
    tmp_path: Path, small_fs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    write_export(export, CONFIG, ExportFormat.ION_BINARY, blocks_per_object=200)
    reference = tmp_path / "ref.db"
    assert main(["replay", str(export), "--to", str(reference), "--no-progress"]) == 0
    assert reference.stat().st_size > 3 * 1024 * 1024, "the export must not fit in 2 MB"
    capsys.readouterr()
    db = small_fs / "out.db"
    args = ["replay", str(export), "--to", str(db), "--no-progress", "--batch-size", "500"]
    # WHEN the filesystem fills up THEN one line says so, naming the database (exit 4)
    assert main(args) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "disk full" in err
    assert str(db) in err
    assert "rollback" not in err.lower()
    assert "free space and re-run the same command to resume" in err
    # WHEN space is freed and the same command runs again THEN it resumes to the exact state
    assert mount(["-o", "remount,size=64m", str(small_fs)]).returncode == 0
    assert main(args) == 0
    assert dump(db) == dump(reference)
