"""Benchmark: dashboard queries on the SQLite projection, served by the dashboard indexes
(``projections/sqlite_migrations.py``) against the same queries forced to scan the table.

Usage::

    .venv/bin/python bench/bench_dashboard_queries.py --revisions 1000000

The export is the one ``bench/bench_replay.py`` generates (``bench/out/``, reused), replayed
into a fresh SQLite database. Each query runs as the README gives it, and again with ``NOT
INDEXED`` (SQLite then reads the table itself), alternated for ``--rounds``; the plan SQLite
chose is printed with the medians. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_replay import export_arguments, remove_sqlite, replayed_sqlite  # noqa: E402

QUERIES = {
    "changes per day per table": (
        "SELECT ledger_table, substr(tx_time_utc, 1, 10) AS day, count(*) FROM revisions{hint}"
        " GROUP BY 1, 2"
    ),
    "changes of one table in a time range": (
        "SELECT count(*) FROM revisions{hint} WHERE ledger_table = 'Person'"
        " AND tx_time_utc >= '2021-02-09T02:30' AND tx_time_utc < '2021-02-09T03:00'"
    ),
    "live documents per table": (
        "SELECT ledger_table, count(*) FROM documents{hint} WHERE deleted = 0 GROUP BY 1"
    ),
}


def timed(conn: sqlite3.Connection, query: str) -> float:
    started = time.perf_counter()
    conn.execute(query).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    export_arguments(parser, 1_000_000)
    args = parser.parse_args()
    db, replay_s = replayed_sqlite(args)
    conn = sqlite3.connect(db)
    print(f"{args.revisions} revisions replayed into SQLite in {replay_s:.0f}s")
    for name, template in QUERIES.items():
        indexed, scanned = [], []
        for _ in range(args.rounds):
            indexed.append(timed(conn, template.format(hint="")))
            scanned.append(timed(conn, template.format(hint=" NOT INDEXED")))
        plan = "; ".join(
            str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + template.format(hint=""))
        )
        a, b = statistics.median(indexed), statistics.median(scanned)
        print(
            f"  {name}: {a * 1000:.0f} ms with the index vs {b * 1000:.0f} ms scanning "
            f"the table = {a / b:.2f}x  [{plan}]"
        )
    conn.close()
    remove_sqlite(db)


if __name__ == "__main__":
    main()
