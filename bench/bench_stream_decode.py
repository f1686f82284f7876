"""Stream-path decode throughput: KPL de-aggregation + Ion decode + Change model, one core.

Builds KPL aggregates of 500 REVISION_DETAILS records shaped like the real QLDB captures
(BicycleLicence documents with a nested event list), then times, in the same run:

* baseline: bare ``simpleion.loads`` of every user record (default value model), and
* stream path: ``iter_user_records`` (our MD5-checked protobuf reader) +
  ``decode_stream_record`` + ``RevisionDetailsRecord.to_change``.

Prints records/s for both and their ratio. Target: >= 20,000 REVISION_DETAILS/s. Asserts nothing.

Run: ``.venv/bin/python bench/bench_stream_decode.py [--aggregates N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aws_kinesis_agg.deaggregator  # noqa: F401 - patches sys.path for the _pb2 modules
from amazon.ion import simpleion
from aws_kinesis_agg.aggregator import RecordAggregator

from changes.from_qldb import stream_change
from core.model import StreamOrigin
from schemas.ion_values import c_extension_enabled
from schemas.kinesis import StreamRecord
from schemas.kpl import iter_user_records
from schemas.qldb_stream import RevisionDetailsRecord, decode_stream_record

PER_AGGREGATE = 500
ARN = "arn:aws:qldb:eu-west-1:082136225280:stream/qldb-simple-demo-dev/Fy4gT7n9rnrLQDEhY6otul"


def revision(n: int) -> bytes:
    """One REVISION_DETAILS shaped like the qldb-simple-demo captures."""
    ts = dt.datetime(2020, 7, 3, 20, 30, n % 60, 311000, tzinfo=dt.UTC)
    doc_id = f"GZKr7b5EUSM160Z8j{n:05d}"
    value = {
        "qldbStreamArn": ARN,
        "recordType": "REVISION_DETAILS",
        "payload": {
            "tableInfo": {"tableName": "BicycleLicence", "tableId": "17CRCBBPOEe4aSgHpQ8fSm"},
            "revision": {
                "blockAddress": {"strandId": "JUJgrQeIeI64ZgvXIuqlZ1", "sequenceNo": 532 + n},
                "hash": hashlib.sha256(doc_id.encode()).digest(),
                "data": {
                    "Name": f"Chris Williams {n}",
                    "Email": f"chriswilliams{n}@gmail.com",
                    "Telephone": "01345456",
                    "Postcode": "SA20JJ",
                    "PenaltyPoints": n % 12,
                    "Events": [
                        {"eventName": "LicenceHolderCreated", "eventDate": "2020-07-03T20:30:45"}
                    ],
                    "GUID": doc_id,
                    "LicenceId": doc_id.upper(),
                },
                "metadata": {
                    "id": doc_id,
                    "version": n % 7,
                    "txTime": ts,
                    "txId": "FCASlyGTJ17IZY",
                },
            },
        },
    }
    out: bytes = simpleion.dumps(value, binary=True)
    return out


def build(aggregates: int) -> tuple[list[StreamRecord], list[bytes]]:
    outers, users = [], []
    for a in range(aggregates):
        agg = RecordAggregator()
        for i in range(PER_AGGREGATE):
            data = revision(a * PER_AGGREGATE + i)
            users.append(data)
            assert agg.add_user_record(hashlib.sha256(data).hexdigest(), data) is None
        payload = agg.clear_and_get().get_contents()[2]
        outers.append(StreamRecord(payload, "outer", f"{49608533396912580565843581819 + a}"))
    return outers, users


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregates", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    outers, users = build(args.aggregates)

    def baseline() -> int:
        for data in users:
            simpleion.loads(data)
        return len(users)

    def stream_path() -> int:
        n = 0
        for outer in outers:
            for user in iter_user_records(outer):
                decoded = decode_stream_record(user.data, exact=False)
                if isinstance(decoded, RevisionDetailsRecord):
                    stream_change(decoded, StreamOrigin(0, user))
                    n += 1
        return n

    def deaggregate_only() -> int:
        return sum(1 for outer in outers for _ in iter_user_records(outer))

    base_s, base_n = best_of(args.runs, baseline)
    path_s, path_n = best_of(args.runs, stream_path)
    agg_s, agg_n = best_of(args.runs, deaggregate_only)
    assert base_n == path_n == agg_n == len(users)
    size = sum(len(o.data) for o in outers) / len(outers)
    print(f"amazon-ion C extension: {c_extension_enabled()}")
    print(
        f"{len(outers)} aggregates x {PER_AGGREGATE} REVISION_DETAILS, {size / 1024:.0f} KiB each"
    )
    print(f"baseline simpleion.loads        : {base_n / base_s:>10,.0f} records/s")
    print(f"KPL de-aggregation only (MD5)   : {agg_n / agg_s:>10,.0f} records/s")
    print(f"stream path (KPL+Ion+Change)    : {path_n / path_s:>10,.0f} records/s")
    print(f"ratio stream path / baseline    : {base_s / path_s:>10.2f}x")
    print("target                          :     20,000 records/s")


if __name__ == "__main__":
    main()
