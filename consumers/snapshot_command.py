"""The ``qldb-cdc snapshot`` command: typed Parquet of every ledger table of a SQL projection
(``replay/snapshot.py``; README "Parquet snapshots").

``--from`` is a SQLite or PostgreSQL projection (a SQLite file must exist), or ``--export`` an
export, replayed first into a temporary SQLite database beside ``--to`` by ``qldb-cdc replay``
in its own (watched) process; ``--to`` is a local folder, written atomically. Mistakes (a
missing database, a target that keeps no snapshot source, a ``--to`` that is not a snapshot,
pyarrow missing) are exit 2 in one line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from consumers.exit_codes import ExitCode
from core.errors import UserInputError
from projections import s3_snapshot, s3_target
from projections.base import Projection, SnapshotSource, TableLifecycleProjection
from projections.closing import closing_all
from projections.sqlite import SQLiteProjection
from projections.sqlite_target import SqliteTarget
from projections.targets import parse_target
from replay.snapshot import TableFiles, write_snapshot
from replay.typed_views import load_mapping


def add_arguments(parser: argparse.ArgumentParser, default_target: str) -> None:
    """The ``snapshot`` command's arguments."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from",
        dest="source",
        metavar="URI",
        default=default_target,
        help=f"SQLite or PostgreSQL projection to read (default {default_target})",
    )
    source.add_argument(
        "--export",
        metavar="SOURCE",
        help="an export folder or s3://bucket/prefix: replay it into a temporary SQLite first",
    )
    parser.add_argument(
        "--to",
        dest="dest",
        required=True,
        metavar="DIR|s3://bucket/prefix",
        help="snapshot folder, or an S3 prefix (published with a _latest.json pointer)",
    )
    parser.add_argument(
        "--history", action="store_true", help="also write every revision (history.parquet)"
    )
    parser.add_argument(
        "--view-mapping",
        type=Path,
        metavar="FILE",
        help="JSON file choosing column names and types, as for the typed views",
    )
    parser.add_argument(
        "--skip-dropped", action="store_true", help="leave out ledger tables that are dropped"
    )
    parser.add_argument("--no-progress", action="store_true", help="no line per table")


def run(args: argparse.Namespace) -> int:
    """Run ``snapshot`` for parsed ``args``."""
    if str(args.dest).startswith("s3://"):
        return _to_s3(args)
    args.dest = Path(args.dest)
    mapping = load_mapping(args.view_mapping)
    if args.export is not None:
        return _from_export(args)
    spec = parse_target(args.source)
    if isinstance(spec, SqliteTarget) and not Path(spec.path).is_file():
        msg = f"--from {args.source}: no SQLite database at {spec.path}"
        raise UserInputError(msg)
    opened: list[Projection] = []
    with closing_all(opened):
        # A snapshot only reads: a SQLite file is opened read-only (nothing created in it).
        source = (
            SQLiteProjection(spec.path, read_only=True)
            if isinstance(spec, SqliteTarget)
            else spec.open()
        )
        opened.append(source)
        if not isinstance(source, SnapshotSource):
            msg = f"--from {args.source}: only SQLite and PostgreSQL projections can be snapshot"
            raise UserInputError(msg)
        leave_out: frozenset[str] = frozenset()
        if args.skip_dropped and isinstance(source, TableLifecycleProjection):
            leave_out = frozenset(source.dropped_tables())

        def progress(files: TableFiles) -> None:
            if not args.no_progress:
                rows = ", ".join(f"{n:,} {kind}" for kind, n in files.rows.items())
                print(f"snapshot: {files.ledger_table!r}: {rows} rows")

        result = write_snapshot(
            source,
            args.dest,
            mapping,
            history=args.history,
            leave_out=leave_out,
            on_table=progress,
        )
    for line in result.lines():
        print(line)
    for warning in result.warnings:  # what the typed columns left out, as `views` says it
        sys.stderr.write(f"qldb-cdc: warning: {' '.join(warning.split())}\n")
    return ExitCode.OK


def _from_export(args: argparse.Namespace) -> int:
    """Replay ``--export`` into a temporary SQLite database, snapshot it, delete it."""
    dest = args.dest.absolute()
    if not dest.parent.is_dir():
        msg = f"--to {dest}: its folder {dest.parent} does not exist"
        raise UserInputError(msg)
    with tempfile.TemporaryDirectory(prefix=".qldb-cdc-replay-", dir=dest.parent) as scratch:
        db = Path(scratch) / "replay.db"
        replay = [sys.executable, "-m", "consumers.entry_point", "replay", args.export]
        replay += ["--to", f"sqlite:///{db}", "--no-views", "--no-progress"]
        print(f"snapshot: replaying {args.export} into a temporary SQLite database first")
        code = subprocess.call(replay, stdout=subprocess.DEVNULL)
        if code != ExitCode.OK:
            return code  # the replay said why on stderr, in one line
        nested = argparse.Namespace(**{**vars(args), "export": None, "source": f"sqlite:///{db}"})
        return run(nested)


def _to_s3(args: argparse.Namespace) -> int:
    """Write the snapshot into a local temporary folder, then publish it to S3."""
    target = s3_target.parse(str(args.dest))
    with tempfile.TemporaryDirectory(prefix="qldb-cdc-snapshot-") as scratch:
        local = Path(scratch) / "snapshot"
        code = run(argparse.Namespace(**{**vars(args), "dest": local}))
        if code != ExitCode.OK:
            return code
        snapshot = s3_snapshot.publish(local, target)
    base = f"{target.prefix}/{snapshot}" if target.prefix else snapshot
    print(f"snapshot: published to s3://{target.bucket}/{base} ({s3_snapshot.LATEST} points at it)")
    return ExitCode.OK
