"""Create or refresh the typed views of every target that keeps them, at the end of a replay
and on ``qldb-cdc views`` (README "Typed views").

Targets that implement :class:`~projections.base.TypedViewProjection` (SQLite, PostgreSQL)
get their views dropped and recreated in one transaction each; other targets are reported as
keeping no views. With ``skip_dropped``, tables the target's own lifecycle record shows as
dropped get no views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from projections.base import Projection, TableLifecycleProjection, TypedViewProjection
from projections.view_plan import ViewsPlan
from schemas.view_mapping import MAX_MAPPING_BYTES, NO_MAPPING, ViewMapping, parse_mapping

_SHOWN = 6
"""View names printed per target at most."""


@dataclass(frozen=True, slots=True)
class TargetViews:
    """What one target got: ``plan`` is ``None`` when it keeps no typed views."""

    target: str
    plan: ViewsPlan | None

    def lines(self) -> list[str]:
        """The summary lines for the command's output."""
        if self.plan is None:
            return [f"views ({self.target}): this target keeps no typed views"]
        names = [n for v in self.plan.views for n in (v.view, v.history_view)]
        shown = ", ".join(names[:_SHOWN]) + (
            f", ... ({len(names)} in all)" if len(names) > _SHOWN else ""
        )
        line = f"views ({self.target}): {len(self.plan.views)} ledger tables"
        line += f", {len(names)} views: {shown}" if names else ", no views"
        if self.plan.skipped_tables:
            line += f"; {len(self.plan.skipped_tables)} tables without views"
        return [line]


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
    targets: Iterable[Projection], mapping: ViewMapping, *, skip_dropped: bool = False
) -> list[TargetViews]:
    """Refresh the views of each target in turn; the first failure stops (views already
    refreshed stay)."""
    results = []
    for target in targets:
        if not isinstance(target, TypedViewProjection):
            results.append(TargetViews(target.name, None))
            continue
        leave_out: list[str] = []
        if skip_dropped and isinstance(target, TableLifecycleProjection):
            leave_out = target.dropped_tables()
        results.append(TargetViews(target.name, target.refresh_views(mapping, leave_out=leave_out)))
    return results
