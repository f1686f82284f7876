"""``qldb-cdc simulate``: arguments, refusals with exit code 2, and the summary line."""

from __future__ import annotations

import errno
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from consumers.cli import main
from simulation.cli import RECORD_NAME


def _run(*argv: str) -> tuple[int, str, str]:
    """``qldb-cdc simulate ARGV`` in process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["simulate", *argv])
    return code, out.getvalue(), err.getvalue()


def test_writes_an_export_and_prints_one_summary_line(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = _run(
        str(out_dir), "--documents", "10", "--revisions", "50", "--format", "ion_text",
        "--seed", "3", "--blocks-per-object", "10", "--exports", "2",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert "50 revisions" in out
    assert "2 ion_text export(s)" in out
    assert len(list(out_dir.glob("*.completed.manifest"))) == 2
    assert len(list(out_dir.glob("*/*.ion"))) >= 2


def test_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    code, out, err = _run(str(tmp_path), "--documents", "2", "--revisions", "3")
    assert code == 2
    assert out == ""
    assert "not empty" in err
    assert err.count("\n") == 1
    assert not list(tmp_path.glob("*.manifest"))
    code, _, _ = _run(str(tmp_path), "--documents", "2", "--revisions", "3", "--force")
    assert code == 0
    assert (tmp_path / "keep.txt").read_text() == "x"
    assert len(list(tmp_path.glob("*.completed.manifest"))) == 1


def test_invalid_numbers_give_one_line_errors(tmp_path: Path) -> None:
    cases = [
        (["--documents", "0", "--revisions", "5"], "documents"),
        (["--documents", "6", "--revisions", "5"], "revisions"),
        (["--documents", "1", "--revisions", "5", "--blocks-per-object", "0"], "blocks-per-object"),
        (["--documents", "1", "--revisions", "5", "--exports", "6"], "exports"),
        (["--documents", "1", "--revisions", "5", "--delete-ratio", "2"], "delete_ratio"),
    ]
    for extra, word in cases:
        code, out, err = _run(str(tmp_path / "new"), *extra)
        assert code == 2, extra
        assert word in err, (extra, err)
        assert err.count("\n") == 1
        assert out == ""
    assert not (tmp_path / "new").exists()


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = _run(str(target), "--documents", "1", "--revisions", "1")
    assert code == 2
    assert "not a folder" in err


def test_more_exports_than_blocks_is_a_one_line_error(tmp_path: Path) -> None:
    out_dir = tmp_path / "new"
    code, out, err = _run(
        str(out_dir), "--documents", "10", "--revisions", "10", "--tables", "T", "--exports", "10"
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "into 10 exports" in err
    assert not out_dir.exists()


def test_an_out_that_cannot_be_inspected_is_a_one_line_error(tmp_path: Path) -> None:
    code, out, err = _run(str(tmp_path / ("x" * 300)), "--documents", "1", "--revisions", "1")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("qldb-cdc: error: cannot read OUT")


def test_an_unreadable_out_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests may run as root, where chmod cannot make a folder unreadable: make listing
    # the folder fail the way it does for an ordinary user without read permission.
    (tmp_path / "keep.txt").write_text("x")
    original = Path.iterdir

    def denied(self: Path) -> Iterator[Path]:
        if self == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(Path, "iterdir", denied)
    code, out, err = _run(str(tmp_path), "--documents", "1", "--revisions", "1")
    assert code == 2
    assert out == ""
    assert err == f"qldb-cdc: error: cannot read OUT {tmp_path}: Permission denied\n"


SMALL = ("--documents", "5", "--revisions", "20", "--seed", "4", "--blocks-per-object", "3")


def test_the_same_simulation_again_is_accepted_and_writes_nothing(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, first, err = _run(str(out_dir), *SMALL)
    assert (code, err) == (0, "")
    record = json.loads((out_dir / RECORD_NAME).read_text())
    assert record["complete"] is True
    assert record["parameters"]["seed"] == 4
    files = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*")}
    code, again, err = _run(str(out_dir), *SMALL)
    assert (code, err) == (0, "")
    assert "already holds this simulation" in again
    assert first.split(": ", 1)[1] in again  # the same summary
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*")} == files


def test_an_unfinished_same_simulation_is_written_again(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    assert _run(str(out_dir), *SMALL)[0] == 0
    manifests = sorted(out_dir.glob("*.completed.manifest"))
    expected = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    record = json.loads((out_dir / RECORD_NAME).read_text())
    record["complete"] = False
    (out_dir / RECORD_NAME).write_text(json.dumps(record))
    for manifest in manifests:
        manifest.unlink()  # interrupted before the manifests were written
    code, out, err = _run(str(out_dir), *SMALL)
    assert (code, err) == (0, "")
    assert out.startswith("wrote to ")
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == expected


def test_a_different_simulation_or_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    assert _run(str(out_dir), *SMALL)[0] == 0
    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    code, out, err = _run(str(out_dir), *SMALL[:-1], "4", "--seed", "5")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "holds a different simulation" in err
    assert "seed 4 there, 5 now" in err
    assert "blocks-per-object 3 there, 4 now" in err
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == before
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / RECORD_NAME).write_text("not json")
    code, out, err = _run(str(tmp_path / "foreign"), *SMALL)
    assert (code, out) == (2, "")
    assert "is not empty" in err
