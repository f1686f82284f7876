"""Fuzz the stream path: mutated real QLDB stream records through the Lambda handler.

Seeds are the four real Lambda captures (tests/fixtures/stream-captures). Each example mutates
the payload of some records (byte flips, truncation, inserted bytes, whole garbage) and runs one
batch through ``consumers.lambda_handler.handler`` into SQLite, with the dead-letter queue on a
real (moto) SQS, with and without hash verification. For every input:

* the handler returns a partial-batch response (it never raises), within a time bound (a hang,
  even inside amazon-ion's C code, ends the test process with every thread's stack);
* every failure it reports names a record of the batch;
* with ``CDC_VERIFY_HASHES=true`` every stored revision is one the genuine records hold (a
  mutated record either fails its hash and is dead-lettered, or still carries genuine content);
* every dead letter carries raw bytes that are part of the mutated batch.

``QLDB_CDC_FUZZ_EXAMPLES`` sets the number of examples (see tests/fuzz/harness.py).
"""

from __future__ import annotations

import base64
import copy
import faulthandler
import json
import random
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import lambda_handler
from tests.fuzz.harness import EXAMPLE_SECONDS, EXAMPLES
from tests.fuzz.test_fuzz_exports import _flip, _insert, _truncate
from tests.support.captures import CAPTURE_NAMES
from tests.support.kinesis_events import StreamWithDlq, sqs_letters, stream_with_dlq
from tests.support.lambda_context import lambda_context
from tests.support.moto_server import aws_env, moto_endpoint

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

Row = tuple[str, int, bool, bool, str | None]


def _records(capture_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in CAPTURE_NAMES:
        event = json.loads((capture_dir / name).read_text())
        out.extend(event["Records"])
    return out


def _rows(db: Path) -> set[Row]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT document_id, version, deleted, redacted, data FROM revisions UNION ALL"
            " SELECT document_id, version, deleted, redacted, data FROM documents"
        ).fetchall()
    return {(d, v, bool(de), bool(r), j) for d, v, de, r, j in rows}


@pytest.fixture(scope="module")
def stream(moto_endpoint: str) -> Iterator[StreamWithDlq]:
    with stream_with_dlq("fuzz") as created:
        yield created


@pytest.fixture(scope="module")
def genuine(
    capture_dir: Path,
    stream: StreamWithDlq,
    moto_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> set[Row]:
    """Every revision the unmutated captures put in a projection."""
    db = tmp_path_factory.mktemp("genuine") / "stream.db"
    with pytest.MonkeyPatch.context() as patch:
        aws_env.__wrapped__(patch, moto_endpoint)  # type: ignore[attr-defined]
        patch.setenv("CDC_TARGETS", f"sqlite:///{db}")
        patch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)
        patch.setenv("CDC_VERIFY_HASHES", "true")
        lambda_handler.reset()
        response = lambda_handler.handler({"Records": _records(capture_dir)}, lambda_context())
        lambda_handler.reset()
    assert response == {"batchItemFailures": []}
    rows = _rows(db)
    assert rows
    return rows


def _mutate_payload(data: bytes, rnd: random.Random) -> bytes:
    choice = rnd.randrange(5)
    if choice == 4 or not data:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
    return (_flip, _flip, _truncate, _insert)[choice](data, rnd)


@settings(
    max_examples=max(10, EXAMPLES // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), verify=st.booleans())
def test_mutated_stream_records_end_in_a_partial_batch_response(  # noqa: PLR0917 - fixtures
    capture_dir: Path,
    stream: StreamWithDlq,
    genuine: set[Row],
    aws_env: str,
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    verify: bool,
) -> None:
    rnd = random.Random(seed)
    records = copy.deepcopy(_records(capture_dir))
    mutated = rnd.sample(range(len(records)), k=rnd.randint(1, min(4, len(records))))
    for index in mutated:
        data = base64.b64decode(records[index]["kinesis"]["data"])
        records[index]["kinesis"]["data"] = base64.b64encode(_mutate_payload(data, rnd)).decode()
    batch_bytes = b"".join(base64.b64decode(r["kinesis"]["data"]) for r in records)
    db = tmp_path_factory.mktemp("fuzz-stream") / "stream.db"
    sqs_letters(stream)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDC_TARGETS", f"sqlite:///{db}")
        patch.setenv("CDC_DEAD_LETTER_QUEUE_URL", stream.queue_url)
        patch.setenv("CDC_VERIFY_HASHES", "true" if verify else "false")
        lambda_handler.reset()
        faulthandler.dump_traceback_later(EXAMPLE_SECONDS, exit=True, file=sys.stderr)
        try:
            response = lambda_handler.handler({"Records": records}, lambda_context())
        finally:
            faulthandler.cancel_dump_traceback_later()
            lambda_handler.reset()

    sequence_numbers = {r["kinesis"]["sequenceNumber"] for r in records}
    failures = response["batchItemFailures"]
    assert {f["itemIdentifier"] for f in failures} <= sequence_numbers, (seed, failures)
    if verify:
        stored = _rows(db)
        assert stored <= genuine, (seed, sorted(stored - genuine)[:3])
    for letter in sqs_letters(stream):
        raw = base64.b64decode(letter["rawBase64"])
        assert raw in batch_bytes, (seed, letter.get("reason"))
