"""Benchmark: ``qldb-cdc snapshot`` (typed Parquet) against reading the same rows from the SQLite
projection, and the Parquet size against the S3 projection's JSON objects.

Usage::

    .venv/bin/python bench/bench_snapshot.py --revisions 200000 [--rounds 3]

The export is the one ``bench/bench_replay.py`` generates (``bench/out/``, reused), replayed
into a fresh SQLite database. Measured in this run, one process:

* **baseline**: reading every live document and every revision of every ledger table from
  the projection (``SQLiteProjection.iter_rows``) and decoding its JSON, as a snapshot must;
* ``snapshot --history``: the same rows written as typed Parquet (zstd), rows/s and the ratio
  to the baseline (goal: under 2x);
* sizes: the Parquet files against the bytes the S3 projection stores for the same rows (its
  object bodies, ``projections.s3.object_body``, computed from the rows; goal: at most a
  third).

Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_replay import export_arguments, remove_sqlite, replayed_sqlite  # noqa: E402
from core import json_codec  # noqa: E402
from projections.sqlite import SQLiteProjection  # noqa: E402
from replay.snapshot import write_snapshot  # noqa: E402
from schemas.view_mapping import NO_MAPPING  # noqa: E402


def read_all(db: Path) -> tuple[float, int, int]:
    """(seconds, rows, JSON-layout bytes) of reading every row with its data decoded."""
    projection = SQLiteProjection(db)
    started = time.perf_counter()
    rows = 0
    for table in projection.stored_tables():
        for history in (False, True):
            for row in projection.iter_rows(table, history=history):
                if row.data is not None:
                    json_codec.loads(row.data)
                rows += 1
    elapsed = time.perf_counter() - started
    json_bytes = 0
    columns = (
        "ledger_table, document_id, version, deleted, redacted, data, tx_id, tx_time,"
        " revision_hash, data_hash, block_strand, block_seq"
    )
    for source in ("documents", "revisions"):
        for r in projection.connection.execute(f"SELECT {columns} FROM {source}"):
            body = {
                "ledgerTable": r[0],
                "documentId": r[1],
                "version": r[2],
                "deleted": bool(r[3]),
                "redacted": bool(r[4]),
                "data": json_codec.loads(r[5]) if r[5] is not None else None,
                "txId": r[6],
                "txTime": r[7],
                "revisionHash": r[8],
                "dataHash": r[9],
                "blockStrand": r[10],
                "blockSeq": r[11],
            }
            json_bytes += len(json_codec.dumps(body).encode("utf-8"))
    projection.close()
    return elapsed, rows, json_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    export_arguments(parser, 200_000)
    args = parser.parse_args()
    db, _replay_s = replayed_sqlite(args)
    dest = ROOT / "bench" / "out" / "snapshot"
    reads: list[float] = []
    snapshots: list[float] = []
    for _ in range(args.rounds):  # alternated, so load from other work hits both alike
        read_s, rows, json_bytes = read_all(db)
        reads.append(read_s)
        shutil.rmtree(dest, ignore_errors=True)
        projection = SQLiteProjection(db)
        result = write_snapshot(projection, dest, NO_MAPPING, history=True)
        projection.close()
        snapshots.append(result.elapsed_s)
    read_s, snapshot_s = statistics.median(reads), statistics.median(snapshots)
    written = sum(n for t in result.tables for n in t.rows.values())
    parquet_bytes = sum(n for t in result.tables for n in t.bytes.values())
    print(
        f"{args.revisions} revisions, {args.documents} documents: {rows} rows "
        f"(live documents + revisions), median of {args.rounds} alternated rounds\n"
        f"  baseline, read from SQLite: {read_s:.1f}s, {rows / read_s:,.0f} rows/s\n"
        f"  snapshot --history:         {snapshot_s:.1f}s, "
        f"{written / snapshot_s:,.0f} rows/s = {snapshot_s / read_s:.2f}x the read "
        f"(goal: under 2x)\n"
        f"  sizes: Parquet {parquet_bytes / 1e6:.1f} MB vs S3 JSON objects "
        f"{json_bytes / 1e6:.1f} MB = {parquet_bytes / json_bytes:.2f}x (goal: at most 0.33x)"
    )
    remove_sqlite(db)


if __name__ == "__main__":
    main()
