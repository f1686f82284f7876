"""The repository root and the real QLDB stream captures vendored under tests/fixtures."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CAPTURE_DIR = REPO_ROOT / "tests" / "fixtures" / "stream-captures"
CAPTURE_SHA256 = {
    "evidence.json": "3a662ca3b02f93b74c60333f63e002c4bf1a11cd8fcbcd5d40a32da5f1c6d1ac",
    "streams-es_data.json": "c3562489f7a8d183af065d307901e1f6e1c8987434311bf9ef2f67ba8733d382",
    "streams_data.json": "bf63a4372bc80bccfc3a96f71243e0de72d19b7f3c6d0008391f76df856c0250",
    "streams_data1.json": "cdf7f13462b2501f3597468831ee7bc05a2736cc8a8d46cf47ad4987035b31f4",
}
"""The four real Lambda Kinesis events captured from QLDB, vendored in the repository with their
sources and licences (tests/fixtures/stream-captures/README.md)."""
CAPTURE_NAMES = tuple(CAPTURE_SHA256)
