"""Parameters of a synthetic ledger, validated once so every generator can trust them.

Guarantees:
    * A :class:`SimulationConfig` that constructs successfully can always be generated: the
      requested number of user revisions is reachable with the requested number of documents.
    * Invalid values raise :class:`core.errors.ConfigError` with a one-line message naming
      the parameter, so the command line can print it as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConfigError

DEFAULT_TABLES = ("Person", "Vehicle", "Registration", "Policy")
"""The DMV-style tables of the QLDB tutorials, plus ``Policy``."""

DEFAULT_START_MS = 1_612_836_966_240
"""Journal start time in milliseconds since the Unix epoch: 2021-02-09T02:16:06.240Z."""

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. Equal configs always produce byte-identical ledgers.

    Attributes:
        documents: Number of distinct documents inserted (each starts at version 0).
        revisions: Exact total number of user revisions (inserts + updates + deletes);
            hash-only system revisions are not counted. Must be ``>= documents``.
        seed: Seed of the pseudo-random generator; the only source of variation.
        tables: Ledger table names (each gets a ``CREATE TABLE`` and a ``CREATE INDEX`` block).
        delete_ratio: Share of ``revisions`` that delete a document, capped at half of the
            documents (so most documents survive) and at the revisions left after the inserts.
            Deleted documents receive no further revisions.
        redaction_ratio: Share of ``revisions`` whose content is later redacted. Only
            superseded revisions (followed by an update or a delete) are redacted, as in QLDB;
            the achieved count is reported by the generator's totals.
        max_docs_per_tx: Upper bound of documents one transaction (block) touches.
        system_revision_ratio: Probability that a user block also carries one hash-only
            internal system revision.
        ledger_name: Ledger name written into export manifests.
        start_ms: Timestamp of the first block, in milliseconds since the Unix epoch (UTC).
        table_lifecycle: After every other block, ``DROP TABLE`` the last table, ``UNDROP TABLE``
            it by id and ``DROP TABLE`` it again (three DDL blocks, one hash-only system
            revision each): the last table ends dropped, its documents still in the journal.
            Off by default (the ledger is then byte-identical to what it was before).
    """

    documents: int
    revisions: int
    seed: int
    tables: tuple[str, ...] = DEFAULT_TABLES
    delete_ratio: float = 0.03
    redaction_ratio: float = 0.01
    max_docs_per_tx: int = 4
    system_revision_ratio: float = 0.05
    ledger_name: str = "simulated-ledger"
    start_ms: int = DEFAULT_START_MS
    table_lifecycle: bool = False

    def __post_init__(self) -> None:
        """Validate every field; raise ConfigError naming the first invalid one."""
        _require(self.documents >= 1, f"documents must be >= 1, got {self.documents}")
        _require(
            self.revisions >= self.documents,
            f"revisions ({self.revisions}) must be >= documents ({self.documents})",
        )
        _require(len(self.tables) >= 1, "at least one table is required")
        _require(len(set(self.tables)) == len(self.tables), "table names must be unique")
        for name in self.tables:
            _require(bool(_TABLE_NAME.match(name)), f"invalid table name {name!r}")
        for label, ratio in (
            ("delete_ratio", self.delete_ratio),
            ("redaction_ratio", self.redaction_ratio),
            ("system_revision_ratio", self.system_revision_ratio),
        ):
            _require(0.0 <= ratio < 1.0, f"{label} must be in [0, 1), got {ratio}")
        _require(self.max_docs_per_tx >= 1, "max_docs_per_tx must be >= 1")
        _require(self.ledger_name != "", "ledger_name must not be empty")
        _require(self.start_ms >= 0, "start_ms must be >= 0")

    @property
    def target_deletes(self) -> int:
        """Number of delete revisions the generator produces (exact)."""
        wanted = round(self.delete_ratio * self.revisions)
        return min(wanted, self.documents // 2, self.revisions - self.documents)

    @property
    def target_updates(self) -> int:
        """Number of update revisions the generator produces (exact)."""
        return self.revisions - self.documents - self.target_deletes

    @property
    def target_redactions(self) -> int:
        """Upper bound of redactions; fewer happen when too few revisions are superseded."""
        if self.redaction_ratio == 0.0:
            return 0
        return max(1, round(self.redaction_ratio * self.revisions))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
