"""``qldb-cdc simulate``: arguments, refusals with exit code 2, and the summary line."""

from __future__ import annotations

import argparse
import errno
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulation import cli


def _run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="qldb-cdc simulate")
    cli.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args(list(argv)), stdout=out, stderr=err)
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
    assert err.startswith("qldb-cdc simulate: error: cannot read OUT")


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
    assert err == f"qldb-cdc simulate: error: cannot read OUT {tmp_path}: Permission denied\n"
