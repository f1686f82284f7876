"""The ``qldb-cdc views`` command, and the refresh of typed views that ends ``replay``.

``views`` opens each ``--to`` target (a SQLite target must exist), refreshes its typed views
from the field types it recorded (``replay/typed_views.py``), prints one line per target and
the warnings, and exits 0. An S3 target gets no views: ``views`` prints its Athena / Glue DDL
(``projections/athena_ddl.py``) on stdout after the summary lines, or writes it to
``--ddl FILE``. Mistakes (a missing database, a bad mapping file, a mapped name
that clashes) are exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumers.exit_codes import ExitCode
from core.errors import UserInputError
from projections.base import DdlProjection, Projection
from projections.closing import closing_all
from projections.s3_target import S3Target
from projections.sqlite_target import SqliteTarget
from projections.targets import TargetSpec, parse_target
from replay.typed_views import TargetViews, load_mapping, refresh_all
from schemas.view_mapping import ViewMapping


def add_arguments(parser: argparse.ArgumentParser, default_target: str) -> None:
    """The ``views`` command's arguments."""
    parser.add_argument(
        "--to",
        dest="targets",
        action="append",
        metavar="URI",
        help=f"projection URI, repeatable (default {default_target})",
    )
    parser.add_argument(
        "--ddl",
        type=Path,
        metavar="FILE",
        help="write the Athena DDL of S3 targets to FILE instead of printing it",
    )
    parser.add_argument(
        "--duckdb",
        type=Path,
        metavar="FILE",
        help="write DuckDB views of S3 targets to FILE (README 'S3 / DuckDB')",
    )
    parser.add_argument(
        "--duckdb-root",
        metavar="PATH",
        help="the DuckDB views read this local copy of the objects instead of s3://",
    )
    add_view_options(parser)


def add_view_options(parser: argparse.ArgumentParser) -> None:
    """Options that ``views`` and ``replay`` share."""
    parser.add_argument(
        "--view-mapping",
        type=Path,
        metavar="FILE",
        help="JSON file choosing view and column names and types (README 'Typed views')",
    )
    parser.add_argument(
        "--skip-dropped",
        action="store_true",
        help="no typed views for ledger tables that are dropped (DROP TABLE)",
    )


def run(args: argparse.Namespace, default_target: str) -> int:
    """Run ``views`` for parsed ``args``."""
    mapping = load_mapping(args.view_mapping)
    specs = [parse_target(uri) for uri in (args.targets or [default_target])]
    for spec in specs:
        _require_existing(spec)
    if not any(isinstance(spec, S3Target) for spec in specs):  # before anything is refreshed
        for option, value in (("--ddl", args.ddl), ("--duckdb", args.duckdb)):
            if value is not None:
                msg = f"{option} {value}: no --to target has such DDL (only s3:// targets do)"
                raise UserInputError(msg)
    if args.duckdb_root is not None and args.duckdb is None:
        msg = "--duckdb-root needs --duckdb FILE (where to write the views)"
        raise UserInputError(msg)
    if args.duckdb_root is not None and any(c in args.duckdb_root for c in "*?[]{}"):
        msg = (
            f"--duckdb-root {args.duckdb_root!r}: DuckDB reads it as a glob; "
            "use a path without * ? [ ] { }"
        )
        raise UserInputError(msg)
    targets: list[Projection] = []
    with closing_all(targets):
        for spec in specs:
            targets.append(spec.open())
        results = refresh_all(targets, mapping, skip_dropped=args.skip_dropped, ddl=True)
        report(results)
        ddl = "".join(r.ddl.text() for r in results if r.ddl is not None)
        if args.ddl is not None and not ddl:
            msg = f"--ddl {args.ddl}: no --to target has Athena DDL (only s3:// targets do)"
            raise UserInputError(msg)
        if ddl and args.ddl is not None:
            _write_ddl(args.ddl, ddl)
            print(f"views: Athena DDL written to {args.ddl}")
        elif ddl and args.duckdb is None:  # with --duckdb FILE, that file is the output
            print()
            print(ddl, end="")
        if args.duckdb is not None or args.duckdb_root is not None:
            _write_duckdb(targets, mapping, args.duckdb, args.duckdb_root)
    return ExitCode.OK


def _write_duckdb(
    targets: list[Projection], mapping: ViewMapping, path: Path | None, root: str | None
) -> None:
    if path is None:
        msg = "--duckdb-root needs --duckdb FILE (where to write the views)"
        raise UserInputError(msg)
    built = [t.duckdb_views(mapping, root=root) for t in targets if isinstance(t, DdlProjection)]
    if not built:
        msg = f"--duckdb {path}: no --to target has DuckDB views (only s3:// targets do)"
        raise UserInputError(msg)
    if root is not None and len(built) > 1:
        msg = "--duckdb-root reads one copy: give one s3:// target with it"
        raise UserInputError(msg)
    for views in built:
        for warning in views.warnings:
            sys.stderr.write(f"qldb-cdc: warning: {' '.join(warning.split())}\n")
    text = "".join(v.text() for v in built)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        msg = f"--duckdb {path}: cannot write it ({exc.strerror or exc})"
        raise UserInputError(msg) from None
    count = sum(len(v.statements) for v in built)
    print(f"views: {count} DuckDB views written to {path} (run it with: duckdb -c '.read {path}')")


def _write_ddl(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        msg = f"--ddl {path}: cannot write it ({exc.strerror or exc})"
        raise UserInputError(msg) from None


def refresh_after_replay(
    targets: list[Projection], mapping: ViewMapping, *, skip_dropped: bool
) -> None:
    """Refresh the views of open ``targets`` at the end of a replay and print the lines."""
    report(refresh_all(targets, mapping, skip_dropped=skip_dropped))


def report(results: list[TargetViews]) -> None:
    """Print one line per target on stdout and each warning on stderr."""
    for result in results:
        for line in result.lines():
            print(line)
        for warning in result.warnings:
            sys.stderr.write(f"qldb-cdc: warning: {' '.join(warning.split())}\n")


def _require_existing(spec: TargetSpec) -> None:
    """A SQLite target must exist: a mistyped path would create an empty database."""
    if isinstance(spec, SqliteTarget) and spec.path != ":memory:" and not Path(spec.path).is_file():
        msg = f"no SQLite database at {spec.path}: views are built from an existing projection"
        raise UserInputError(msg)
