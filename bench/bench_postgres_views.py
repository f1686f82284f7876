"""Benchmark: what a query through a PostgreSQL typed view costs against the same query on the
JSON ``data`` column, as ratios.

Usage::

    .venv/bin/python bench/bench_postgres_views.py --revisions 200000 [--dsn postgresql://...]

The export is the one ``bench/bench_replay.py`` generates (``bench/out/``, reused), replayed once
with ``qldb-cdc replay`` into a fresh schema of the server (``--dsn``, ``$QLDB_CDC_PG_DSN``, or a
throwaway cluster), its typed views in a fresh view schema. Then, for a few typical dashboard
queries, the query through the typed view (``ledger."Vehicle"``: one ``jsonb_to_record(data)``
per row, guarded casts) and the equivalent written by hand on ``documents`` / ``revisions``
with ``data ->> 'field'`` and plain casts, alternating (each goes first in every other round),
median of ``--rounds`` samples of at least 50 ms each; the results are checked equal.
Ratio = view / JSON. Both schemas are dropped at the end. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.bench_replay import export_for  # noqa: E402
from tests.support import pg_server  # noqa: E402

SAMPLE_S = 0.05
"""Least time of one timed sample of a query (repeated calls)."""

Query = Callable[[psycopg.Connection[Any]], Any]


@dataclass(frozen=True)
class QueryPair:
    """A typical query through a typed view and its equivalent on the JSON column."""

    label: str
    view: Query
    json: Query


def _all(sql: str, params: tuple[Any, ...] = ()) -> Query:
    return lambda db: db.execute(sql, params).fetchall()


def _count_rows(sql: str) -> Query:
    return lambda db: len(db.execute(sql).fetchall())


def query_pairs(db: psycopg.Connection[Any], data: str, views: str) -> list[QueryPair]:
    """The queries compared (the SQLite benchmark's, ``bench/bench_views.py``), on the bench
    export's tables; ``data`` and ``views`` are the quoted schemas."""
    live = f"FROM {data}.documents WHERE ledger_table = '{{t}}' AND NOT deleted"
    vehicle, person, policy = (live.format(t=t) for t in ("Vehicle", "Person", "Policy"))
    people = [
        r[0] for r in db.execute(f'SELECT document_id FROM {views}."Person" ORDER BY 1').fetchall()
    ]
    ids = random.Random(7).sample(people, k=min(200, len(people)))

    def history(view: bool) -> Query:
        if view:
            sql = (
                f'SELECT version, tx_time, "Address" FROM {views}."Person_history"'
                " WHERE document_id = %s ORDER BY version"
            )
        else:
            sql = (
                "SELECT version, tx_time_utc, NULLIF(data -> 'Address', 'null')"
                f" FROM {data}.revisions WHERE ledger_table = 'Person' AND document_id = %s"
                " ORDER BY version"
            )
        return lambda conn: [conn.execute(sql, (doc,)).fetchall() for doc in ids]

    return [
        QueryPair(
            "filter on a bigint column: count(*) Vehicle WHERE Year >= 2010",
            _all(f'SELECT count(*) FROM {views}."Vehicle" WHERE "Year" >= 2010'),
            _all(f"SELECT count(*) {vehicle} AND (data ->> 'Year')::bigint >= 2010"),
        ),
        QueryPair(
            "filter on a date column: names of Person WHERE DOB < 1960-01-01",
            _all(
                f'SELECT "FirstName", "LastName" FROM {views}."Person"'
                " WHERE \"DOB\" < DATE '1960-01-01' ORDER BY 1, 2"
            ),
            _all(
                "SELECT data ->> 'FirstName', data ->> 'LastName'"
                f" {person} AND (data ->> 'DOB')::date < DATE '1960-01-01' ORDER BY 1, 2"
            ),
        ),
        QueryPair(
            "sum of a numeric (decimal) column: sum(Premium) of Policy",
            _all(f'SELECT sum("Premium") FROM {views}."Policy"'),
            _all(f"SELECT sum((data ->> 'Premium')::numeric) {policy}"),
        ),
        QueryPair(
            "group by a text column: Make, count, avg(Price) of Vehicle",
            _all(
                f'SELECT "Make", count(*), round(avg("Price"), 2) FROM {views}."Vehicle"'
                " GROUP BY 1 ORDER BY 1"
            ),
            _all(
                "SELECT data ->> 'Make', count(*), round(avg((data ->> 'Price')::numeric), 2)"
                f" {vehicle} GROUP BY 1 ORDER BY 1"
            ),
        ),
        QueryPair(
            "select * of Vehicle, vs the data column (decoded by psycopg)",
            _count_rows(f'SELECT * FROM {views}."Vehicle"'),
            _count_rows(f"SELECT document_id, version, tx_time_utc, data {vehicle}"),
        ),
        QueryPair(
            f"history of {len(ids)} Person documents by id (Address per version)",
            history(view=True),
            history(view=False),
        ),
    ]


def _timed(run: Query, db: psycopg.Connection[Any], calls: int) -> tuple[float, Any]:
    started = time.perf_counter()
    for _ in range(calls):
        result = run(db)
    return (time.perf_counter() - started) / calls, result


def compare(db: psycopg.Connection[Any], pairs: list[QueryPair], rounds: int) -> None:
    """Print the median seconds of each pair, alternating view and JSON, results checked."""
    for pair in pairs:
        warm = max(_timed(pair.view, db, 1)[0], _timed(pair.json, db, 1)[0])
        calls = max(1, math.ceil(SAMPLE_S / max(warm, 1e-6)))
        times: dict[str, list[float]] = {"view": [], "json": []}
        order = [("view", pair.view), ("json", pair.json)]
        for _ in range(rounds):
            order.reverse()
            results: dict[str, Any] = {}
            for name, run in order:
                elapsed, results[name] = _timed(run, db, calls)
                times[name].append(elapsed)
            if results["view"] != results["json"]:
                msg = (
                    f"{pair.label}: view and JSON results differ:"
                    f" {results['view']!r:.200} {results['json']!r:.200}"
                )
                raise SystemExit(msg)
        view, plain = statistics.median(times["view"]), statistics.median(times["json"])
        print(
            f"query  {pair.label:<66} view {view * 1e3:8.1f} ms  json {plain * 1e3:8.1f} ms"
            f"  = {view / plain:.2f}x",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dsn", default=None, help="default: $QLDB_CDC_PG_DSN or a throwaway")
    args = parser.parse_args()
    args.documents = args.documents or max(1, args.revisions // 10)
    export = export_for(args)
    base = args.dsn or pg_server.dsn()
    schema = pg_server.fresh_schema(base, prefix="benchviews")
    view_schema = f"{schema}_ledger"
    uri = f"{base}{'&' if '?' in base else '?'}schema={schema}&view_schema={view_schema}"
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "consumers.entry_point", "replay", str(export), "--to", uri],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    print(f"replayed {args.revisions} revisions in {time.perf_counter() - started:.1f}s")
    try:
        with psycopg.connect(base, autocommit=True) as db:
            db.execute("ANALYZE")
            data, views = (f'"{s}"' for s in (schema, view_schema))
            compare(db, query_pairs(db, data, views), args.rounds)
    finally:
        with psycopg.connect(base, autocommit=True) as db:
            for name in (view_schema, schema):
                db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
