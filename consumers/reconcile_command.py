"""``qldb-cdc reconcile SOURCE --to URI [--to URI ...] [--report FILE]``: the command's edges.

Exit 0 when every target matches the export (documents newer than the export allowed), 1 when
any differs (the summary on stdout names the first ids), 2 for a user mistake (one line). The
report is written whatever the verdict, atomically (a temporary file renamed over ``FILE``) and
as ASCII JSON, so any table name or document id (lone surrogates included) is valid JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from consumers.exit_codes import ExitCode
from core.errors import UserInputError
from exports.plan import plan_exports
from exports.store import open_store
from projections.base import Projection
from projections.closing import closing_all
from projections.sqlite_target import SqliteTarget
from projections.targets import TargetSpec, parse_target
from replay.progress import Progress
from replay.reconcile import ReconcileResult, reconcile
from schemas import ion_values
from schemas.journal_export import ExportFormat


def run(args: argparse.Namespace, default_target: str) -> int:
    """Run ``reconcile`` for parsed ``args``; print the summary, write the report."""
    ion_values.warn_if_slow_ion()
    specs = [parse_target(uri) for uri in (args.targets or [default_target])]
    for spec in specs:
        _require_existing(spec)
    if args.report is not None:
        check_report_path(args.report)
    store = open_store(args.source)
    plan = plan_exports(store, args.strand)
    total = sum(store.size(o.key) or 0 for o in plan.objects) if not args.no_progress else 0
    progress = Progress(total, len(plan.objects), enabled=not args.no_progress)
    fmt = None if args.format == "auto" else ExportFormat(args.format)
    targets: list[Projection] = []
    with closing_all(targets):
        for spec in specs:
            targets.append(spec.open())
        result = reconcile(
            store,
            plan,
            targets,
            fmt=fmt,
            keep_all=args.report is not None,
            progress=progress,
            skip_dropped=args.skip_dropped,
        )
    if args.report is not None:
        write_report(args.report, result)
    for line in result.lines():
        print(line)
    return ExitCode.OK if result.matches else ExitCode.VERIFY_FAILED


def _require_existing(spec: TargetSpec) -> None:
    """A SQLite target must exist: opening a mistyped path would create an empty database."""
    if isinstance(spec, SqliteTarget) and spec.path != ":memory:" and not Path(spec.path).is_file():
        msg = f"no SQLite database at {spec.path}: reconcile compares an existing projection"
        raise UserInputError(msg)


def check_report_path(path: Path) -> None:
    """Fail before the (long) comparison when the report's folder does not exist."""
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        msg = f"--report {path}: folder {folder} does not exist"
        raise UserInputError(msg)
    if path.is_dir():
        msg = f"--report {path} is a folder"
        raise UserInputError(msg)


def write_report(path: Path, result: ReconcileResult) -> None:
    """Write ``result.report()`` to ``path`` atomically, as ASCII JSON."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="ascii") as out:
            json.dump(result.report(), out, ensure_ascii=True, indent=1)
            out.write("\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
