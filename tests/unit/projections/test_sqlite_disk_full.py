"""A full disk is one clear, retryable storage error, never hidden by the cleanup after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import RetryableError, StorageError
from projections.closing import closing_all
from projections.sqlite import SQLiteProjection
from tests.support.builders import make_change


def big_changes(n: int) -> list[object]:
    return [make_change(f"doc{i}", 0, data={"text": "x" * 3000}) for i in range(n)]


def test_a_full_database_is_a_disk_full_storage_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    projection = SQLiteProjection(path)
    pages = projection.connection.execute("PRAGMA page_count").fetchone()[0]
    # GIVEN a database that cannot grow (as on a full disk: SQLite reports SQLITE_FULL)
    projection.connection.execute(f"PRAGMA max_page_count = {pages + 20}")
    # WHEN a batch does not fit THEN the error is the full disk, not the failed ROLLBACK
    with pytest.raises(StorageError) as caught:
        projection.apply(big_changes(200))  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("disk full")
    assert str(path) in message
    assert "rollback" not in message.lower()
    assert isinstance(caught.value, RetryableError)
    # AND nothing was written, and the projection still works once there is room
    assert projection.connection.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    projection.connection.execute("PRAGMA max_page_count = 1073741823")
    assert projection.apply(big_changes(200)).applied == 200  # type: ignore[arg-type]
    projection.close()


class Closes:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if self.error is not None:
            raise self.error


def test_closing_all_keeps_the_original_error_and_closes_everything() -> None:
    items = [Closes(RuntimeError("close 1 failed")), Closes(), Closes(OSError("close 3"))]
    with pytest.raises(StorageError, match="disk full") as caught, closing_all(items):
        raise StorageError("disk full")
    assert all(item.closed for item in items)
    assert any("close 1 failed" in note for note in caught.value.__notes__)


def test_closing_all_raises_the_first_close_error_after_closing_everything() -> None:
    items = [Closes(), Closes(RuntimeError("first")), Closes(RuntimeError("second"))]
    with pytest.raises(RuntimeError, match="first"), closing_all(items):
        pass
    assert all(item.closed for item in items)
