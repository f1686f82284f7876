"""Every project package is installed and type-checked: pyproject.toml lists each one.

``[tool.setuptools.packages.find] include`` and ``[tool.mypy] packages`` are written out by hand;
a new package missing from the first is absent from a wheel (``pip install .``, ``sam build``),
and one missing from the second is never type-checked.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_PACKAGES = {"tests", "bench", "deploy"}


def project_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_PACKAGES


def test_every_package_is_installed_and_type_checked() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {p for p in project_packages() if any(fnmatch(p, pattern) for pattern in include)}
    checked = set(config["tool"]["mypy"]["packages"])
    assert len(project_packages()) >= 12
    assert installed == project_packages(), "missing from setuptools include"
    assert project_packages() <= checked, "missing from mypy packages"
