"""The command line itself: ``--version``, readable ``--help``, the one exit-code rule."""

from __future__ import annotations

import io
import os
import re
import signal
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from consumers import cli
from consumers.exit_codes import MEANINGS, ExitCode
from replay.engine import ReplaySummary

ROOT = Path(__file__).resolve().parents[2]


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse's --version and --help
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_version_prints_the_package_version() -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    code, out, _ = run_main("--version")
    assert (code, out) == (0, f"qldb-cdc {expected}\n")


def test_top_level_help_has_no_markup_and_lists_the_exit_codes() -> None:
    code, out, _ = run_main("--help")
    assert code == 0
    assert "``" not in out
    assert "`" not in out
    assert "Replay, verify and simulate" in out
    for exit_code in ExitCode:
        assert re.search(rf"^\s+{int(exit_code)}\s+\S", out, flags=re.MULTILINE), exit_code


def test_the_readme_exit_code_table_is_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|$", section, flags=re.MULTILINE))
    assert {int(code) for code in rows} == {int(code) for code in ExitCode}
    assert {int(code): text for code, text in rows.items()} == {
        int(code): text for code, text in MEANINGS.items()
    }


def test_kcl_processor_uses_the_same_codes() -> None:
    from consumers import kcl_processor

    assert kcl_processor.EXIT_BATCH_FAILED == ExitCode.RETRYABLE
    assert kcl_processor.EXIT_CONFIG == ExitCode.USER_MISTAKE


def test_a_bad_flag_is_a_user_mistake() -> None:
    code, _, err = run_main("replay", "x", "--workers", "zero")
    assert code == ExitCode.USER_MISTAKE
    assert err.count("\n") == 1


def test_sigterm_exits_143_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def terminated(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli, "open_store", terminated)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = run_main("replay", str(tmp_path), "--to", str(tmp_path / "x.db"))
    assert code == ExitCode.TERMINATED.value == 143
    assert err == "qldb-cdc: terminated (SIGTERM); re-run the same command to resume\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_workers_are_capped_at_four_per_core(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.support.export_builder import write_export
    from tests.support.replay_samples import sample_objects

    started: list[int] = []

    def fake_parallel(
        store: object, plan: object, config: object, workers: int, **kw: object
    ) -> ReplaySummary:
        started.append(workers)
        return ReplaySummary()

    write_export(tmp_path / "e", sample_objects())
    monkeypatch.setattr(cli, "replay_parallel", fake_parallel)
    monkeypatch.setattr("consumers.cli.os.cpu_count", lambda: 2)
    args = ("replay", str(tmp_path / "e"), "--to", str(tmp_path / "x.db"), "--no-progress")
    code, _, err = run_main(*args, "--workers", "400")
    assert code == 0
    assert started == [8]
    assert (
        err == "qldb-cdc: warning: --workers 400 is more than 4 per core (2 cores here); using 8\n"
    )
    code, _, err = run_main(*args, "--workers", "8")
    assert (code, err, started) == (0, "", [8, 8])
