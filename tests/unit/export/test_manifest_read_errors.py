"""A manifest that cannot be read right now keeps its error class: a retryable failure (S3 5xx,
a timeout) is exit 4 and re-runnable, never reported as the user's mistake (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import RetryableError, UserInputError
from exports.plan import plan_exports
from exports.store import LocalExportStore

MANIFEST = "2021/exp1.S.completed.manifest"


class FlakyStore(LocalExportStore):
    """A local export whose manifest reads fail with ``error``."""

    def __init__(self, root: Path, error: Exception) -> None:
        super().__init__(root)
        self.error = error

    def read_bytes(self, key: str) -> bytes:
        if key.endswith(".completed.manifest"):
            raise self.error
        return super().read_bytes(key)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    (tmp_path / "2021").mkdir()
    (tmp_path / MANIFEST).write_text('{keys: ["2021/S.0-0.ion"]}')
    (tmp_path / "2021" / "S.0-0.ion").write_text("")
    return tmp_path


def test_a_retryable_manifest_read_stays_retryable(export: Path) -> None:
    with pytest.raises(RetryableError, match="HTTP 503") as info:
        plan_exports(FlakyStore(export, RetryableError("GetObject failed: HTTP 503")))
    assert not isinstance(info.value, UserInputError)


def test_a_corrupt_manifest_is_the_users_input(export: Path) -> None:
    (export / MANIFEST).write_text("{keys: [")
    with pytest.raises(UserInputError, match=r"exp1\.S\.completed\.manifest"):
        plan_exports(LocalExportStore(export))
