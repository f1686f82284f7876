"""The README's quick start, exactly as written there, works and can be run twice."""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_command() -> str:
    """The ``bash`` block of the README's quick start that runs ``qldb-cdc simulate``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    (command,) = [b.strip() for b in blocks if "qldb-cdc simulate" in b]
    return command


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_quick_start_runs_twice_and_git_ignores_what_it_creates(tmp_path: Path) -> None:
    command = quick_start_command()
    assert "&& .venv/bin/qldb-cdc replay" in command
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the README runs from the clone
    first = run_shell(command, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "verify:" in first.stdout
    assert " 0 failures" in first.stdout
    redacted = re.search(r"(\d+) redacted\)", first.stdout)  # simulate's summary
    assert redacted is not None
    assert redacted[1] != "0"
    # a redaction of an older version changes history only: counted there, not hidden as 0
    assert f"current, {redacted[1]} in history" in first.stdout
    second = run_shell(command, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already holds this simulation" in second.stdout
    replayed = re.search(r"objects: (\d+) replayed, (\d+) already done \(of (\d+)\)", second.stdout)
    assert replayed is not None, second.stdout
    assert replayed[1] == "0"
    assert replayed[2] == replayed[3] != "0"

    database = re.search(r"sqlite:///(\S+)", command)
    assert database is not None
    with sqlite3.connect(tmp_path / database[1]) as con:
        (live,) = con.execute("SELECT count(*) FROM documents WHERE NOT deleted").fetchone()
    assert live > 0

    ignored = [
        line.strip().strip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    created = sorted(p.name for p in tmp_path.iterdir() if p.name != ".venv")
    assert created
    for name in created:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in ignored), name
