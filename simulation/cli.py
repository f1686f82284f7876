"""``qldb-cdc simulate OUT``: write a synthetic QLDB journal export into a local folder.

The lead's ``consumers/cli.py`` registers the subcommand with :func:`add_arguments` and calls
:func:`run`. Exit codes: 0 success, 1 a file could not be written, 2 invalid arguments or a
non-empty OUT without ``--force`` (one-line message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from schemas.errors import ConfigError
from schemas.journal_export import ExportFormat
from simulation.config import DEFAULT_TABLES, SimulationConfig
from simulation.export_writer import write_export

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_PROGRESS_EVERY = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser``."""
    parser.add_argument("out", metavar="OUT", type=Path, help="folder standing for the bucket root")
    parser.add_argument("--documents", type=int, default=1_000, help="distinct documents (>= 1)")
    parser.add_argument(
        "--revisions", type=int, default=10_000, help="exact user revisions (>= documents)"
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=[f.value for f in ExportFormat],
        default=ExportFormat.ION_BINARY.value,
        help="export OutputFormat (default: ion_binary)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--blocks-per-object", type=int, default=1_000, help="blocks per data object (default 1000)"
    )
    parser.add_argument(
        "--exports", type=int, default=1, help="number of contiguous exports (default: 1)"
    )
    parser.add_argument("--prefix", default="", help="S3 key prefix, e.g. 'exports/'")
    parser.add_argument("--ledger-name", default="simulated-ledger", help="ledger name")
    parser.add_argument(
        "--tables",
        default=",".join(DEFAULT_TABLES),
        help="comma-separated table names (default: %(default)s)",
    )
    parser.add_argument("--delete-ratio", type=float, default=0.03, help="share of deletes")
    parser.add_argument(
        "--redaction-ratio", type=float, default=0.01, help="share of redacted revisions"
    )
    parser.add_argument(
        "--max-docs-per-tx", type=int, default=4, help="documents per transaction, at most"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into OUT even when it is not empty"
    )


def run(
    args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``simulate`` with parsed ``args``; return the process exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    target: Path = args.out
    try:
        config = SimulationConfig(
            documents=args.documents,
            revisions=args.revisions,
            seed=args.seed,
            tables=tuple(name.strip() for name in args.tables.split(",") if name.strip()),
            delete_ratio=args.delete_ratio,
            redaction_ratio=args.redaction_ratio,
            max_docs_per_tx=args.max_docs_per_tx,
            ledger_name=args.ledger_name,
        )
        _check_numbers(args)
        _check_target(target, force=args.force)
    except ConfigError as exc:
        print(f"qldb-cdc simulate: error: {exc}", file=err)
        return EXIT_USAGE
    progress = _progress(err) if err.isatty() else None
    try:
        layout = write_export(
            target,
            config,
            args.fmt,
            blocks_per_object=args.blocks_per_object,
            prefix=args.prefix,
            split_exports=args.exports,
            on_block=progress,
        )
    except ConfigError as exc:
        print(f"qldb-cdc simulate: error: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"qldb-cdc simulate: error: cannot write {target}: {exc}", file=err)
        return EXIT_FAILED
    if progress is not None:
        print(file=err)
    totals = layout.totals
    objects = sum(len(export.keys) for export in layout.exports)
    print(
        f"wrote {len(layout.exports)} {layout.fmt.value} export(s) to {target}: "
        f"{totals.blocks} blocks in {objects} objects, {totals.user_revisions} revisions "
        f"({totals.inserts} inserts, {totals.updates} updates, {totals.deletes} deletes, "
        f"{totals.redactions} redacted), {totals.system_revisions} system revisions, "
        f"strand {layout.strand_id}",
        file=out,
    )
    return EXIT_OK


def _check_numbers(args: argparse.Namespace) -> None:
    if args.blocks_per_object < 1:
        msg = f"--blocks-per-object must be >= 1, got {args.blocks_per_object}"
        raise ConfigError(msg)
    if not 1 <= args.exports <= args.revisions:
        msg = f"--exports must be between 1 and --revisions ({args.revisions}), got {args.exports}"
        raise ConfigError(msg)


def _check_target(target: Path, *, force: bool) -> None:
    """Refuse a non-folder OUT, or a non-empty one without ``--force``.

    Raises:
        ConfigError: With a one-line message, also when OUT cannot be inspected (OSError:
            permission denied, not a directory on the way, ...).
    """
    try:
        if target.exists() and not target.is_dir():
            msg = f"OUT {target} exists and is not a folder"
            raise ConfigError(msg)
        if not force and target.is_dir() and any(target.iterdir()):
            msg = f"OUT {target} is not empty (use --force to write into it anyway)"
            raise ConfigError(msg)
    except OSError as exc:
        msg = f"cannot read OUT {target}: {exc.strerror or exc}"
        raise ConfigError(msg) from None


def _progress(err: TextIO) -> Callable[[int], None]:
    def report(blocks: int) -> None:
        if blocks % _PROGRESS_EVERY == 0:
            print(f"\r{blocks} blocks written", end="", file=err, flush=True)

    return report
