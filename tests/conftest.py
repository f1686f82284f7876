"""Shared pytest fixtures: real QLDB stream captures and change builders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.captures import CAPTURE_DIR, CAPTURE_SHA256

# No hypothesis deadline anywhere: a per-example time limit is a timed assertion, and on a shared
# CI machine it fails correct code (tests bound hangs with faulthandler instead, tests/fuzz).
settings.register_profile("qldb-cdc", deadline=None)
settings.load_profile("qldb-cdc")


@pytest.fixture(scope="session")
def capture_dir() -> Path:
    """The folder of the real captures, each checked against its recorded SHA-256."""
    for name, expected in CAPTURE_SHA256.items():
        actual = hashlib.sha256((CAPTURE_DIR / name).read_bytes()).hexdigest()
        assert actual == expected, f"{CAPTURE_DIR / name} changed (sha256 {actual})"
    return CAPTURE_DIR
