"""Benchmark: what the typed views cost, in replay time and per query, as ratios.

Usage::

    git worktree add /tmp/before 3652b58   # the last commit before typed views
    .venv/bin/python bench/bench_views.py --revisions 200000 --compare-with /tmp/before

The export is the one ``bench/bench_replay.py`` generates (``bench/out/``, reused). Every number
is measured in this run, each replay in a fresh child process (the console script's watched run)
reporting its wall time, its CPU time (user + system, less sensitive to other work on the
machine) and its peak RSS:

1. **Replay overhead.** ``qldb-cdc replay`` of the export into a fresh SQLite database with this
   code (typed views: the Ion kinds of every field recorded with the documents, the views
   refreshed at the end), with this code and ``--no-views`` (kinds still recorded, no refresh),
   with this code and typed views taken out (``no-kinds``: no field kinds decoded, recorded or
   refreshed; a ``sitecustomize`` in the children does it), and, with ``--compare-with DIR``,
   with the code of ``DIR`` (the **baseline**, e.g. before typed views existed; the difference
   then includes everything else since). They alternate for ``--rounds`` rounds; medians and
   ratios are printed (goal: views against no-kinds at most 1.05x). ``qldb-cdc views`` alone on
   the result is timed too (the refresh by itself).
2. **Query cost.** On the database replayed with views, a few typical queries through a typed
   view and the equivalent query on ``documents`` / ``revisions`` with ``json_extract`` (or
   reading the JSON ``data`` column and decoding it in Python), alternating, median of
   ``--query-rounds`` samples of at least 50 ms each (repeated calls; each query goes first in
   every other round); the results are checked equal.
   Ratio = view / JSON.

Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_replay import export_for, target_uri  # noqa: E402

_CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(code, elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""

SAMPLE_S = 0.05
"""Least time of one timed sample of a query (repeated calls)."""
LIVE = "FROM documents WHERE ledger_table = '{table}' AND deleted = 0"


@dataclass(frozen=True)
class QueryPair:
    """A typical query through a typed view and its equivalent without views."""

    label: str
    view: Callable[[sqlite3.Connection], Any]
    json: Callable[[sqlite3.Connection], Any]


def _all(sql: str, params: tuple[Any, ...] = ()) -> Callable[[sqlite3.Connection], Any]:
    return lambda db: db.execute(sql, params).fetchall()


def _select_star_view(db: sqlite3.Connection) -> Any:
    return len(db.execute('SELECT * FROM "Vehicle"').fetchall())


def _select_data_decoded(db: sqlite3.Connection) -> Any:
    rows = db.execute(f"SELECT document_id, version, tx_time, data {LIVE.format(table='Vehicle')}")
    return len([(d, v, t, json.loads(data)) for d, v, t, data in rows])


def _select_data_raw(db: sqlite3.Connection) -> Any:
    rows = db.execute(f"SELECT document_id, version, tx_time, data {LIVE.format(table='Vehicle')}")
    return len(rows.fetchall())


def _history(ids: list[str], view: bool) -> Callable[[sqlite3.Connection], Any]:
    if view:
        sql = 'SELECT version, tx_time, "Address" FROM "Person_history" WHERE document_id = ?'
    else:
        sql = (
            "SELECT version, tx_time, nullif(data -> '$.Address', 'null') FROM revisions"
            " WHERE ledger_table = 'Person' AND document_id = ?"
        )

    def run(db: sqlite3.Connection) -> Any:
        return [sorted(db.execute(sql, (doc,)).fetchall()) for doc in ids]

    return run


def query_pairs(db: sqlite3.Connection) -> list[QueryPair]:
    """The queries compared, on the bench export's tables (Person, Vehicle, Policy)."""
    people = [r[0] for r in db.execute('SELECT document_id FROM "Person" ORDER BY document_id')]
    ids = random.Random(7).sample(people, k=min(200, len(people)))
    vehicle, person, policy = (LIVE.format(table=t) for t in ("Vehicle", "Person", "Policy"))
    return [
        QueryPair(
            "filter on a bigint column: count(*) Vehicle WHERE Year >= 2010",
            _all('SELECT count(*) FROM "Vehicle" WHERE "Year" >= 2010'),
            _all(f"SELECT count(*) {vehicle} AND json_extract(data, '$.Year') >= 2010"),
        ),
        QueryPair(
            "filter on a date column: names of Person WHERE DOB < 1960-01-01",
            _all('SELECT "FirstName", "LastName" FROM "Person" WHERE "DOB" < \'1960-01-01\''),
            _all(
                "SELECT json_extract(data, '$.FirstName'), json_extract(data, '$.LastName')"
                f" {person} AND json_extract(data, '$.DOB') < '1960-01-01'"
            ),
        ),
        QueryPair(
            "sum of a numeric (decimal) column: sum(Premium) of Policy",
            _all('SELECT round(sum("Premium"), 2) FROM "Policy"'),
            _all(f"SELECT round(sum(json_extract(data, '$.Premium')), 2) {policy}"),
        ),
        QueryPair(
            "group by a text column: Make, count, avg(Price) of Vehicle",
            _all(
                'SELECT "Make", count(*), round(avg("Price"), 2) FROM "Vehicle"'
                ' GROUP BY "Make" ORDER BY 1'
            ),
            _all(
                "SELECT json_extract(data, '$.Make'), count(*),"
                f" round(avg(json_extract(data, '$.Price')), 2) {vehicle} GROUP BY 1 ORDER BY 1"
            ),
        ),
        QueryPair(
            "select * of Vehicle, vs data column decoded with json.loads",
            _select_star_view,
            _select_data_decoded,
        ),
        QueryPair(
            "select * of Vehicle, vs data column read as text (not decoded)",
            _select_star_view,
            _select_data_raw,
        ),
        QueryPair(
            f"history of {len(ids)} Person documents by id (Address per version)",
            _history(ids, view=True),
            _history(ids, view=False),
        ),
    ]


def _timed(
    run: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection, calls: int
) -> tuple[float, Any]:
    """Seconds per call of ``run`` over ``calls`` calls, and its (last) result."""
    started = time.perf_counter()
    for _ in range(calls):
        result = run(db)
    return (time.perf_counter() - started) / calls, result


def compare_queries(db_path: Path, rounds: int) -> list[dict[str, Any]]:
    """Median seconds of each query pair, alternating view and JSON, results checked equal."""
    db = sqlite3.connect(db_path)
    out: list[dict[str, Any]] = []
    for pair in query_pairs(db):
        times: dict[str, list[float]] = {"view": [], "json": []}
        # Warm the page and statement caches; then as many calls per sample as make 50 ms.
        warm, _ = _timed(pair.view, db, 1)
        warm = max(warm, _timed(pair.json, db, 1)[0])
        calls = max(1, math.ceil(SAMPLE_S / max(warm, 1e-6)))
        order = [("view", pair.view), ("json", pair.json)]
        for _ in range(rounds):
            order.reverse()  # each goes first in every other round (page cache order)
            results: dict[str, Any] = {}
            for name, run in order:
                elapsed, results[name] = _timed(run, db, calls)
                times[name].append(elapsed)
            if results["view"] != results["json"]:
                want, got = results["view"], results["json"]
                msg = f"{pair.label}: view and JSON results differ: {want!r:.200} {got!r:.200}"
                raise SystemExit(msg)
        view, plain = statistics.median(times["view"]), statistics.median(times["json"])
        print(
            f"query  {pair.label:<70} view {view * 1e3:8.1f} ms  json {plain * 1e3:8.1f} ms"
            f"  = {view / plain:.2f}x",
            flush=True,
        )
        out.append({"query": pair.label, "view_ms": view * 1e3, "json_ms": plain * 1e3})
    db.close()
    return out


_NO_KINDS = """
# Written by bench/bench_views.py: this code without typed views at all (no field kinds
# decoded, so none recorded and no view columns), in every process of the replay.
import changes.from_qldb as _fq
from schemas.ion_values import to_plain as _to_plain
_fq.plain_with_kinds = lambda value: (_to_plain(value), ())
"""


def run_child(
    arguments: list[str], code_dir: Path = ROOT, *, no_kinds: bool = False
) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB) of one ``qldb-cdc ARGUMENTS`` in a fresh
    child process, running the code in ``code_dir`` (``no_kinds``: with typed views taken out,
    through a ``sitecustomize`` every process of the replay imports)."""
    command = [sys.executable, "-m", "consumers.entry_point", *arguments]
    path = str(code_dir)
    if no_kinds:
        patch = Path(tempfile.gettempdir()) / f"qldb-cdc-bench-no-kinds-{os.getpid()}"
        patch.mkdir(exist_ok=True)  # outside the repository: not a module of it
        (patch / "sitecustomize.py").write_text(_NO_KINDS, encoding="utf-8")
        path = f"{patch}{os.pathsep}{code_dir}"
    env = {**os.environ, "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=code_dir,
        env=env,
    )
    code, elapsed, cpu, rss = result.stdout.split()
    if code != "0":
        msg = f"qldb-cdc {arguments[0]} failed ({code}): {result.stderr[-2000:]}"
        raise SystemExit(msg)
    return float(elapsed), float(cpu), int(rss)


def _ratio(this: list[float], other: list[float]) -> float:
    return statistics.median(this) / statistics.median(other)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query-rounds", type=int, default=7)
    parser.add_argument(
        "--compare-with", type=Path, default=None, metavar="DIR", help="baseline checkout"
    )
    args = parser.parse_args()
    args.documents = args.documents or max(1, args.revisions // 10)
    export = export_for(args)
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    codes: list[tuple[str, Path, tuple[str, ...]]] = [
        ("views", ROOT, ()),
        ("no-views", ROOT, ("--no-views",)),
        ("no-kinds", ROOT, ("--no-views",)),
    ]
    if args.compare_with is not None:
        codes.insert(0, ("baseline", args.compare_with.resolve(), ()))
    for code_dir in {code_dir for _, code_dir, _ in codes}:
        # Byte-compile first, so that the first replay of each checkout does not pay for it.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-x", r"\.venv|\.git|bench/out", "."],
            check=True,
            cwd=code_dir,
            stdout=subprocess.DEVNULL,
        )
    wall: dict[str, list[float]] = {name: [] for name, _, _ in codes}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in codes}
    kept: Path | None = None
    run = 0
    for round_no in range(1, args.rounds + 1):
        for name, code_dir, extra in codes:
            run += 1
            uri = target_uri("sqlite", run, args)
            replay = ["replay", str(export), "--to", uri, "--no-progress", *extra]
            elapsed, seconds, rss = run_child(replay, code_dir, no_kinds=name == "no-kinds")
            wall[name].append(elapsed)
            cpu[name].append(seconds)
            print(
                f"round {round_no} replay {name:<9} {elapsed:6.1f}s wall {seconds:6.1f}s CPU"
                f"  peak RSS {rss / 1024:.0f} MB  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            db = Path(uri.removeprefix("sqlite:///"))
            if name == "views" and kept is None:
                kept = db
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    print(f"{args.revisions} revisions, median of {args.rounds} replays (wall, CPU):")
    for name, times in wall.items():
        print(f"  {name:<9} {statistics.median(times):6.1f}s {statistics.median(cpu[name]):6.1f}s")
    pairs = [
        ("views", "no-views", "the refresh at the end"),
        ("views", "no-kinds", "typed views in all, this code: goal at most 1.05x"),
    ]
    if "baseline" in wall:
        pairs += [
            ("views", "baseline", "everything since the baseline"),
            ("no-views", "baseline", "recording the field types"),
        ]
    for this, other, note in pairs:
        ratios = [
            f"{_ratio(t[this], t[other]):.3f}x {label} (median of per-round ratios"
            f" {statistics.median(a / b for a, b in zip(t[this], t[other], strict=True)):.3f}x)"
            for label, t in (("wall", wall), ("CPU", cpu))
        ]
        print(f"  {this} / {other} ({note}): {'; '.join(ratios)}")
    assert kept is not None
    refresh = [run_child(["views", "--to", f"sqlite:///{kept}"])[0] for _ in range(3)]
    print(f"qldb-cdc views alone on that database: median {statistics.median(refresh):.2f}s")
    compare_queries(kept, args.query_rounds)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{kept}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
