"""Benchmark of the PostgreSQL projection on a hot-key workload (prints results, asserts nothing).

Workload: every document is inserted once, then updates pick a "hot" document (10% of them)
90% of the time. Revisions arrive in journal order, in batches.

Reports, all measured in the same run against the same server:

(a) rows written per revision with and without per-batch coalescing (current state and history);
(b) revisions/s of ``PostgresProjection.apply`` against two plain ``COPY`` baselines into an
    unindexed table with the projection's 14 columns, same batches, one transaction per batch,
    starting from the same ``Change`` objects and encoding them with the projection's own row
    encoder (:func:`projections.postgres_rows.copy_line`, so both sides pay the same JSON work):

    * ``COPY each revision once``: one row per revision (the headline ratio, target >= 50%);
    * ``COPY rows stored``: the rows the projection ends up writing (per batch the coalesced
      current-state rows plus the history rows), for reference.

    The machine may be shared and noisy: every measurement is repeated ``--rounds`` times on
    fresh tables, the order alternating; the ratio printed is the median of the per-round
    ratios, and client CPU seconds are shown to tell client-bound from server-bound.

Run: ``.venv/bin/python bench/bench_postgres.py --revisions 200000 [--dsn postgresql://...]``;
without ``--dsn`` (or ``$QLDB_CDC_PG_DSN``) a throwaway cluster is started and removed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from changes.coalesce import coalesce
from core.model import Change
from projections.base import ApplyReport
from projections.postgres import from_uri
from projections.postgres_rows import COLUMNS, copy_line
from tests.support import pg_server
from tests.support.builders import make_change


def hot_key_workload(revisions: int, documents: int, seed: int) -> list[Change]:
    """``revisions`` changes: one insert per document, then 90% of updates on 10% of documents."""
    rng = random.Random(seed)
    documents = min(documents, revisions)
    hot = max(1, documents // 10)
    versions = [0] * documents
    out = [_change(rng, d, 0) for d in range(documents)]
    while len(out) < revisions:
        doc = rng.randrange(hot) if rng.random() < 0.9 else rng.randrange(hot, documents)
        versions[doc] += 1
        out.append(_change(rng, doc, versions[doc]))
    return out


def _change(rng: random.Random, doc: int, version: int) -> Change:
    data = {
        "name": f"customer {doc}",
        "balance": Decimal(rng.randrange(10**8)).scaleb(-2),
        "tags": ["a", "b", str(version)],
        "address": {"city": "Łódź", "zip": f"{doc % 100000:05d}"},
        "version_seen": version,
    }
    return make_change(f"doc{doc:07d}", version, table=f"T{doc % 4}", data=data, seq=version)


def batches(changes: list[Change], size: int) -> list[list[Change]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]


def write_counts(parts: list[list[Change]]) -> tuple[int, int]:
    """Rows sent to the current-state and history merges when each batch is coalesced."""
    current = history = 0
    for part in parts:
        batch = coalesce(part)
        current += len(batch.latest)
        history += len(batch.revisions)
    return current, history


Timing = tuple[float, float, float]
"""(wall seconds, client CPU seconds, server backend CPU seconds or NaN when not local)."""

_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by the local server backends ``pids`` (NaN when not readable)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def bench_projection(dsn: str, parts: list[list[Change]]) -> tuple[Timing, ApplyReport]:
    schema = pg_server.fresh_schema(dsn, "bench_proj")
    projection = from_uri(f"{dsn}?schema={schema}")
    projection.completed_objects("warm-up")  # connect and create tables outside the timing
    pids = [projection._connection().info.backend_pid]
    total = ApplyReport()
    start, cpu, server = time.perf_counter(), time.process_time(), backend_cpu(pids)
    for part in parts:
        total.merge(projection.apply(part))
    timing = (
        time.perf_counter() - start,
        time.process_time() - cpu,
        backend_cpu(pids) - server,
    )
    projection.close()
    _drop(dsn, schema)
    return timing, total


def stored_rows(part: list[Change]) -> list[Change]:
    """The changes whose rows the projection stores for one batch (current state + history)."""
    batch = coalesce(part)
    return [*batch.latest.values(), *batch.revisions.values()]


def bench_copy(dsn: str, parts: list[list[Change]]) -> Timing:
    """Plain COPY of ``parts`` (one row per change) into an unindexed table, batch by batch."""
    schema = pg_server.fresh_schema(dsn, "bench_copy")
    table = sql.Identifier(schema, "plain_copy")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (ledger_table text, document_id text, version bigint,"
                " deleted boolean, redacted boolean, data jsonb, data_exact json, tx_id text,"
                " tx_time text, tx_time_utc timestamptz, block_strand text, block_seq bigint,"
                " revision_hash text, data_hash text)"
            ).format(table)
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            table, sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        )
        pids = [conn.info.backend_pid]
        start, cpu, server = time.perf_counter(), time.process_time(), backend_cpu(pids)
        for part in parts:
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for first in range(0, len(part), 200):  # the projection's chunking
                    lines = [f"{copy_line(c)}\n" for c in part[first : first + 200]]
                    copy.write("".join(lines).encode())
        timing = (
            time.perf_counter() - start,
            time.process_time() - cpu,
            backend_cpu(pids) - server,
        )
    _drop(dsn, schema)
    return timing


def _drop(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 20")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dsn", default=None, help="default: $QLDB_CDC_PG_DSN or a throwaway")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    dsn = args.dsn or pg_server.dsn()
    documents = args.documents or max(1, args.revisions // 20)
    changes = hot_key_workload(args.revisions, documents, args.seed)
    parts = batches(changes, args.batch_size)
    n = len(changes)
    print(f"workload: {n} revisions of {documents} documents (10% hot keys get 90% of updates),")
    print(f"          {len(parts)} batches of {args.batch_size}")

    current, hist = write_counts(parts)
    print("(a) rows written per revision")
    print(f"    current state: {1.0:.3f} without coalescing, {current / n:.3f} with coalescing")
    print(f"    history:       {1.0:.3f} without coalescing, {hist / n:.3f} with coalescing")
    print(
        f"    total:         {2.0:.3f} without coalescing, {(current + hist) / n:.3f} with"
        f" coalescing ({(current + hist) / (2 * n):.0%})"
    )

    stored = [stored_rows(part) for part in parts]
    runs: dict[str, list[Timing]] = {"copy": [], "stored": [], "proj": []}
    report = ApplyReport()
    for round_no in range(args.rounds):
        order = ["copy", "stored", "proj"]
        for name in order if round_no % 2 == 0 else reversed(order):
            if name == "copy":
                runs[name].append(bench_copy(dsn, parts))
            elif name == "stored":
                runs[name].append(bench_copy(dsn, stored))
            else:
                timing, report = bench_projection(dsn, parts)
                runs[name].append(timing)
    labels = {
        "copy": "plain COPY, each revision once",
        "stored": f"plain COPY, rows stored ({sum(map(len, stored)) / n:.3f}/revision)",
        "proj": "PostgresProjection",
    }
    print(f"(b) throughput, best of {args.rounds} rounds [client CPU s, server backend CPU s]")
    for name, label in labels.items():
        wall, cpu, server = min(runs[name])
        print(
            f"    {label:<44} {n / wall:>9,.0f} revisions/s ({wall:.2f} s"
            f" [{cpu:.2f}, {server:.2f}])"
        )
    for name in ("copy", "stored"):
        ratios = sorted(c[0] / p[0] for c, p in zip(runs[name], runs["proj"], strict=True))
        print(
            f"    ratio projection / {labels[name].split(',')[1].strip():<28}"
            f" median {statistics.median(ratios):.0%}"
            f" (rounds: {', '.join(f'{r:.0%}' for r in ratios)})"
        )
    print("    target: projection >= 50% of plain COPY (each revision once)")
    print(
        f"    report (last round): applied={report.applied} stale={report.stale}"
        f" superseded={report.superseded} history_written={report.history_written}"
        f" failures={len(report.failures)}"
    )


if __name__ == "__main__":
    main()
