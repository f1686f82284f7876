"""Run the CLI as a user without privileges, so read-only folders are read-only (tests run as root
in CI, and root writes anywhere).

:func:`read_only_case` makes a world-readable scratch folder (``tmp_path`` of pytest is private
to root), and :func:`run_cli` runs ``python -m consumers.cli`` as ``nobody`` through ``setpriv``
when the tests run as root, or as the current user otherwise. It skips, with the reason, only
when the tests run as root and ``setpriv`` is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop privileges")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder every user can read and enter; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="qldb-cdc-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``qldb-cdc ARGS`` as an unprivileged user in ``cwd``."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*_prefix(), sys.executable, "-m", "consumers.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
