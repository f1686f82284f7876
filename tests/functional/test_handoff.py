"""The export -> stream cut-over: replay a journal export, then consume an overlapping stream.

A synthetic ledger (a few hundred revisions with deletes and redactions, valid hashes) is cut at
block ``K``: an export holds blocks ``0..K`` (read at the cut-over, so it shows the redactions
committed up to ``K``), and a live QLDB stream starts ``OVERLAP`` blocks before ``K`` and runs to
the end of the ledger. Stream records are real Ion binary BLOCK_SUMMARY/REVISION_DETAILS,
KPL-aggregated, duplicated and shuffled, put on a Kinesis stream of a moto server (real HTTP)
and fed to the Lambda handler in batches exactly as the event source mapping does. The export is
replayed with the real CLI (``qldb-cdc replay``). Targets: SQLite, PostgreSQL (real server) and
DynamoDB (moto server). Expectations come from the simulator's plan (``final_state``) and from
the journal blocks, not from the code under test.

See docs/handoff.md for the procedure these tests back.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers import lambda_handler
from consumers.cli import main
from core import json_codec
from simulation.config import SimulationConfig
from simulation.ledger import final_state
from tests.functional.handoff_journal import (
    HandoffLedger,
    RevisionKey,
    WrittenExport,
    build_ledger,
    history,
    write_export_view,
)
from tests.functional.handoff_stream import deliver, run_like_lambda, stream_user_records
from tests.support import pg_server
from tests.support.dynamodb_readback import item_row, scan_all
from tests.support.kinesis_events import StreamWithDlq, put_and_read, stream_with_dlq
from tests.support.lambda_context import lambda_context
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.postgres_readback import read_current, read_history

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

CONFIG = SimulationConfig(
    documents=60, revisions=360, seed=11, delete_ratio=0.05, redaction_ratio=0.04
)
OVERLAP = 15
EXPORT_ID = "HandoffExport000000001"
COPY_ID = "HandoffExport000000002"
LATE_ID = "HandoffExport000000003"

DocState = tuple[int, bool, bool, Any]
"""(version, deleted, redacted, data) of one document."""
HistState = tuple[bool, bool, Any]
"""(deleted, redacted, data) of one revision."""


@dataclass(frozen=True)
class Cutover:
    """The ledger, where it is cut, and what export and stream carry."""

    ledger: HandoffLedger
    last_exported: int
    first_streamed: int

    @property
    def last(self) -> int:
        """Last block of the ledger (the stream's end)."""
        return self.ledger.last_sequence_no

    @property
    def stream_only_redactions(self) -> set[RevisionKey]:
        """Redactions committed after the cut-over: the stream only announces them."""
        return self.ledger.redactions_after(self.last_exported)


@pytest.fixture(scope="module")
def cutover() -> Cutover:
    ledger = build_ledger(CONFIG)
    # cut just before the first redaction past the middle, so one revision is exported
    # unredacted and redacted later (the checks below hold the seed to that)
    middle = ledger.last_sequence_no * 0.55
    last_exported = min(at for at in ledger.redacted_by.values() if at > middle) - 1
    cut = Cutover(ledger, last_exported, last_exported - OVERLAP + 1)
    _check_the_scenario_is_interesting(cut)
    return cut


def _check_the_scenario_is_interesting(cut: Cutover) -> None:
    """The seed must put deletes, redactions and their corner cases where the tests need them."""
    blocks = cut.ledger.blocks
    overlap = range(cut.first_streamed, cut.last_exported + 1)
    user = [b for b in blocks if b["transactionInfo"].get("documents")]
    assert any(b["blockAddress"]["sequenceNo"] in overlap for b in user)
    deletes_at = [
        b["blockAddress"]["sequenceNo"]
        for b in user
        for r in b["revisions"]
        if "metadata" in r and "data" not in r and "dataHash" not in r
    ]
    assert min(deletes_at) <= cut.last_exported < max(deletes_at)
    redacted_at = {
        (r["metadata"]["id"], r["metadata"]["version"]): b["blockAddress"]["sequenceNo"]
        for b in user
        for r in b["revisions"]
        if "dataHash" in r
    }
    by_key = {(k[1], k[2]): at for k, at in cut.ledger.redacted_by.items()}
    # redacted in the export, committed in the overlap: the stream re-sends it with data
    assert any(redacted_at[k] in overlap and by_key[k] <= cut.last_exported for k in redacted_at)
    # committed before the cut-over but redacted after it
    assert any(redacted_at[k] <= cut.last_exported < by_key[k] for k in redacted_at)
    # committed and redacted after the cut-over
    assert any(redacted_at[k] > cut.last_exported for k in redacted_at)


Queue = StreamWithDlq


@pytest.fixture
def queue(aws_env: str) -> Iterator[Queue]:
    with stream_with_dlq("handoff") as created:
        yield created


@pytest.fixture(autouse=True)
def _fresh_handler() -> Iterator[None]:
    lambda_handler.reset()
    yield
    lambda_handler.reset()


@dataclass(frozen=True)
class Targets:
    """Where the projections of one test live."""

    sqlite: Path
    pg_dsn: str | None = None
    pg_schema: str | None = None
    dynamodb_table: str | None = None

    @property
    def uris(self) -> list[str]:
        out = [f"sqlite:///{self.sqlite}"]
        if self.pg_dsn is not None:
            out.append(f"{self.pg_dsn}?schema={self.pg_schema}")
        if self.dynamodb_table is not None:
            out.append(f"dynamodb://{self.dynamodb_table}?create=true")
        return out


def make_targets(tmp_path: Path, *, postgres: bool, dynamodb: bool = False) -> Targets:
    dsn = pg_server.require_dsn() if postgres else None
    return Targets(
        sqlite=tmp_path / "handoff.db",
        pg_dsn=dsn,
        pg_schema=None if dsn is None else pg_server.fresh_schema(dsn, "handoff"),
        dynamodb_table=unique_name("handoff") if dynamodb else None,
    )


# ------------------------------------------------------------------------------ steps


def export(cut: Cutover, root: Path, export_id: str = EXPORT_ID) -> WrittenExport:
    """The export taken at the cut-over: blocks 0..K, redactions up to K applied."""
    return write_export_view(
        root, cut.ledger, last=cut.last_exported, as_of=cut.last_exported, export_id=export_id
    )


def replay(
    source: Path, targets: Targets, capsys: pytest.CaptureFixture[str]
) -> dict[str, tuple[int, int, int, int]]:
    """``qldb-cdc replay SOURCE --to ... --verify``; per target (applied, stale, superseded,
    history rows) from the printed summary."""
    capsys.readouterr()
    argv = ["replay", str(source), "--verify", "--no-progress"]
    for uri in targets.uris:
        argv += ["--to", uri]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    found = re.findall(
        r"^(\w+): applied (\d+) .*stale/duplicate (\d+), superseded in batch (\d+), "
        r"history rows (\d+)$",
        out.out,
        flags=re.MULTILINE,
    )
    return {name: (int(a), int(s), int(sup), int(h)) for name, a, s, sup, h in found}


def stream(
    cut: Cutover,
    queue: Queue,
    targets: Targets,
    monkeypatch: pytest.MonkeyPatch,
    *,
    first: int | None = None,
    seed: int = 5,
) -> int:
    """Stream blocks ``first`` (default: the overlap start) to the end of the ledger through
    the Lambda handler, in Lambda-sized batches; return the number of invocations."""
    start = cut.first_streamed if first is None else first
    payloads = deliver(stream_user_records(cut.ledger, start, cut.last), random.Random(seed))
    events = put_and_read(queue.kinesis, queue.name, queue.arn, payloads)
    monkeypatch.setenv("CDC_TARGETS", ",".join(targets.uris))
    monkeypatch.setenv("CDC_DEAD_LETTER_QUEUE_URL", queue.queue_url)
    monkeypatch.setenv("CDC_VERIFY_HASHES", "true")

    def invoke(event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        response = lambda_handler.handler(event, lambda_context())
        assert response == {"batchItemFailures": []}  # nothing in this stream is retryable
        return response

    invocations = run_like_lambda(events, invoke)
    assert invocations >= 5  # several Lambda batches, not one
    return invocations


# ------------------------------------------------------------------------------ reading


def sqlite_documents(path: Path) -> dict[tuple[str, str], DocState]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data FROM documents"
        ).fetchall()
    return {
        (t, d): (v, bool(de), bool(r), None if j is None else json_codec.loads(j))
        for t, d, v, de, r, j in rows
    }


def sqlite_revisions(path: Path) -> dict[RevisionKey, HistState]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT ledger_table, document_id, version, deleted, redacted, data FROM revisions"
        ).fetchall()
    out = {
        (t, d, v): (bool(de), bool(r), None if j is None else json_codec.loads(j))
        for t, d, v, de, r, j in rows
    }
    assert len(out) == len(rows)
    return out


def postgres_documents(targets: Targets) -> dict[tuple[str, str], DocState]:
    assert targets.pg_dsn is not None and targets.pg_schema is not None
    with psycopg.connect(targets.pg_dsn) as conn:
        rows = read_current(conn, targets.pg_schema)
    return {
        (k.table, k.doc_id): (r.version, r.deleted, r.redacted, r.data) for k, r in rows.items()
    }


def postgres_revisions(targets: Targets) -> dict[RevisionKey, HistState]:
    assert targets.pg_dsn is not None and targets.pg_schema is not None
    with psycopg.connect(targets.pg_dsn) as conn:
        rows = read_history(conn, targets.pg_schema)
    return {(k.table, k.doc_id, v): (r.deleted, r.redacted, r.data) for (k, v), r in rows.items()}


def dynamodb_documents(targets: Targets) -> dict[tuple[str, str], DocState]:
    assert targets.dynamodb_table is not None
    s3 = aws_client("s3")
    out: dict[tuple[str, str], DocState] = {}
    for item in scan_all(aws_client("dynamodb"), targets.dynamodb_table):
        if "ledgerTable" not in item:
            continue  # replay checkpoints
        row = item_row(item, s3)
        out[(item["ledgerTable"]["S"], item["pk"]["S"])] = (
            row.version,
            row.deleted,
            row.redacted,
            row.data,
        )
    return out


def expected_documents() -> dict[tuple[str, str], DocState]:
    """The simulator's own final state (computed from its plan, without blocks or hashes)."""
    return {
        key: (doc.version, doc.deleted, doc.redacted, doc.data)
        for key, doc in final_state(CONFIG).items()
    }


def assert_history(
    got: dict[RevisionKey, HistState], cut: Cutover, *, including_stream_only: bool = False
) -> None:
    """Every revision exactly once, deletes as tombstones, redactions committed up to the
    cut-over redacted; the stream-only redactions too when ``including_stream_only``."""
    want = history(cut.ledger, as_of=cut.last)
    assert set(got) == set(want)
    assert sum(1 for _, redacted, _ in want.values() if redacted) == len(cut.ledger.redacted_by)
    skip = set() if including_stream_only else cut.stream_only_redactions
    assert {k: v for k, v in got.items() if k not in skip} == {
        k: v for k, v in want.items() if k not in skip
    }


def stream_counts(caplog: pytest.LogCaptureFixture) -> dict[str, int]:
    """The handler's per-batch counts, summed over every invocation logged so far."""
    total: dict[str, int] = {}
    for record in caplog.records:
        if record.getMessage() == "batch processed":
            for name, value in record.__dict__["counts"].items():
                total[name] = total.get(name, 0) + value
    return total


def dead_letters(queue: Queue) -> list[dict[str, Any]]:
    page = queue.sqs.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10)
    return list(page.get("Messages", []))


# ------------------------------------------------------------------------------ tests


def user_revisions(cut: Cutover, first: int, last: int) -> int:
    """User revisions committed in blocks ``first..last``."""
    return sum(
        1 for b in cut.ledger.blocks[first : last + 1] for r in b["revisions"] if "metadata" in r
    )


def test_export_then_overlapping_stream_converges_in_sqlite_postgres_and_dynamodb(
    cutover: Cutover,
    queue: Queue,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    targets = make_targets(tmp_path, postgres=True, dynamodb=True)
    exported = user_revisions(cutover, 0, cutover.last_exported)

    reports = replay(export(cutover, tmp_path / "export").root, targets, capsys)
    assert set(reports) == {"sqlite", "postgresql", "dynamodb"}
    assert all(a + s + sup == exported for a, s, sup, _ in reports.values())
    stream(cutover, queue, targets, monkeypatch)

    want = expected_documents()
    assert sqlite_documents(targets.sqlite) == want
    assert postgres_documents(targets) == want
    assert dynamodb_documents(targets) == want
    assert any(deleted for _, deleted, _, _ in want.values())
    assert_history(sqlite_revisions(targets.sqlite), cutover)
    assert_history(postgres_revisions(targets), cutover)

    counts = stream_counts(caplog)
    streamed = user_revisions(cutover, cutover.first_streamed, cutover.last)
    assert counts["revisions"] > streamed  # at-least-once: duplicates arrived
    assert counts["block_summaries"] > cutover.last - cutover.first_streamed
    assert counts["stale"] > 0  # the overlap (and duplicates) were rejected by version
    assert (counts["poison"], counts["retried"], counts["verify_failures"]) == (0, 0, 0)
    assert dead_letters(queue) == []


def test_stream_first_then_late_export_backfill_converges(
    cutover: Cutover,
    queue: Queue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = make_targets(tmp_path, postgres=True)
    stream(cutover, queue, targets, monkeypatch, seed=17)
    lambda_handler.reset()  # close the handler's connections before the backfill

    reports = replay(export(cutover, tmp_path / "export").root, targets, capsys)

    # new history rows: every revision before the stream's start, plus the export's redacted
    # copies of overlap revisions, which supersede the unredacted ones the stream delivered or,
    # for those whose redaction the stream announced itself (BLOCK_SUMMARY.redactionInfo), add
    # the dataHash that redactionInfo does not carry
    ledger = cutover.ledger
    overlap_redactions = [
        key
        for key, at in ledger.redacted_by.items()
        if at <= cutover.last_exported and ledger.committed_in[key] >= cutover.first_streamed
    ]
    assert overlap_redactions
    assert any(ledger.redacted_by[k] >= cutover.first_streamed for k in overlap_redactions)
    new_rows = user_revisions(cutover, 0, cutover.first_streamed - 1) + len(overlap_redactions)
    assert reports["sqlite"][3] == new_rows
    assert reports["postgresql"][3] == new_rows
    want = expected_documents()
    assert sqlite_documents(targets.sqlite) == want
    assert postgres_documents(targets) == want
    assert_history(sqlite_revisions(targets.sqlite), cutover)
    assert_history(postgres_revisions(targets), cutover)


def test_replaying_the_export_again_after_the_stream_changes_nothing(
    cutover: Cutover,
    queue: Queue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = make_targets(tmp_path, postgres=True)
    first = export(cutover, tmp_path / "export")
    replay(first.root, targets, capsys)
    stream(cutover, queue, targets, monkeypatch, seed=23)
    lambda_handler.reset()
    before = (sqlite_documents(targets.sqlite), sqlite_revisions(targets.sqlite))
    before_pg = (postgres_documents(targets), postgres_revisions(targets))

    capsys.readouterr()
    assert main(["replay", str(first.root), "--no-progress", "--to", targets.uris[0]]) == 0
    assert f"objects: 0 replayed, {len(first.keys)} already done" in capsys.readouterr().out

    # the same blocks under another export id are not skipped by the checkpoints: re-applied
    copy = export(cutover, tmp_path / "copy", export_id=COPY_ID)
    reports = replay(copy.root, targets, capsys)
    exported = user_revisions(cutover, 0, cutover.last_exported)
    for name in ("sqlite", "postgresql"):
        applied, stale, superseded, history_rows = reports[name]
        assert (applied, history_rows) == (0, 0), name
        assert stale + superseded == exported
        assert stale > 0
    assert (sqlite_documents(targets.sqlite), sqlite_revisions(targets.sqlite)) == before
    assert (postgres_documents(targets), postgres_revisions(targets)) == before_pg


def test_sequence_number_filter_of_the_migration_sample_is_unnecessary(
    cutover: Cutover,
    queue: Queue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Skipping stream blocks ``<= last exported`` (the AWS sample's seam) gives the same
    projection as consuming the whole overlap."""
    unfiltered = make_targets(tmp_path / "all", postgres=False)
    filtered = make_targets(tmp_path / "filtered", postgres=False)
    for targets, first in ((unfiltered, None), (filtered, cutover.last_exported + 1)):
        targets.sqlite.parent.mkdir(parents=True, exist_ok=True)
        replay(export(cutover, targets.sqlite.parent / "export").root, targets, capsys)
        stream(cutover, queue, targets, monkeypatch, first=first, seed=29)
        lambda_handler.reset()
    assert sqlite_documents(filtered.sqlite) == sqlite_documents(unfiltered.sqlite)
    assert sqlite_revisions(filtered.sqlite) == sqlite_revisions(unfiltered.sqlite)
    assert sqlite_documents(unfiltered.sqlite) == expected_documents()


def test_a_later_full_export_adds_the_data_hash_to_the_stream_redactions(
    cutover: Cutover,
    queue: Queue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = make_targets(tmp_path, postgres=False)
    replay(export(cutover, tmp_path / "export").root, targets, capsys)
    stream(cutover, queue, targets, monkeypatch, seed=31)
    lambda_handler.reset()
    late = write_export_view(
        tmp_path / "late", cutover.ledger, last=cutover.last, as_of=cutover.last, export_id=LATE_ID
    )

    reports = replay(late.root, targets, capsys)

    applied, _, _, history_rows = reports["sqlite"]
    assert applied == 0  # only superseded revisions are redacted: current state unchanged
    # the stream applied every redaction it announced (BLOCK_SUMMARY.redactionInfo); the late
    # export's redacted copies add the dataHash that redactionInfo does not carry
    assert history_rows == len(cutover.stream_only_redactions) > 0
    with sqlite3.connect(targets.sqlite) as db:
        missing = "SELECT count(*) FROM revisions WHERE redacted = 1 AND data_hash IS NULL"
        assert db.execute(missing).fetchone()[0] == 0
    assert sqlite_documents(targets.sqlite) == expected_documents()
    assert_history(sqlite_revisions(targets.sqlite), cutover, including_stream_only=True)


def test_the_stream_alone_applies_redactions_committed_after_the_cutover(
    cutover: Cutover,
    queue: Queue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = make_targets(tmp_path, postgres=True, dynamodb=True)
    replay(export(cutover, tmp_path / "export").root, targets, capsys)
    stream(cutover, queue, targets, monkeypatch, seed=37)
    assert_history(sqlite_revisions(targets.sqlite), cutover, including_stream_only=True)
    assert_history(postgres_revisions(targets), cutover, including_stream_only=True)
    assert postgres_documents(targets) == expected_documents()
    assert dynamodb_documents(targets) == expected_documents()
    # every revision keeps its own metadata, also those the stream only announced as redacted
    with sqlite3.connect(targets.sqlite) as db:
        assert (
            db.execute("SELECT count(*) FROM revisions WHERE revision_hash = ''").fetchone()[0] == 0
        )
    assert sqlite_documents(targets.sqlite) == expected_documents()
