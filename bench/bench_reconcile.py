"""Benchmark: ``qldb-cdc reconcile`` against SQLite, as a ratio to a plain replay of the export.

Usage::

    .venv/bin/python bench/bench_reconcile.py --revisions 200000
    .venv/bin/python bench/bench_reconcile.py --revisions 1000000 --rounds 3

The export is the one ``bench/bench_replay.py`` generates (``bench/out/``, reused). Every number
is measured in this run: the **baseline** is ``qldb-cdc replay`` of the export into a fresh
SQLite database; then ``qldb-cdc reconcile`` compares that database with the export. Both run
in a fresh child process (the console script's watched run) and report their wall time and
peak RSS; the goal is reconcile within 2x the replay's time, with flat memory. Nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_replay import _CHILD, export_for, run_replay, target_uri  # noqa: E402


def run_reconcile(export: Path, uri: str) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one ``qldb-cdc reconcile`` in a fresh child process."""
    command = [sys.executable, "-m", "consumers.entry_point", "reconcile", str(export)]
    command += ["--to", uri, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    code, elapsed, rss, _wal = result.stdout.split()
    if code != "0":
        msg = f"reconcile did not match ({code}): {result.stderr[-2000:]}"
        raise SystemExit(msg)
    return float(elapsed), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    args.documents = args.documents or max(1, args.revisions // 10)
    export = export_for(args)
    replays: list[float] = []
    reconciles: list[float] = []
    for run in range(1, args.rounds + 1):
        uri = target_uri("sqlite", run, args)
        replay_s, replay_rss, _wal = run_replay(export, uri, 1)
        reconcile_s, reconcile_rss = run_reconcile(export, uri)
        replays.append(replay_s)
        reconciles.append(reconcile_s)
        print(
            f"round {run}: replay {replay_s:.1f}s peak RSS {replay_rss / 1024:.0f} MB; "
            f"reconcile {reconcile_s:.1f}s peak RSS {reconcile_rss / 1024:.0f} MB = "
            f"{reconcile_s / replay_s:.2f}x the replay's time, "
            f"{reconcile_rss / replay_rss:.2f}x its memory",
            flush=True,
        )
        Path(uri.removeprefix("sqlite:///")).unlink(missing_ok=True)
    ratio = statistics.median(reconciles) / statistics.median(replays)
    print(
        f"{args.revisions} revisions, {args.documents} documents: reconcile median "
        f"{statistics.median(reconciles):.1f}s vs replay {statistics.median(replays):.1f}s = "
        f"{ratio:.2f}x (goal: at most 2x)"
    )


if __name__ == "__main__":
    main()
