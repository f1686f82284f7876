"""Shared pytest fixtures: real QLDB stream captures and change builders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURE_NAMES = ("evidence.json", "streams-es_data.json", "streams_data.json", "streams_data1.json")


def _capture_dir() -> Path:
    """Directory holding the four real Lambda Kinesis events captured from QLDB.

    ``QLDB_CDC_CAPTURES`` overrides; the default is the workspace's ``shared/fixtures`` folder
    beside the repository (the captures are not all redistributable, so they are not copied in).
    """
    override = os.environ.get("QLDB_CDC_CAPTURES")
    candidates = [Path(override)] if override else []
    candidates += [
        REPO_ROOT.parent / "shared" / "fixtures" / "stream-captures",
        REPO_ROOT / "tests" / "fixtures" / "stream-captures",
    ]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in CAPTURE_NAMES):
            return candidate
    msg = (
        "real QLDB stream captures not found; set QLDB_CDC_CAPTURES to the folder holding "
        + ", ".join(CAPTURE_NAMES)
    )
    raise FileNotFoundError(msg)


@pytest.fixture(scope="session")
def capture_dir() -> Path:
    """Path of the folder with the real captures (fails loudly when missing, never skips)."""
    return _capture_dir()
