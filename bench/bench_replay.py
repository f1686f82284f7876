"""Benchmark: replay of a synthetic ION_BINARY export (revisions/s, peak RSS, worker scaling),
and its hash verification (``verify``, ``replay --verify``).

Usage::

    .venv/bin/python bench/bench_replay.py --revisions 200000
    .venv/bin/python bench/bench_replay.py --revisions 1000000 --workers 1,2 \
        --targets sqlite,postgresql --modes replay

The export is generated once per (revisions, documents, seed) under ``bench/out/`` and reused.
Every number is measured in this run: the **baseline** is decoding the same objects with
amazon-ion alone (no change model, no writes), so ``replay / baseline`` says how much of the
time the pipeline adds on top of Ion parsing. Each replay runs ``qldb-cdc replay`` in a fresh
child process; its peak RSS is the largest resident set of that process or any of its workers.
Nothing here asserts on time.

``--modes`` (default ``replay,verify,replay-verify``) also times ``qldb-cdc verify`` (once per
round, with the first target's run) and ``replay --verify``; each verified rate is printed with its
ratio to the unverified replay of the same code in the same round and to the decode baseline (the
exact value model verification decodes with is timed as a second baseline).

``--compare-with DIR`` also replays with the code of another checkout (e.g. ``git worktree add
/tmp/before main``), alternating with this one for ``--rounds`` rounds, and prints the median
rate of each and their ratio. For SQLite the peak WAL size and the final database size are
printed too (the free space a replay needs).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amazon.ion import simpleion  # noqa: E402

from schemas.journal_export import ExportFormat  # noqa: E402
from simulation.config import SimulationConfig  # noqa: E402
from simulation.export_writer import write_export  # noqa: E402

_CHILD = """
import os, resource, subprocess, sys, threading, time
wal = os.environ.get("BENCH_WAL_PATH")
peak = [0]
done = threading.Event()
def watch():
    while not done.wait(0.02):
        try:
            peak[0] = max(peak[0], os.stat(wal).st_size)
        except OSError:
            pass
if wal:
    threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - start
done.set()
print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, peak[0])
"""


def export_for(args: argparse.Namespace) -> Path:
    out = ROOT / "bench" / "out" / f"export-{args.revisions}-{args.documents}-{args.seed}"
    marker = out / "READY"
    if marker.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    config = SimulationConfig(documents=args.documents, revisions=args.revisions, seed=args.seed)
    print(f"generating {args.revisions} revisions into {out} (once) ...", flush=True)
    started = time.perf_counter()
    write_export(out, config, ExportFormat.ION_BINARY, blocks_per_object=1000)
    print(f"  generated in {time.perf_counter() - started:.0f}s", flush=True)
    marker.write_text("ok")
    return out


_FAST_MODEL = simpleion.IonPyValueModel.MAY_BE_BARE | simpleion.IonPyValueModel.STRUCT_AS_STD_DICT
_EXACT_MODEL = simpleion.IonPyValueModel.MAY_BE_BARE
MODES = ("replay", "verify", "replay-verify")


def decode_baseline(export: Path, model: object = _FAST_MODEL) -> tuple[float, int]:
    """Seconds to decode every object with amazon-ion alone (by default the replay's value
    model; verification decodes with ``_EXACT_MODEL``)."""
    revisions = 0
    started = time.perf_counter()
    for path in sorted(export.rglob("*.10n")):
        data = path.read_bytes()
        reader = simpleion.load(
            io.BytesIO(data), single_value=False, parse_eagerly=False, value_model=model
        )
        for block in reader:
            revisions += sum(1 for r in block.get("revisions") or () if "metadata" in r)
    return time.perf_counter() - started, revisions


def run_replay(
    export: Path, uri: str, workers: int, code_dir: Path = ROOT, mode: str = "replay"
) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, peak WAL bytes for SQLite) of one ``qldb-cdc replay`` (``mode``
    ``replay``), ``replay --verify`` (``replay-verify``) or ``verify`` (``uri`` and ``workers``
    unused) in a fresh child process, running the code in ``code_dir``."""
    # What the console script runs: the watched replay (consumers.ion_watchdog) where it exists.
    watched = (code_dir / "consumers" / "entry_point.py").exists()
    command = [sys.executable, "-m", "consumers.entry_point" if watched else "consumers.cli"]
    if mode == "verify":
        command += ["verify", str(export)]
    else:
        command += ["replay", str(export), "--to", uri, "--no-progress", "--workers", str(workers)]
        command += ["--verify"] if mode == "replay-verify" else []
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    if mode != "verify" and uri.startswith("sqlite:///"):
        env["BENCH_WAL_PATH"] = uri.removeprefix("sqlite:///") + "-wal"
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=code_dir,
        env=env,
    )
    code, elapsed, rss, wal = result.stdout.split()
    if code != "0":
        msg = f"replay failed ({code}): {result.stderr[-2000:]}"
        raise SystemExit(msg)
    return float(elapsed), int(rss), int(wal)


def remove_sqlite(db: Path) -> None:
    """Delete a SQLite database and its WAL files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def export_arguments(parser: argparse.ArgumentParser, revisions: int) -> None:
    """The options choosing the bench export (``export_for``) and the rounds."""
    parser.add_argument("--revisions", type=int, default=revisions)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)


def replayed_sqlite(args: argparse.Namespace) -> tuple[Path, float]:
    """The bench export (made once) replayed into a fresh SQLite database: (file, seconds)."""
    args.documents = args.documents or max(1, args.revisions // 10)
    uri = target_uri("sqlite", 1, args)
    seconds, _rss, _wal = run_replay(export_for(args), uri, 1)
    return Path(uri.removeprefix("sqlite:///")), seconds


def target_uri(kind: str, run: int, args: argparse.Namespace) -> str:
    if kind == "sqlite":
        db = ROOT / "bench" / "out" / f"replay-{os.getpid()}-{run}.db"
        remove_sqlite(db)
        return f"sqlite:///{db}"
    if kind == "postgresql":
        from tests.support.pg_server import dsn, fresh_schema

        base = args.pg_dsn or dsn()
        schema = fresh_schema(base, prefix=f"bench{run}")
        return f"{base}{'&' if '?' in base else '?'}schema={schema}"
    msg = f"unknown target {kind}"
    raise SystemExit(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", default="1", help="comma list, e.g. 1,2")
    parser.add_argument("--targets", default="sqlite", help="comma list: sqlite,postgresql")
    parser.add_argument("--pg-dsn", default=None)
    parser.add_argument("--json", action="store_true", help="also print results as JSON")
    parser.add_argument("--compare-with", type=Path, default=None, metavar="DIR")
    parser.add_argument("--rounds", type=int, default=0, help="default 1, or 3 with a compare")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}"
    )
    args = parser.parse_args()
    args.documents = args.documents or max(1, args.revisions // 10)
    modes = [m for m in MODES if m in args.modes.split(",")]
    export = export_for(args)
    base_s, revisions = decode_baseline(export)
    base_rate = revisions / base_s
    print(f"export: {revisions} user revisions in {export}")
    print(f"baseline  Ion decode only          {base_rate:>10,.0f} revisions/s")
    if "verify" in modes or "replay-verify" in modes:
        exact_s, _ = decode_baseline(export, _EXACT_MODEL)
        print(
            f"baseline  Ion decode, exact model  {revisions / exact_s:>10,.0f} revisions/s "
            "(what verification decodes with)"
        )
    results = []
    run = 0
    codes = [("this", ROOT)] + ([("compared", args.compare_with)] if args.compare_with else [])
    rounds = args.rounds or (3 if args.compare_with else 1)
    first = True
    for kind in args.targets.split(","):
        one_worker_rate = None
        for workers in (int(w) for w in args.workers.split(",")):
            here = [m for m in modes if m != "verify" or first]  # verify has no target
            first = False
            rates: dict[tuple[str, str], list[float]] = {
                (name, mode): [] for name, _ in codes for mode in here
            }
            for _ in range(rounds):
                for name, code_dir in codes:
                    replay_rate = None
                    for mode in here:
                        run += 1
                        uri = target_uri(kind, run, args)
                        elapsed, rss_kib, wal = run_replay(export, uri, workers, code_dir, mode)
                        rate = revisions / elapsed
                        rates[(name, mode)].append(rate)
                        replay_rate = rate if mode == "replay" else replay_rate
                        size = vs_replay = ""
                        if kind == "sqlite" and mode != "verify":
                            db = Path(uri.removeprefix("sqlite:///"))
                            mb = db.stat().st_size / 1e6
                            size = f"  peak WAL {wal / 1e6:.0f} MB, database {mb:.0f} MB"
                        if mode != "replay" and replay_rate:
                            vs_replay = f" = {rate / replay_rate:.2f}x replay"
                        where = "" if mode == "verify" else f"{kind:<10} workers={workers}"
                        print(
                            f"{mode:<13} {where:<20} {name:<8} {rate:>10,.0f} revisions/s = "
                            f"{rate / base_rate:.2f}x baseline{vs_replay}  peak RSS "
                            f"{rss_kib / 1024:.0f} MB{size}",
                            flush=True,
                        )
                        results.append(
                            {
                                "mode": mode,
                                "target": None if mode == "verify" else kind,
                                "workers": workers,
                                "code": name,
                                "revisions_per_s": round(rate),
                                "vs_baseline": round(rate / base_rate, 3),
                                "vs_replay": (
                                    round(rate / replay_rate, 3)
                                    if replay_rate and mode != "replay"
                                    else None
                                ),
                                "peak_rss_mb": round(rss_kib / 1024),
                                "peak_wal_bytes": wal,
                            }
                        )
            _summarise(here, rates, rounds, args.compare_with is not None)
            if "replay" in here:
                rate = statistics.median(rates[("this", "replay")])
                one_worker_rate = rate if workers == 1 else one_worker_rate
                if one_worker_rate and workers > 1:
                    print(f"  scaling efficiency {rate / (workers * one_worker_rate):.0%}")
    if args.json:
        print(json.dumps({"baseline_revisions_per_s": round(base_rate), "runs": results}))


def _summarise(
    modes: list[str], rates: dict[tuple[str, str], list[float]], rounds: int, compared: bool
) -> None:
    """Medians per mode: verified rates against the replay, this code against the compared."""
    medians = {key: statistics.median(values) for key, values in rates.items()}
    for mode in modes:
        rate = medians[("this", mode)]
        line = f"  {mode:<13} median of {rounds}: this {rate:,.0f} revisions/s"
        if mode != "replay" and ("this", "replay") in medians:
            line += f" = {rate / medians[('this', 'replay')]:.2f}x replay"
        if compared:
            other = medians[("compared", mode)]
            line += f"; compared {other:,.0f}"
            if mode != "replay" and ("compared", "replay") in medians:
                line += f" = {other / medians[('compared', 'replay')]:.2f}x replay"
            # runs of the same round share the machine's load: their ratios are paired
            pairs = zip(rates[("this", mode)], rates[("compared", mode)], strict=True)
            paired = [a / b for a, b in pairs]
            line += (
                f"; this / compared = {rate / other:.3f}x (median of the rounds' ratios "
                f"{statistics.median(paired):.3f}x, range {min(paired):.2f}-{max(paired):.2f})"
            )
        print(line)


if __name__ == "__main__":
    main()
