"""Packaging metadata: the console script and the licence (the Lambda package:
test_lambda_package.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_handles_signals_before_importing_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["qldb-cdc"] == "consumers.entry_point:run"
    from consumers.entry_point import run

    assert callable(run)


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    """A TOML-table ``project.license`` is deprecated (pip warns on every install); setuptools
    reads an SPDX expression from 77 on."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == "setuptools>=77"
