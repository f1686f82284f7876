"""``qldb-cdc simulate OUT``: write a synthetic QLDB journal export into a local folder.

``consumers/cli.py`` registers the subcommand with :func:`add_arguments` and calls :func:`run`,
which raises :class:`ConfigError` for every mistake (bad numbers, an OUT that is not ours, an OUT
that cannot be written); the CLI prints it as one line and exits 2.

Re-running is idempotent: the parameters are recorded in ``OUT/qldb-cdc-simulation.json`` (first
with ``"complete": false``, then ``true``). A re-run with the same parameters into the same OUT
writes nothing when the recorded run completed, and writes the same export again when it did not
(the simulation is deterministic). A different simulation, or a non-empty folder without the
record, is refused unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.errors import ConfigError
from schemas.journal_export import ExportFormat
from simulation.config import DEFAULT_TABLES, SimulationConfig
from simulation.digest_files import DIGEST_FILE, DigestRecorder
from simulation.export_writer import write_export

RECORD_NAME = "qldb-cdc-simulation.json"
"""The file in OUT that records the parameters of the simulation written there."""
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
        "--table-lifecycle",
        action="store_true",
        help="end the journal with DROP TABLE, UNDROP TABLE and DROP TABLE of the last table",
    )
    parser.add_argument(
        "--force", action="store_true", help="write into OUT even when it is not empty"
    )
    parser.add_argument(
        "--digest",
        action="store_true",
        help=f"also write the ledger digest of the tip ({DIGEST_FILE}, as `aws qldb get-digest` "
        "prints it), proofs of the tip block and of the last revision (block-proof.json, "
        "revision-proof.json) and a <exportId>.<strandId>.proofs.json per export; memory grows "
        "by 40 bytes per block",
    )


def run(
    args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``simulate`` with parsed ``args``; return 0 (see the module docstring).

    Raises:
        ConfigError: invalid numbers, an OUT that is not ours (without ``--force``), or an OUT
            that cannot be read or written; one line naming OUT.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    target: Path = args.out
    config = SimulationConfig(
        documents=args.documents,
        revisions=args.revisions,
        seed=args.seed,
        tables=tuple(name.strip() for name in args.tables.split(",") if name.strip()),
        delete_ratio=args.delete_ratio,
        redaction_ratio=args.redaction_ratio,
        max_docs_per_tx=args.max_docs_per_tx,
        ledger_name=args.ledger_name,
        table_lifecycle=args.table_lifecycle,
    )
    _check_numbers(args)
    parameters = _parameters(args)
    recorded = _check_target(target, parameters, force=args.force)
    if recorded is not None and recorded.get("complete") is True:
        print(
            f"{target} already holds this simulation ({RECORD_NAME}); nothing written: "
            f"{recorded.get('summary', '')}".rstrip(": "),
            file=out,
        )
        return 0
    progress = _progress(err) if err.isatty() else None
    recorder = DigestRecorder() if args.digest else None

    def on_block(blocks: int) -> None:
        if blocks == 1:  # the arguments passed write_export's checks: OUT is ours from now on
            _write_record(target, parameters, complete=False)
        if progress is not None:
            progress(blocks)

    try:
        layout = write_export(
            target,
            config,
            args.fmt,
            blocks_per_object=args.blocks_per_object,
            prefix=args.prefix,
            split_exports=args.exports,
            on_block=on_block,
            on_written=None if recorder is None else recorder.observe,
        )
        if recorder is not None:
            for key, data in recorder.files(layout).items():
                _write_atomically(target / key, data)
    except OSError as exc:
        msg = f"cannot write OUT {target}: {exc.strerror or exc}" + (
            f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
        )
        raise ConfigError(msg) from None
    if progress is not None:
        print(file=err)
    totals = layout.totals
    objects = sum(len(export.keys) for export in layout.exports)
    summary = (
        f"{len(layout.exports)} {layout.fmt.value} export(s), "
        f"{totals.blocks} blocks in {objects} objects, {totals.user_revisions} revisions "
        f"({totals.inserts} inserts, {totals.updates} updates, {totals.deletes} deletes, "
        f"{totals.redactions} redacted), {totals.system_revisions} system revisions, "
        f"strand {layout.strand_id}"
    ) + (f"; digest of the tip in {DIGEST_FILE}" if recorder is not None else "")
    try:
        _write_record(target, parameters, complete=True, summary=summary)
    except OSError as exc:
        msg = f"cannot write {target / RECORD_NAME}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    print(f"wrote to {target}: {summary}", file=out)
    return 0


def _parameters(args: argparse.Namespace) -> dict[str, object]:
    """Everything that decides what a simulation writes (not ``--force``)."""
    parameters: dict[str, object] = {
        "documents": args.documents,
        "revisions": args.revisions,
        "format": args.fmt,
        "seed": args.seed,
        "blocks_per_object": args.blocks_per_object,
        "exports": args.exports,
        "prefix": args.prefix,
        "ledger_name": args.ledger_name,
        "tables": args.tables,
        "delete_ratio": args.delete_ratio,
        "redaction_ratio": args.redaction_ratio,
        "max_docs_per_tx": args.max_docs_per_tx,
    } | ({"digest": True} if args.digest else {})
    if args.table_lifecycle:  # absent when off: earlier simulations keep their record
        parameters["table_lifecycle"] = True
    return parameters


def _write_record(
    target: Path, parameters: dict[str, object], *, complete: bool, summary: str = ""
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    record = {"parameters": parameters, "complete": complete, "summary": summary}
    partial = target / f"{RECORD_NAME}.partial"
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(target / RECORD_NAME)


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def _check_numbers(args: argparse.Namespace) -> None:
    if args.blocks_per_object < 1:
        msg = f"--blocks-per-object must be >= 1, got {args.blocks_per_object}"
        raise ConfigError(msg)
    if not 1 <= args.exports <= args.revisions:
        msg = f"--exports must be between 1 and --revisions ({args.revisions}), got {args.exports}"
        raise ConfigError(msg)


def _check_target(
    target: Path, parameters: dict[str, object], *, force: bool
) -> dict[str, object] | None:
    """Refuse a non-folder OUT, or a non-empty one that is not this simulation's (unless
    ``force``); return the record of this same simulation when OUT holds one.

    Raises:
        ConfigError: With a one-line message, also when OUT cannot be inspected (OSError:
            permission denied, not a directory on the way, ...).
    """
    try:
        if target.exists() and not target.is_dir():
            msg = f"OUT {target} exists and is not a folder"
            raise ConfigError(msg)
        if not target.is_dir() or not any(target.iterdir()):
            return None
        record = _read_record(target / RECORD_NAME)
    except OSError as exc:
        msg = f"cannot read OUT {target}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    if record is not None and record.get("parameters") == parameters:
        return record
    if force:
        return None
    if record is None:
        msg = f"OUT {target} is not empty (use --force to write into it anyway)"
        raise ConfigError(msg)
    msg = (
        f"OUT {target} holds a different simulation ({_differences(record, parameters)}; see "
        f"{RECORD_NAME}): use another folder, or --force to write into it anyway"
    )
    raise ConfigError(msg)


def _read_record(path: Path) -> dict[str, object] | None:
    """The parsed record at ``path``; None when there is none or it is not one of ours."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _differences(record: dict[str, object], parameters: dict[str, object]) -> str:
    old = record.get("parameters")
    old_values = old if isinstance(old, dict) else {}
    changed = [
        f"{name.replace('_', '-')} {old_values.get(name)!r} there, {value!r} now"
        for name, value in parameters.items()
        if old_values.get(name) != value
    ]
    return ", ".join(changed) or "unreadable parameters"


def _progress(err: TextIO) -> Callable[[int], None]:
    def report(blocks: int) -> None:
        if blocks % _PROGRESS_EVERY == 0:
            print(f"\r{blocks} blocks written", end="", file=err, flush=True)

    return report
