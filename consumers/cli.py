"""``qldb-cdc``: replay, verify and simulate QLDB journal exports.

Exit codes follow one rule in every command (:mod:`consumers.exit_codes`, README "Exit codes").
Errors are printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from consumers import reconcile_command, redrive_command, snapshot_command, views_command
from consumers.exit_codes import MEANINGS, ExitCode
from core.errors import CdcError, RetryableError, UserInputError
from dead_letters.sinks import JsonLinesDeadLetterSink
from exports.plan import ExportPlan, plan_exports
from exports.store import ExportStore, open_store
from projections.base import Projection
from projections.closing import closing_all
from projections.targets import TargetSpec, parse_target
from replay.digest_anchor import check_anchors, load_anchors
from replay.engine import (
    DEFAULT_BATCH_SIZE,
    ChangeDeadLetters,
    ObjectOutcome,
    ReplayOptions,
    ReplaySummary,
    replay,
    tune_gc_for_replay,
)
from replay.parallel import WorkerConfig, replay_parallel
from replay.progress import Progress
from replay.typed_views import load_mapping
from replay.verify import ChainBlockVerifier, verify_export
from runtime import interrupts
from schemas import ion_values
from schemas.journal_export import ExportFormat
from schemas.view_mapping import ViewMapping
from simulation import cli as simulation_cli

DEFAULT_TARGET = "sqlite:///qldb-cdc.db"
DESCRIPTION = "Replay, verify and simulate Amazon QLDB journal exports."
RESUME_HINT = "re-run the same command to resume"
WORKERS_PER_CORE = 4
"""``--workers`` is capped at this many processes per core: each worker holds a batch in memory
(about 140 MB at the default batch size), and more processes than this only contend."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USER_MISTAKE, f"{self.prog}: error: {message}\n")


def package_version() -> str:
    """The installed version of the ``qldb-cdc`` distribution."""
    try:
        return version("qldb-cdc")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _exit_code_epilog() -> str:
    rows = "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)
    return f"exit codes:\n{rows.replace('`', '')}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = _Parser(
        prog="qldb-cdc",
        description=DESCRIPTION,
        epilog=_exit_code_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qldb-cdc {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    rp = sub.add_parser("replay", help="replay a journal export into projections")
    rp.add_argument("source", help="export folder or s3://bucket/prefix")
    rp.add_argument(
        "--to",
        dest="targets",
        action="append",
        metavar="URI",
        help=f"projection URI, repeatable (default {DEFAULT_TARGET})",
    )
    rp.add_argument("--verify", action="store_true", help="verify every hash while replaying")
    _add_format(rp)
    rp.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"changes per transaction, across data objects (default {DEFAULT_BATCH_SIZE}); "
        "memory grows with it",
    )
    rp.add_argument(
        "--dead-letter",
        type=Path,
        metavar="FILE",
        help="JSON Lines file for changes a target can never store (default: stop on them)",
    )
    rp.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    rp.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="replay data objects in N processes (default 1, at most "
        f"{WORKERS_PER_CORE} per core); the result is the same",
    )
    rp.add_argument(
        "--no-views",
        action="store_true",
        help="do not create or refresh the typed views at the end (see `qldb-cdc views`)",
    )
    views_command.add_view_options(rp)

    vp = sub.add_parser("verify", help="verify every hash and the block chain of an export")
    vp.add_argument("source", help="export folder or s3://bucket/prefix")
    _add_format(vp)
    vp.add_argument("--max-problems", type=_positive_int, default=20, metavar="N")
    vp.add_argument(
        "--digest",
        type=Path,
        metavar="FILE",
        help="anchor the export to a ledger digest: the output of `aws qldb get-digest` (with "
        "--proof), or a *.proofs.json of the QLDB migration sample (default: the *.proofs.json "
        "files in SOURCE)",
    )
    vp.add_argument(
        "--proof",
        type=Path,
        metavar="FILE",
        help="the output of `aws qldb get-block` or `get-revision` run with --digest-tip-address",
    )

    cp = sub.add_parser(
        "reconcile", help="compare projections with the final state an export implies"
    )
    cp.add_argument("source", help="export folder or s3://bucket/prefix")
    cp.add_argument(
        "--to",
        dest="targets",
        action="append",
        metavar="URI",
        help=f"projection URI to compare, repeatable (default {DEFAULT_TARGET})",
    )
    cp.add_argument(
        "--report", type=Path, metavar="FILE", help="write the whole comparison as JSON to FILE"
    )
    _add_format(cp)
    cp.add_argument(
        "--skip-dropped",
        action="store_true",
        help="leave out the ledger tables the export's own statements end dropped (DROP TABLE)",
    )
    cp.add_argument("--no-progress", action="store_true", help="no progress bar or lines")

    wp = sub.add_parser(
        "views", help="create or refresh the typed views of each ledger table in projections"
    )
    views_command.add_arguments(wp, DEFAULT_TARGET)

    np = sub.add_parser(
        "snapshot", help="write every ledger table of a SQL projection as typed Parquet"
    )
    snapshot_command.add_arguments(np, DEFAULT_TARGET)

    dp = sub.add_parser(
        "redrive",
        help="re-read and apply the Kinesis batches a Lambda's OnFailure queue names",
    )
    redrive_command.add_arguments(dp, DEFAULT_TARGET)

    sp = sub.add_parser("simulate", help="write a synthetic export with valid hashes")
    simulation_cli.add_arguments(sp)
    return parser


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=["auto", *(f.value for f in ExportFormat)],
        default="auto",
        help="export OutputFormat (default: detected per object)",
    )
    parser.add_argument(
        "--strand",
        metavar="ID",
        help="use only the exports of this strand (needed when the source holds several)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"not a number: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _format(args: argparse.Namespace) -> ExportFormat | None:
    return None if args.format == "auto" else ExportFormat(args.format)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see :mod:`consumers.exit_codes`)."""
    args = build_parser().parse_args(argv)
    interrupts.reset()
    with interrupts.handling():
        try:
            if args.command == "replay":
                return _replay(args)
            if args.command == "verify":
                return _verify(args)
            if args.command == "reconcile":
                return reconcile_command.run(args, DEFAULT_TARGET)
            if args.command == "views":
                return views_command.run(args, DEFAULT_TARGET)
            if args.command == "snapshot":
                return snapshot_command.run(args)
            if args.command == "redrive":
                return redrive_command.run(args, DEFAULT_TARGET)
            return simulation_cli.run(args)
        except KeyboardInterrupt:
            return _interrupted()
        except (CdcError, OSError) as exc:
            if interrupts.received() is not None:
                # amazon-ion's C extension turns a Ctrl-C into an IonException: the signal
                # decides, not the exception it surfaced as.
                return _interrupted()
            code = exit_code(exc)
            if _is_disk_full(exc):
                _say(f"error: disk full: {exc}; free space and {RESUME_HINT}")
                return code
            retryable = code == ExitCode.RETRYABLE and RESUME_HINT not in str(exc)
            resume = f" ({RESUME_HINT})" if retryable else ""
            _say(f"error: {exc}{resume}")
            return code


def _interrupted() -> int:
    interrupts.record()  # a KeyboardInterrupt raised without a signal counts as Ctrl-C
    _say(f"{interrupts.describe()}; {RESUME_HINT}")
    return interrupts.exit_code()


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code for a failure (see :mod:`consumers.exit_codes`); the class decides."""
    if _is_disk_full(exc):
        return ExitCode.RETRYABLE  # nothing was lost: free space and re-run
    if isinstance(exc, UserInputError | OSError):
        return ExitCode.USER_MISTAKE  # a mistake in flags, paths or configuration
    if isinstance(exc, RetryableError):
        return ExitCode.RETRYABLE  # a target or the source kept failing: nothing was lost
    return ExitCode.BAD_DATA  # corrupt, truncated or unverifiable data, or an unstorable change


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in {errno.ENOSPC, errno.EDQUOT}


def _say(text: str) -> None:
    """One line on stderr, whatever the message holds (drivers put newlines in theirs)."""
    sys.stderr.write(f"qldb-cdc: {' '.join(text.split())}\n")


def _replay(args: argparse.Namespace) -> int:
    ion_values.warn_if_slow_ion()
    tune_gc_for_replay()
    specs = [parse_target(uri) for uri in (args.targets or [DEFAULT_TARGET])]
    if args.dead_letter is not None:
        JsonLinesDeadLetterSink(args.dead_letter).check_writable()
    mapping = load_mapping(None if args.no_views else args.view_mapping)
    store = open_store(args.source)
    plan = plan_exports(store, args.strand)
    for warning in plan.warnings:
        _say(f"warning: {warning}")
    args.workers = capped_workers(args.workers, os.cpu_count())
    total = sum(store.size(o.key) or 0 for o in plan.objects) if not args.no_progress else 0
    progress = Progress(total, len(plan.objects), enabled=not args.no_progress)
    options = ReplayOptions(
        batch_size=args.batch_size,
        fmt=_format(args),
        verifier=ChainBlockVerifier() if args.verify else None,
        dead_letters=(
            ChangeDeadLetters(JsonLinesDeadLetterSink(args.dead_letter))
            if args.dead_letter
            else None
        ),
        progress=progress,
    )
    views = None if args.no_views else (mapping, args.skip_dropped)
    if args.workers > 1:
        config = WorkerConfig.from_options(args.source, specs, options)
        summary = _replay_with_workers(config, args.workers, store, plan, progress)
        for line in summary.lines():
            print(line)
        if views is not None:
            _refresh_views(specs, *views)
    else:
        summary = _replay_in_process(store, plan, specs, options, views)
    return ExitCode.OK


def capped_workers(requested: int, cores: int | None) -> int:
    """``requested`` workers, at most :data:`WORKERS_PER_CORE` per core (with a warning)."""
    cap = WORKERS_PER_CORE * (cores or 1)
    if requested <= cap:
        return requested
    _say(
        f"warning: --workers {requested} is more than {WORKERS_PER_CORE} per core "
        f"({cores or 1} cores here); using {cap}"
    )
    return cap


def _replay_in_process(
    store: ExportStore,
    plan: ExportPlan,
    specs: list[TargetSpec],
    options: ReplayOptions,
    views: tuple[ViewMapping, bool] | None,
) -> ReplaySummary:
    targets: list[Projection] = []
    with closing_all(targets):
        for spec in specs:
            targets.append(spec.open())
        summary = replay(store, plan, targets, options)
        for line in summary.lines():
            print(line)
        if views is not None:
            views_command.refresh_after_replay(targets, views[0], skip_dropped=views[1])
        return summary


def _refresh_views(specs: list[TargetSpec], mapping: ViewMapping, skip_dropped: bool) -> None:
    targets: list[Projection] = []
    with closing_all(targets):
        for spec in specs:
            targets.append(spec.open())
        views_command.refresh_after_replay(targets, mapping, skip_dropped=skip_dropped)


def _replay_with_workers(
    config: WorkerConfig,
    workers: int,
    store: ExportStore,
    plan: ExportPlan,
    progress: Progress,
) -> ReplaySummary:
    def on_object(outcome: ObjectOutcome) -> None:
        nbytes = (store.size(outcome.key) or 0) if progress.total_bytes else 0
        progress.advance(revisions=outcome.summary.revisions_read, nbytes=nbytes, objects=1)

    try:
        return replay_parallel(store, plan, config, workers, on_object=on_object)
    finally:
        progress.finish()


def _verify(args: argparse.Namespace) -> int:
    store = open_store(args.source)
    plan = plan_exports(store, args.strand)
    anchors = load_anchors(store, plan, args.digest, args.proof)
    result = verify_export(
        store, plan, fmt=_format(args), max_problems=args.max_problems, keep_hashes=anchors.blocks
    )
    check_anchors(anchors, plan, result)
    for line in result.lines():
        print(line)
    return ExitCode.VERIFY_FAILED if result.problems else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
