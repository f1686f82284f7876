"""``replay --workers N``: same final state as one worker, resumable after a kill, verified."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumers.cli import main
from projections.targets import TargetSpec, parse_target
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export
from simulation.ledger import final_state

CONFIG = SimulationConfig(documents=120, revisions=2400, seed=5)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    write_export(out, CONFIG, ExportFormat.ION_BINARY, blocks_per_object=60, split_exports=2)
    return out


def dump(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    docs = con.execute(
        "SELECT ledger_table, document_id, version, deleted, redacted, data, revision_hash"
        " FROM documents ORDER BY 1, 2"
    ).fetchall()
    revs = con.execute(
        "SELECT ledger_table, document_id, version, deleted, redacted, data FROM revisions"
        " ORDER BY 1, 2, 3"
    ).fetchall()
    con.close()
    return docs, revs


def replay_verified_with_two_workers(source: Path, db: Path) -> subprocess.CompletedProcess[str]:
    """``qldb-cdc replay SOURCE --to DB --workers 2 --verify`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", "replay", str(source), "--to", str(db)]
        + ["--workers", "2", "--verify", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_two_workers_equal_one_worker_and_the_simulated_truth(
    export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert main(["replay", str(export_dir), "--to", str(one), "--no-progress"]) == 0
    single = capsys.readouterr().out
    assert (
        main(
            [
                "replay",
                str(export_dir),
                "--to",
                str(two),
                "--no-progress",
                "--workers",
                "2",
                "--verify",
            ]
        )
        == 0
    )
    assert dump(one) == dump(two)
    parallel = capsys.readouterr().out
    objects = len(list(export_dir.rglob("*.10n")))
    for out in (single, parallel):
        assert f"objects: {objects} replayed, 0 already done (of {objects})" in out
        assert f"history rows {CONFIG.revisions}" in out
    expected = final_state(CONFIG)
    docs, revs = dump(two)
    assert {(t, d): (v, bool(de)) for t, d, v, de, _r, _j, _h in docs} == {
        key: (doc.version, doc.deleted) for key, doc in expected.items()
    }
    assert len(revs) == CONFIG.revisions


def test_killed_parallel_replay_resumes_and_converges(export_dir: Path, tmp_path: Path) -> None:
    reference, db = tmp_path / "ref.db", tmp_path / "killed.db"
    assert main(["replay", str(export_dir), "--to", str(reference), "--no-progress"]) == 0
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consumers.cli",
            "replay",
            str(export_dir),
            "--to",
            str(db),
            "--workers",
            "2",
            "--no-progress",
            "--batch-size",
            "50",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                done = (
                    sqlite3.connect(db)
                    .execute("SELECT count(*) FROM qldb_cdc_checkpoints")
                    .fetchone()[0]
                )
            except sqlite3.OperationalError:
                done = 0
            if done >= 2:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = sqlite3.connect(db).execute("SELECT count(*) FROM qldb_cdc_checkpoints").fetchone()[0]
    assert done >= 2, "the replay should have completed a few objects before the kill"
    # WHEN the same command runs again THEN it resumes and ends in the single-worker state
    assert (
        main(["replay", str(export_dir), "--to", str(db), "--no-progress", "--workers", "2"]) == 0
    )
    assert dump(db) == dump(reference)


def test_parallel_verify_detects_tampering_inside_a_worker(
    export_dir: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(export_dir, copy)
    objects = sorted(p for p in copy.rglob("*.10n"))
    victim = objects[len(objects) // 2]
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0x01  # one byte inside the object's last block
    victim.write_bytes(bytes(data))
    result = replay_verified_with_two_workers(copy, tmp_path / "v.db")
    assert result.returncode == 3, result.stderr
    assert "verification failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_links_between_chunks_are_checked_before_their_objects_are_recorded() -> None:
    from exports.plan import ExportObject, ExportPlan
    from replay.engine import ObjectOutcome, ReplaySummary, VerificationFailedError
    from replay.parallel import _chunks, _HeldObjects, _required_links
    from schemas.journal_export import ObjectRange

    a = ExportObject("e", "S.0-9.10n", ObjectRange("S", 0, 9))
    b = ExportObject("e", "S.10-19.10n", ObjectRange("S", 10, 19))
    plan = ExportPlan((a, b), ("e",))
    t = parse_target("sqlite:///t.db")
    todo: list[tuple[ExportObject, tuple[TargetSpec, ...]]] = [(a, (t,)), (b, (t,))]
    links = _required_links(plan, todo)
    assert links == {b.key: a.key}
    chunks = _chunks(todo, 2, links)  # one object per chunk: the link is between chunks
    assert [c.held for c in chunks] == [frozenset({a.key}), frozenset({b.key})]
    good = {
        a.key: ObjectOutcome(a.key, ReplaySummary(), b"p" * 32, b"x" * 32),
        b.key: ObjectOutcome(b.key, ReplaySummary(), b"x" * 32, b"y" * 32),
    }
    held = _HeldObjects(plan, chunks, links)
    assert held.ready({a.key: good[a.key]}) == []  # b not read yet: a waits
    assert held.ready(good) == [(a, (t,)), (b, (t,))]
    bad = {**good, b.key: ObjectOutcome(b.key, ReplaySummary(), b"z" * 32, b"y" * 32)}
    with pytest.raises(VerificationFailedError, match="block S/10: previousBlockHash"):
        _HeldObjects(plan, chunks, links).ready(bad)
    # an object replayed in an earlier run has no hashes here: its link was checked then
    assert _required_links(plan, [(b, (t,))]) == {}


def test_links_inside_a_chunk_are_left_to_its_worker() -> None:
    from exports.plan import ExportObject, ExportPlan
    from replay.parallel import _chunks, _required_links
    from schemas.journal_export import ObjectRange

    objs = [ExportObject("e", f"S.{i}-{i}.10n", ObjectRange("S", i, i)) for i in range(8)]
    plan = ExportPlan(tuple(objs), ("e",))
    t = parse_target("sqlite:///t.db")
    todo: list[tuple[ExportObject, tuple[TargetSpec, ...]]] = [(obj, (t,)) for obj in objs]
    chunks = _chunks(todo, 1, _required_links(plan, todo))
    assert [len(c.objects) for c in chunks] == [2, 2, 2, 2]
    assert all(c.linked == (False, True) for c in chunks)
    assert chunks[0].held == frozenset({objs[1].key})
    assert chunks[1].held == frozenset({objs[2].key, objs[3].key})


@pytest.mark.parametrize(("objects", "workers"), [(1, 1), (7, 2), (100, 2), (1000, 3), (9, 8)])
def test_work_is_handed_out_in_runs_of_consecutive_objects(objects: int, workers: int) -> None:
    from exports.plan import ExportObject
    from replay.parallel import MAX_CHUNK_OBJECTS, _chunks
    from schemas.journal_export import ObjectRange

    a, b = parse_target("sqlite:///a.db"), parse_target("sqlite:///b.db")
    todo: list[tuple[ExportObject, tuple[TargetSpec, ...]]] = [
        (
            ExportObject("e", f"S.{i}-{i}.10n", ObjectRange("S", i, i)),
            (a,) if i % 37 else (a, b),
        )
        for i in range(objects)
    ]
    chunks = _chunks(todo, workers, {})
    # every object once, in order, with its own targets
    assert [(obj, c.targets) for c in chunks for obj in c.objects] == todo
    assert all(1 <= len(c.objects) <= MAX_CHUNK_OBJECTS for c in chunks)
    # enough chunks to keep every worker busy when there are enough objects
    assert len(chunks) >= min(objects, workers * 4)
    if objects >= 1000:
        assert max(len(c.objects) for c in chunks) == MAX_CHUNK_OBJECTS
    assert all(not c.held and not any(c.linked) for c in chunks)  # no links without --verify


def test_nested_overlapping_export_is_harmless_for_replay_and_verify(
    export_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from amazon.ion import simpleion

    copy = tmp_path / "overlap"
    shutil.copytree(export_dir, copy)
    # GIVEN a third export that repeats one object from the middle of the first export
    middle = sorted(copy.rglob("*.10n"))[3]
    extra = copy / "ZZoverlapZZoverlapZZov" / middle.name
    extra.parent.mkdir()
    shutil.copy(middle, extra)
    strand = middle.name.split(".")[0]
    manifest = copy / f"ZZoverlapZZoverlapZZov.{strand}.completed.manifest"
    manifest.write_text(simpleion.dumps({"keys": [str(extra.relative_to(copy))]}, binary=False))
    # THEN verify passes, replay --verify passes, and the state equals the plain replay
    result = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    db, reference = tmp_path / "o.db", tmp_path / "r.db"
    assert main(["replay", str(copy), "--to", str(db), "--verify", "--no-progress"]) == 0
    assert main(["replay", str(export_dir), "--to", str(reference), "--no-progress"]) == 0
    assert dump(db) == dump(reference)


def test_broken_link_between_objects_fails_every_parallel_verify_run(
    export_dir: Path, tmp_path: Path
) -> None:
    import io
    import shutil

    from amazon.ion import simpleion

    from verification.qldb_hashes import dot

    # GIVEN one object whose chain is rebuilt from a different starting hash: every block in it
    # verifies and links to the one before, but the object no longer links to its neighbours
    copy = tmp_path / "linked"
    shutil.copytree(export_dir, copy)
    victim = sorted(copy.rglob("*.10n"), key=lambda p: int(p.name.split(".")[1].split("-")[0]))[3]
    blocks = list(simpleion.load(io.BytesIO(victim.read_bytes()), single_value=False))
    previous = bytes(range(32))
    for block in blocks:
        block["previousBlockHash"] = previous
        block["blockHash"] = previous = dot(bytes(block["entriesHash"]), previous)
    victim.write_bytes(b"".join(simpleion.dumps(b, binary=True) for b in blocks))
    for _ in range(2):  # THEN a re-run finds the broken link again (nothing was marked done)
        result = replay_verified_with_two_workers(copy, tmp_path / "v.db")
        assert result.returncode == 3, result.stderr
        assert "previousBlockHash does not match" in result.stderr
        assert victim.name in result.stderr or "object" in result.stderr


def checkpoints(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db)
        try:
            return int(con.execute("SELECT count(*) FROM qldb_cdc_checkpoints").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # tables not created yet


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c-to-the-process-group", "sigterm-to-the-parent-only"],
)
def test_interrupted_verified_parallel_replay_keeps_progress_and_stops_promptly(
    export_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
    to_group: bool,
) -> None:
    reference, db = tmp_path / "ref.db", tmp_path / "interrupted.db"
    assert main(["replay", str(export_dir), "--to", str(reference), "--no-progress"]) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "consumers.cli", "replay", str(export_dir), "--to", str(db)]
        + ["--workers", "2", "--verify", "--no-progress", "--batch-size", "50"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and checkpoints(db) < 2:
        time.sleep(0.02)
    # GIVEN a verified parallel replay that has recorded objects (before, it recorded none
    # until every worker was done) WHEN it is interrupted
    signalled = time.monotonic()
    if to_group:
        os.killpg(proc.pid, signum)  # what Ctrl-C in a terminal does
    else:
        proc.send_signal(signum)  # a supervisor stopping the main process only
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - signalled
    # THEN it stops promptly as interrupted (it took 11 s; generous bound: it does not linger)
    assert proc.returncode == 128 + signum, err
    assert "re-run the same command to resume" in err and "Traceback" not in err, err
    assert took < 5, f"took {took:.1f}s to stop"
    done = checkpoints(db)
    assert done >= 2, "objects verified and applied before the interrupt must stay recorded"
    capsys.readouterr()
    # WHEN the same command runs again THEN it skips them and ends in the exact state
    args = ["replay", str(export_dir), "--to", str(db), "--no-progress", "--workers", "2"]
    assert main([*args, "--verify"]) == 0
    assert f"replayed, {done} already done" in capsys.readouterr().out
    assert dump(db) == dump(reference)
