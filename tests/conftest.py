"""Shared pytest fixtures: real QLDB stream captures and change builders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.captures import CAPTURE_DIR, CAPTURE_SHA256


@pytest.fixture(scope="session")
def capture_dir() -> Path:
    """The folder of the real captures, each checked against its recorded SHA-256."""
    for name, expected in CAPTURE_SHA256.items():
        actual = hashlib.sha256((CAPTURE_DIR / name).read_bytes()).hexdigest()
        assert actual == expected, f"{CAPTURE_DIR / name} changed (sha256 {actual})"
    return CAPTURE_DIR
