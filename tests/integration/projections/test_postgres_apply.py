"""PostgresProjection against a real server: counts, poison isolation, failures, concurrency."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from core.errors import ConfigError, RetryableError, UnstorableChangeError
from core.model import Change, ChangeKind, DocKey
from projections.base import ApplyReport, Projection
from projections.memory import MemoryProjection
from projections.postgres import PostgresProjection, from_uri
from tests.support import pg_server
from tests.support.builders import history, make_change
from tests.support.postgres_readback import read_current, read_history
from tests.support.projection_harness import expected_state


@pytest.fixture(scope="module")
def dsn() -> str:
    return pg_server.require_dsn()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    name = pg_server.fresh_schema(dsn, "unit")
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def projection(dsn: str, schema: str) -> Iterator[PostgresProjection]:
    p = from_uri(f"{dsn}?schema={schema}")
    yield p
    p.close()


def balanced(report: ApplyReport) -> bool:
    return (
        report.applied + report.stale + report.superseded + len(report.failures) == report.received
    )


def snapshot(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for table in ("documents", "revisions"):
        rows += db.execute(
            sql.SQL("SELECT *, data::text, data_exact::text FROM {} ORDER BY 1, 2, 3").format(
                sql.Identifier(schema, table)
            )
        ).fetchall()
    return rows


def test_implements_the_protocol_and_parses_uris(dsn: str) -> None:
    p = from_uri(dsn.replace("postgresql://", "postgres://", 1) + "?schema=s1")
    assert isinstance(p, Projection)
    assert (p.name, p.schema) == ("postgresql", "s1")
    assert from_uri(dsn).schema is None
    with pytest.raises(ConfigError):
        from_uri("mysql://x@localhost/db")
    with pytest.raises(ConfigError):
        from_uri(f"{dsn}?schema=")
    with pytest.raises(ConfigError):
        from_uri("postgresql://h/db?no_such_libpq_option=1")


def test_counts_are_exact_on_a_crafted_batch(projection: PostgresProjection) -> None:
    a0, a1 = history("a", 2)
    e0 = make_change("e", 0)
    first = projection.apply([a0, a1, e0])
    assert (first.applied, first.stale, first.history_written) == (2, 0, 3)

    b = history("b", 3, delete_last=True)
    batch = [
        a1,  # duplicate of the current version: stale
        a0,  # older: superseded by a1 in the batch
        *b,  # b2 (a delete) wins: one tombstone, b0 and b1 superseded
        make_change("c", 0),
        make_change("c", 0, kind=ChangeKind.REDACTION),  # redaction wins over its original
        make_change("e", 0, kind=ChangeKind.REDACTION),  # redacts the stored current version
        make_change("a", 0, kind=ChangeKind.REDACTION),  # redacts history only
    ]
    report = projection.apply(batch)
    assert report.received == 9
    assert report.superseded == 5
    assert (report.applied, report.stale) == (3, 1)
    assert (report.tombstones, report.redactions) == (1, 2)
    assert report.history_written == 6  # b0 b1 b2 c0, e0 and a0 newly redacted
    assert report.failures == []
    assert balanced(report)

    reference = MemoryProjection()
    reference.apply([a0, a1, e0])
    want = reference.apply(batch)
    assert (report.applied, report.stale, report.superseded, report.tombstones) == (
        want.applied,
        want.stale,
        want.superseded,
        want.tombstones,
    )
    assert (report.redactions, report.history_written) == (want.redactions, want.history_written)


def test_reapplying_is_idempotent_and_counted_stale(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    changes = [c for i in range(5) for c in history(f"d{i}", 3, delete_last=i % 2 == 0)]
    changes.append(make_change("d1", 1, kind=ChangeKind.REDACTION))
    projection.apply(changes)
    before = snapshot(db, schema)
    again = projection.apply(list(reversed(changes)))
    assert (again.applied, again.history_written, again.tombstones, again.redactions) == (
        0,
        0,
        0,
        0,
    )
    assert again.stale == 5
    assert balanced(again)
    assert snapshot(db, schema) == before


def test_columns_hold_metadata_and_exact_data(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    change = make_change("m", 3, data={"p": Decimal("1.50"), "z": Decimal("-0.0"), "s": "x"})
    projection.apply([change])
    row = db.execute(
        sql.SQL(
            "SELECT version, tx_id, tx_time, tx_time_utc, block_strand, block_seq, revision_hash,"
            " data->>'p', data_exact IS NOT NULL, jsonb_typeof(data) FROM {}"
        ).format(sql.Identifier(schema, "documents"))
    ).fetchone()
    assert row is not None
    assert row[:3] == (3, change.tx_id, change.tx_time)
    assert row[3].isoformat() == "2024-01-01T00:00:03.123000+00:00"
    assert row[4:7] == (change.block.strand_id, change.block.sequence_no, change.revision_hash)
    assert row[7:] == ("1.50", True, "object")
    current = read_current(db, schema)[DocKey("Person", "m")]
    assert str(current.data["z"]) == "-0.0"


def test_unstorable_changes_fail_alone_and_the_rest_is_written(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    rng = random.Random(3)
    huge_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(9000))
    good = [*history("ok", 2), make_change("p", 0), make_change("esc", 0, data={"s": "\\u0000"})]
    bad = [
        make_change("p", 1, data={"name": "nul\x00inside"}),  # client-side check (jsonb NUL)
        make_change("q", 0, data={"k": ["\ud800"]}),  # client-side check (lone surrogate)
        make_change("id\x00", 0),  # client-side check (text NUL)
        make_change("r", 0, data={"n": Decimal("1E+200000")}),  # server rejects: numeric overflow
        make_change(huge_id, 0),  # server rejects: key too large for the primary-key index
    ]
    batch = [bad[0], *good[:2], bad[3], bad[1], good[2], bad[4], bad[2], good[3], bad[0]]
    report = projection.apply(batch)

    assert [f.change for f in report.failures] == [bad[0], bad[3], bad[1], bad[4], bad[2], bad[0]]
    assert all(f.poison and isinstance(f.error, UnstorableChangeError) for f in report.failures)
    assert "NUL" in str(report.failures[0].error)
    assert "numeric" in str(report.failures[1].error)
    assert balanced(report)
    want_current, want_history = expected_state(good)
    assert read_current(db, schema) == want_current  # p stays at v0: v1 is poison
    assert read_history(db, schema) == want_history


def test_unreachable_server_is_retryable(dsn: str) -> None:
    port = pg_server._free_port()
    p = from_uri(f"postgresql://postgres@127.0.0.1:{port}/qldb_cdc?connect_timeout=3")
    with pytest.raises(RetryableError):
        p.apply([make_change("a", 0)])
    with pytest.raises(RetryableError):
        p.completed_objects("e1")
    with pytest.raises(RetryableError):
        p.mark_object_complete("e1", "k")


def test_killed_connection_is_retryable_then_recovers(
    dsn: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    app = f"victim_{schema}"
    p = from_uri(f"{dsn}?schema={schema}&application_name={app}")
    try:
        p.apply([make_change("a", 0)])
        killed = db.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (app,),
        ).fetchone()
        assert killed == (1,)
        with pytest.raises(RetryableError):
            p.apply([make_change("a", 1)])
        report = p.apply([make_change("a", 1)])
        assert report.applied == 1
    finally:
        p.close()
    assert read_current(db, schema)[DocKey("Person", "a")].version == 1


def test_checkpoints_are_durable_idempotent_and_per_export(dsn: str, schema: str) -> None:
    first = from_uri(f"{dsn}?schema={schema}")
    assert first.completed_objects("exp1") == set()
    first.mark_object_complete("exp1", "a/1.ion")
    first.mark_object_complete("exp1", "a/1.ion")
    first.mark_object_complete("exp1", "a/2.ion")
    first.mark_object_complete("exp2", "b/1.ion")
    first.close()
    second = from_uri(f"{dsn}?schema={schema}")
    try:
        assert second.completed_objects("exp1") == {"a/1.ion", "a/2.ion"}
        assert second.completed_objects("exp2") == {"b/1.ion"}
        assert second.completed_objects("other") == set()
    finally:
        second.close()
    with pytest.raises(RuntimeError):
        first.apply([])


def test_concurrent_instances_with_interleaved_shuffled_batches_converge(
    dsn: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    changes: list[Change] = []
    for i in range(40):
        changes += history(f"d{i}", 6, table=f"T{i % 2}", delete_last=i % 5 == 0)
    redactions = [
        make_change(f"d{i}", i % 5, table=f"T{i % 2}", kind=ChangeKind.REDACTION)
        for i in range(1, 40, 3)
    ]
    changes += redactions
    errors: list[BaseException] = []
    totals: list[ApplyReport] = []

    def worker(seed: int) -> None:
        p = from_uri(f"{dsn}?schema={schema}")
        mine = list(changes)
        random.Random(seed).shuffle(mine)
        total = ApplyReport()
        try:
            for start in range(0, len(mine), 17):
                for _attempt in range(20):  # a deadlock or serialization failure is retryable
                    try:
                        total.merge(p.apply(mine[start : start + 17]))
                        break
                    except RetryableError:
                        continue
                else:
                    raise AssertionError("batch never succeeded")
        except BaseException as exc:
            errors.append(exc)
        finally:
            p.close()
            totals.append(total)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    want_current, want_history = expected_state(changes)
    assert read_current(db, schema) == want_current
    assert read_history(db, schema) == want_history
    # Together the workers wrote each revision row once (twice when redacted after the original).
    assert all(balanced(t) and t.failures == [] for t in totals)
    history_rows = sum(t.history_written for t in totals)
    assert len(want_history) <= history_rows <= len(want_history) + len(redactions)


def test_batch_rejected_without_a_single_culprit_is_poison_not_a_loop(
    projection: PostgresProjection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PostgresProjection, "_probe", lambda self, conn, staged: {})
    overflow = make_change("r", 1, data={"n": Decimal("1E+200000")})
    older = make_change("r", 0)
    report = projection.apply([overflow, older])
    # No culprit found: every staged change is reported (dead-lettered), none silently dropped.
    assert [f.change for f in report.failures] == [overflow, older]
    assert all(f.poison and "rejected the batch" in str(f.error) for f in report.failures)
    assert (report.applied, report.history_written) == (0, 0)
    assert balanced(report)


def test_copy_special_characters_round_trip(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    data = {"s": "tab\there\nnew \\ back \r", "k\\": ["\\u0000", "\\N"], "n": Decimal("5")}
    changes = [
        make_change("id\twith\\odd\nchars", 0, table="T\\1", data=data),
        make_change("\\N", 0, data={"x": "\\N"}),
    ]
    report = projection.apply(changes)
    assert (report.applied, report.history_written, report.failures) == (2, 2, [])
    want_current, want_history = expected_state(changes)
    assert read_current(db, schema) == want_current
    assert read_history(db, schema) == want_history
    stored = read_current(db, schema)[DocKey("T\\1", "id\twith\\odd\nchars")].data
    assert (type(stored["n"]), str(stored["n"])) == (Decimal, "5")


def test_a_batch_of_several_parts_matches_the_reference(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    changes = [c for i in range(700) for c in history(f"d{i}", 3, delete_last=i % 7 == 0)]
    changes += [make_change(f"d{i}", 1, kind=ChangeKind.REDACTION) for i in range(1, 700, 9)]
    random.Random(5).shuffle(changes)
    early = changes[::5]
    reference = MemoryProjection()
    reference.apply(early)
    want = reference.apply(changes)
    projection.apply(early)
    report = projection.apply(changes)  # > 2000 staged rows: several parts, one transaction
    got = (report.applied, report.stale, report.superseded, report.tombstones, report.redactions)
    assert got == (want.applied, want.stale, want.superseded, want.tombstones, want.redactions)
    assert report.history_written == want.history_written
    assert balanced(report)
    want_current, want_history = expected_state(changes)
    assert read_current(db, schema) == want_current
    assert read_history(db, schema) == want_history


def test_unstorable_changes_in_later_parts_roll_back_and_retry_the_whole_batch(
    projection: PostgresProjection, db: psycopg.Connection[Any], schema: str
) -> None:
    good = [make_change(f"g{i:04d}", 0) for i in range(2500)]
    client_bad = make_change("zz-nul", 0, data={"s": "\x00"})  # sorts into the last part
    server_bad = make_change("g1500", 1, data={"n": Decimal("1E+200000")})  # a middle part
    report = projection.apply([*good, client_bad, server_bad])
    assert [f.change for f in report.failures] == [client_bad, server_bad]
    assert (report.applied, report.history_written) == (2500, 2500)
    assert balanced(report)
    want_current, want_history = expected_state(good)
    assert read_current(db, schema) == want_current
    assert read_history(db, schema) == want_history
