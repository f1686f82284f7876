"""Create or refresh the typed views of every target that keeps them, at the end of a replay
and on ``qldb-cdc views`` (README "Typed views").

Targets that implement :class:`~projections.base.TypedViewProjection` (SQLite, PostgreSQL)
get their views dropped and recreated in one transaction each; other targets are reported as
keeping no views. Targets that implement :class:`~projections.base.DdlProjection` (S3) get
their Athena DDL built when ``ddl`` is asked for (``qldb-cdc views``), and otherwise a hint
that ``qldb-cdc views`` prints it (the end of a replay). With ``skip_dropped``, tables the
target's own lifecycle record shows as dropped get no views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from projections.athena_ddl import AthenaDdl
from projections.base import (
    DdlProjection,
    Projection,
    TableLifecycleProjection,
    TypedViewProjection,
)
from projections.view_plan import ViewsPlan
from schemas.view_mapping import MAX_MAPPING_BYTES, NO_MAPPING, ViewMapping, parse_mapping

_SHOWN = 6
"""View names printed per target at most."""


@dataclass(frozen=True, slots=True)
class TargetViews:
    """What one target got: ``plan`` is ``None`` when it keeps no typed views; ``ddl`` is the
    Athena DDL of a :class:`DdlProjection` when it was asked for, ``ddl_uri`` its URI."""

    target: str
    plan: ViewsPlan | None
    ddl: AthenaDdl | None = None
    ddl_uri: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings of the plan or the DDL."""
        if self.ddl is not None:
            return self.ddl.warnings
        return self.plan.warnings if self.plan is not None else ()

    def lines(self) -> list[str]:
        """The summary lines for the command's output."""
        if self.ddl is not None:
            names = [n for t in self.ddl.tables for n in (t.table, t.history_table)]
            line = f"views ({self.target}): Athena DDL for {len(self.ddl.tables)} ledger tables"
            line += f", {len(names)} tables: {_shown(names)}" if names else ", no tables"
            if self.ddl.skipped_tables:
                line += f"; {len(self.ddl.skipped_tables)} ledger tables without tables"
            return [line]
        if self.ddl_uri is not None:
            return [
                f"views ({self.target}): Athena tables come from DDL; "
                f"qldb-cdc views --to {self.ddl_uri} prints it"
            ]
        if self.plan is None:
            return [f"views ({self.target}): this target keeps no typed views"]
        names = [n for v in self.plan.views for n in (v.view, v.history_view)]
        line = f"views ({self.target}): {len(self.plan.views)} ledger tables"
        line += f", {len(names)} views: {_shown(names)}" if names else ", no views"
        if self.plan.skipped_tables:
            line += f"; {len(self.plan.skipped_tables)} tables without views"
        return [line]


def _shown(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (
        f", ... ({len(names)} in all)" if len(names) > _SHOWN else ""
    )


def load_mapping(path: Path | None) -> ViewMapping:
    """The mapping file at ``path`` (none: no mapping); read with a size bound.

    Raises:
        ConfigError: unreadable, too large, or not a mapping file.
    """
    if path is None:
        return NO_MAPPING
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_MAPPING_BYTES + 1)
    except OSError as exc:
        msg = f"--view-mapping {path}: cannot read it ({exc.strerror or exc})"
        raise ConfigError(msg) from None
    return parse_mapping(text, f"--view-mapping {path}")


def refresh_all(
    targets: Iterable[Projection],
    mapping: ViewMapping,
    *,
    skip_dropped: bool = False,
    ddl: bool = False,
) -> list[TargetViews]:
    """Refresh the views of each target in turn (or build its DDL, with ``ddl``); the first
    failure stops (views already refreshed stay)."""
    results = []
    for target in targets:
        leave_out: list[str] = []
        if skip_dropped and isinstance(target, TableLifecycleProjection):
            leave_out = target.dropped_tables()
        if isinstance(target, DdlProjection):
            if ddl:
                built = target.athena_ddl(mapping, leave_out=leave_out)
                results.append(TargetViews(target.name, None, ddl=built))
            else:
                results.append(TargetViews(target.name, None, ddl_uri=target.uri))
            continue
        if not isinstance(target, TypedViewProjection):
            results.append(TargetViews(target.name, None))
            continue
        results.append(TargetViews(target.name, target.refresh_views(mapping, leave_out=leave_out)))
    return results
