"""The reference projection under the contract suite (checks the suite itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.model import DocKey
from projections.memory import MemoryProjection
from tests.support.projection_harness import (
    CurrentRow,
    Harness,
    HistoryRow,
    current_row,
    history_row,
)

NAME = "memory"


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    projection = MemoryProjection()

    def read_current() -> dict[DocKey, CurrentRow]:
        return {k: current_row(c) for k, c in projection.documents.items()}

    def read_history() -> dict[tuple[DocKey, int], HistoryRow]:
        return {k: history_row(c) for k, c in projection.revisions.items()}

    def reset() -> None:
        projection.documents.clear()
        projection.revisions.clear()

    yield Harness(projection, read_current, read_history, reset, max_examples=200, utf8_only=False)
