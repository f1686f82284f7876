"""What every projection exposes to the contract suite: itself plus a way to read state back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import json_codec
from core.model import Change, DocKey
from projections.base import Projection
from projections.memory import MemoryProjection


@dataclass(frozen=True)
class CurrentRow:
    """Normalised current state of one document as a projection stores it."""

    version: int
    deleted: bool
    redacted: bool
    data: Any
    tx_id: str
    tx_time: str
    revision_hash: str


@dataclass(frozen=True)
class HistoryRow:
    """Normalised state of one revision in a projection's history."""

    deleted: bool
    redacted: bool
    data: Any
    tx_id: str
    tx_time: str
    revision_hash: str
    data_hash: str | None


@dataclass
class Harness:
    """A projection under test.

    ``read_current`` returns every stored document (tombstones included); ``read_history`` returns
    every stored revision, or is ``None`` for projections without history. ``reset`` wipes all
    state (used between hypothesis examples). ``max_examples`` bounds property tests for slow
    backends. ``utf8_only`` is ``True`` for every real target: text that is not valid UTF-8 (a
    lone UTF-16 surrogate) can never be stored and is a poison failure; only the in-memory
    reference, which stores Python strings as they are, sets it to ``False``.
    """

    projection: Projection
    read_current: Callable[[], dict[DocKey, CurrentRow]]
    read_history: Callable[[], dict[tuple[DocKey, int], HistoryRow]] | None
    reset: Callable[[], None]
    max_examples: int = 40
    utf8_only: bool = True


HarnessFactory = Callable[[Path], AbstractContextManager[Harness]]
"""Each ``tests/contract/backend_*.py`` exposes ``NAME: str`` and ``harness: HarnessFactory``."""


def normalise(data: Any) -> Any:
    """Plain data as it looks after a JSON round trip with exact decimals (floats -> Decimal)."""
    return None if data is None else json_codec.loads(json_codec.dumps(data))


def current_row(change: Change) -> CurrentRow:
    """The row a projection must hold when ``change`` is the document's winning change."""
    return CurrentRow(
        version=change.version,
        deleted=change.is_tombstone,
        redacted=change.is_redacted,
        data=normalise(change.data),
        tx_id=change.tx_id,
        tx_time=change.tx_time,
        revision_hash=change.revision_hash,
    )


def history_row(change: Change) -> HistoryRow:
    """The history row a projection must hold for the winning copy of one revision."""
    return HistoryRow(
        deleted=change.is_tombstone,
        redacted=change.is_redacted,
        data=normalise(change.data),
        tx_id=change.tx_id,
        tx_time=change.tx_time,
        revision_hash=change.revision_hash,
        data_hash=change.data_hash,
    )


def expected_state(
    changes: list[Change],
) -> tuple[dict[DocKey, CurrentRow], dict[tuple[DocKey, int], HistoryRow]]:
    """Reference final state: the changes applied one at a time, in version order, once each."""
    reference = MemoryProjection()
    for change in sorted(changes, key=lambda c: (c.key, c.version, c.is_redacted)):
        reference.apply([change])
    return (
        {k: current_row(c) for k, c in reference.documents.items()},
        {k: history_row(c) for k, c in reference.revisions.items()},
    )
