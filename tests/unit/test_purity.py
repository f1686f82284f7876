"""The pure core (decoding, change model, coalescing, hashing, simulation) does no I/O, and
imports run one way: down the layers of :data:`LAYERS`.

Pure modules import no I/O library, read no clock and open no file; only the simulator's writer
and CLI may write the files they are given. A module may import its own package and packages in
lower layers, never one in its own layer or above (function-local imports included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.import_roots import imported_roots

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("core", "schemas", "changes", "verification", "simulation")
# Pure modules inside the I/O edge: name encodings of the targets.
PURE_EDGE_MODULES = (
    "projections/s3_keys.py",
    "projections/opensearch_names.py",
    "projections/view_plan.py",
    "projections/athena_ddl.py",
    "projections/recorded_kinds.py",
    "projections/duckdb_views.py",
    "projections/opensearch_bulk.py",
)
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
    "signal",  # only the CLI handles signals (runtime/interrupts.py)
}
# Attribute names that read a clock (``datetime.now()``, ``date.today()``, ``utcnow``) or do
# file I/O through pathlib (``Path.read_bytes()``...) or any ``x.open(...)``.
CLOCK_ATTRIBUTES = {"now", "today", "utcnow"}
FILE_ATTRIBUTES = {"read_bytes", "read_text", "write_bytes", "write_text", "open"}
# Modules allowed to do file I/O on paths they are given (the simulator's writer and CLI).
ALLOWED = {"simulation/export_writer.py", "simulation/cli.py"}


# The project's packages, lowest layer first (CONTRIBUTING.md's layout table, in the same order).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("schemas",),
    ("changes",),
    ("verification",),
    ("simulation", "projections", "runtime"),
    ("dead_letters", "exports"),
    ("replay", "stream"),
    ("consumers",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def pure_modules() -> list[Path]:
    return sorted(
        [
            p
            for pkg in PURE_PACKAGES
            for p in (ROOT / pkg).rglob("*.py")
            if p.relative_to(ROOT).as_posix() not in ALLOWED
        ]
        + [ROOT / name for name in PURE_EDGE_MODULES]
    )


def upward_imports(package: str, tree: ast.AST) -> list[str]:
    """Imports in a module of ``package`` that run up the layers or sideways: ``line: module``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            if root != package and root in RANK and RANK[root] >= RANK[package]:
                found.append((node.lineno, name))
    return [f"{line}: {name}" for line, name in sorted(found)]


def impure_uses(tree: ast.AST) -> list[str]:
    """Clock reads and file I/O in ``tree``: ``line: what``, in source order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in CLOCK_ATTRIBUTES:
                found.append((node.lineno, f"reads a clock (.{node.attr})"))
            elif node.attr in FILE_ATTRIBUTES:
                found.append((node.lineno, f"does file I/O (.{node.attr})"))
            elif node.attr == "time" and _is_name(node.value, "time"):
                found.append((node.lineno, "reads a clock (time.time)"))
        elif isinstance(node, ast.Name) and node.id == "open":
            found.append((node.lineno, "does file I/O (open)"))
    return [f"{line}: {what}" for line, what in sorted(found)]


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def test_there_are_pure_modules() -> None:
    assert len(pure_modules()) >= 8


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_io(path: Path) -> None:
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    bad = imported_roots(tree) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    assert "open(" not in text.replace("simpleion.load", ""), f"{path} opens files"
    uses = impure_uses(tree)
    assert not uses, f"{path.relative_to(ROOT)}: {uses}"


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "deploy"}
    assert packages == set(RANK)


def project_modules() -> list[Path]:
    return sorted(p for package in RANK for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", project_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_the_layers(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    assert not upward_imports(package, tree), (
        f"{path.relative_to(ROOT)} imports from its own layer or above: "
        f"{upward_imports(package, tree)}"
    )


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("schemas", "from changes.from_qldb import to_change", ["1: changes.from_qldb"]),
        ("core", "import schemas.journal", ["1: schemas.journal"]),
        ("replay", "def f():\n    from stream import pipeline", ["2: stream"]),
        ("exports", "from consumers.settings import Settings", ["1: consumers.settings"]),
        ("projections", "from runtime import interrupts", ["1: runtime"]),
        ("consumers", "from consumers.cli import main\nfrom core.model import Change", []),
        ("changes", "from schemas.journal import JournalBlock\nimport boto3", []),
    ],
)
def test_upward_imports_are_found(package: str, source: str, expected: list[str]) -> None:
    assert upward_imports(package, ast.parse(source)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import datetime\nx = datetime.datetime.now()", "2: reads a clock (.now)"),
        ("from datetime import datetime\nx = datetime.now(tz=None)", "2: reads a clock (.now)"),
        ("import datetime\nx = datetime.date.today()", "2: reads a clock (.today)"),
        ("from datetime import datetime\nx = datetime.utcnow", "2: reads a clock (.utcnow)"),
        ("import time\nx = time.time()", "2: reads a clock (time.time)"),
        ("from pathlib import Path\nx = Path('f').read_bytes()", "2: does file I/O (.read_bytes)"),
        ("def f(p):\n    return p.read_text()", "2: does file I/O (.read_text)"),
        ("def f(p):\n    p.write_bytes(b'')", "2: does file I/O (.write_bytes)"),
        ("def f(p):\n    p.write_text('')", "2: does file I/O (.write_text)"),
        ("def f(p):\n    with p.open('rb') as h:\n        pass", "2: does file I/O (.open)"),
        ("x = open('f')", "1: does file I/O (open)"),
    ],
)
def test_impure_uses_are_found(source: str, expected: str) -> None:
    assert expected in impure_uses(ast.parse(source))


def test_pure_code_passes_the_checks() -> None:
    source = (
        "from datetime import datetime, timezone\n"
        "def parse(text: str) -> datetime:\n"
        "    '''Never calls .now( or open( (only mentioned in a docstring).'''\n"
        "    return datetime.fromisoformat(text).astimezone(timezone.utc)\n"
    )
    tree = ast.parse(source)
    assert impure_uses(tree) == []
    assert imported_roots(tree) & FORBIDDEN == set()
