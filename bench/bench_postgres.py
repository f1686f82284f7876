"""Benchmark of the PostgreSQL projection on a hot-key workload (prints results, asserts nothing).

Workload: every document is inserted once, then updates pick a "hot" document (10% of them)
90% of the time. Revisions arrive in journal order, in batches.

Reports, all measured in the same run against the same server:

(a) rows written per revision with and without per-batch coalescing (current state and history);
(b) revisions/s of ``PostgresProjection.apply`` against a plain ``COPY`` of the same revisions
    (same JSON serialisation, same batches, one transaction per batch) into an unindexed table,
    printed as a ratio (target: >= 50% of COPY speed).

Run: ``.venv/bin/python bench/bench_postgres.py --revisions 200000 [--dsn postgresql://...]``;
without ``--dsn`` (or ``$QLDB_CDC_PG_DSN``) a throwaway cluster is started and removed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql

from changes import json_codec
from changes.coalesce import coalesce
from changes.model import Change
from projections.base import ApplyReport
from projections.postgres import from_uri
from projections.postgres_rows import COLUMNS, parse_tx_time
from tests import pg_server
from tests.builders import make_change


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


def bench_projection(dsn: str, schema: str, parts: list[list[Change]]) -> tuple[float, ApplyReport]:
    projection = from_uri(f"{dsn}?schema={schema}")
    projection.completed_objects("warm-up")  # connect and create tables outside the timing
    total = ApplyReport()
    start = time.perf_counter()
    for part in parts:
        total.merge(projection.apply(part))
    elapsed = time.perf_counter() - start
    projection.close()
    return elapsed, total


def bench_copy(dsn: str, schema: str, parts: list[list[Change]]) -> float:
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
        start = time.perf_counter()
        for part in parts:
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for c in part:
                    copy.write_row(
                        (
                            c.key.table,
                            c.key.doc_id,
                            c.version,
                            c.is_tombstone,
                            c.is_redacted,
                            None if c.data is None else json_codec.dumps(c.data),
                            None,
                            c.tx_id,
                            c.tx_time,
                            parse_tx_time(c.tx_time),
                            c.block.strand_id,
                            c.block.sequence_no,
                            c.revision_hash,
                            c.data_hash,
                        )
                    )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=0, help="default: revisions / 20")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dsn", default=None, help="default: $QLDB_CDC_PG_DSN or a throwaway")
    parser.add_argument("--seed", type=int, default=1)
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

    schema_p = pg_server.fresh_schema(dsn, "bench_proj")
    schema_c = pg_server.fresh_schema(dsn, "bench_copy")
    try:
        copy_s = bench_copy(dsn, schema_c, parts)
        proj_s, report = bench_projection(dsn, schema_p, parts)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in (schema_p, schema_c):
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    print("(b) throughput")
    print(f"    plain COPY (unindexed): {n / copy_s:>10,.0f} revisions/s ({copy_s:.2f} s)")
    print(f"    PostgresProjection:     {n / proj_s:>10,.0f} revisions/s ({proj_s:.2f} s)")
    print(f"    ratio projection/COPY:  {copy_s / proj_s:.0%} (target >= 50%)")
    print(
        f"    report: applied={report.applied} stale={report.stale}"
        f" superseded={report.superseded} history_written={report.history_written}"
        f" failures={len(report.failures)}"
    )


if __name__ == "__main__":
    main()
