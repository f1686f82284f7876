"""The pure core (decoding, change model, coalescing, hashing, simulation) does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("schemas", "changes", "verification", "simulation")
FORBIDDEN = {
    "boto3",
    "botocore",
    "psycopg",
    "opensearchpy",
    "os",
    "subprocess",
    "socket",
    "requests",
    "urllib3",
    "sqlite3",
    "time",
}
# Modules allowed to do file I/O on paths they are given (the simulator's writer and CLI).
ALLOWED = {"simulation/export_writer.py", "simulation/cli.py"}


def pure_modules() -> list[Path]:
    return sorted(
        p
        for pkg in PURE_PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if str(p.relative_to(ROOT)) not in ALLOWED
    )


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_are_pure_modules() -> None:
    assert len(pure_modules()) >= 8


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_io(path: Path) -> None:
    bad = imported_roots(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    text = path.read_text()
    assert "open(" not in text.replace("simpleion.load", ""), f"{path} opens files"
