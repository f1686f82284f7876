"""The replay CLI end to end on hand-made exports: results, resume, and clear errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from changes.from_qldb import block_changes
from consumers.cli import main
from projections.memory import MemoryProjection
from schemas.journal import parse_block
from schemas.journal_export import ExportFormat
from tests.support.export_builder import STRAND, Rev, block, write_export
from tests.support.replay_samples import C, as_rows, expected, read_db, sample_objects


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_replay_into_sqlite_matches_in_order_application(
    tmp_path: Path, fmt: ExportFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = sample_objects()
    write_export(tmp_path / "export", objects, fmt=fmt)
    db = tmp_path / "out.db"
    assert (
        main(["replay", str(tmp_path / "export"), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    )
    assert read_db(db) == as_rows(expected(objects))
    out = capsys.readouterr().out
    assert "objects: 2 replayed, 0 already done (of 2)" in out
    assert "revisions: 10 read, skipped 3 system + 0 without table" in out
    assert "tombstones 1" in out and "redactions 1" in out

    # WHEN the same replay runs again THEN nothing changes and both objects are skipped
    assert (
        main(["replay", str(tmp_path / "export"), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    )
    assert "objects: 0 replayed, 2 already done (of 2)" in capsys.readouterr().out
    assert read_db(db) == as_rows(expected(objects))


@pytest.mark.parametrize("batch_size", [1, 3, 5000])
@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_interrupted_replay_resumes_and_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int, batch_size: int
) -> None:
    """Interrupt the replay at its n-th batch: only objects whose every change was applied are
    recorded complete, and a re-run converges to in-order application."""
    objects = sample_objects()
    keys = write_export(tmp_path / "export", objects)
    db = tmp_path / "out.db"
    from core.model import Change
    from projections.sqlite import SQLiteProjection

    real_apply = SQLiteProjection.apply
    batches: list[list[Change]] = []

    def crash_at_nth_batch(self: SQLiteProjection, changes: list[Change]) -> object:
        if len(batches) == crash_at - 1:
            raise KeyboardInterrupt
        batches.append(list(changes))
        return real_apply(self, changes)

    monkeypatch.setattr(SQLiteProjection, "apply", crash_at_nth_batch)
    args = ["replay", str(tmp_path / "export"), "--to", str(db), "--no-progress"]
    code = main([*args, "--batch-size", str(batch_size)])
    monkeypatch.setattr(SQLiteProjection, "apply", real_apply)
    con = sqlite3.connect(db)
    marked = {key for (key,) in con.execute("SELECT object_key FROM qldb_cdc_checkpoints")}
    con.close()
    applied = [c for batch in batches for c in batch]
    for key, blocks in zip(keys, objects, strict=True):
        own = [c for value in blocks for c in block_changes(parse_block(value)).changes]
        if key in marked:
            assert all(c in applied for c in own), key
    if code == 0:  # the replay needed fewer batches than crash_at
        assert marked == set(keys)
    else:
        assert code == 130
        assert marked != set(keys)
    if (batch_size, crash_at) == (1, 4):  # batches: block 1, block 2, block 3 (2nd object)
        assert marked == {keys[0]}
    assert main(args) == 0
    assert read_db(db) == as_rows(expected(objects))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_manifest_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("replay", str(tmp_path / "empty"), "--to", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "no *.completed.manifest found" in result.stderr


def test_missing_folder_and_bad_target(tmp_path: Path) -> None:
    result = run_cli("replay", str(tmp_path / "nope"))
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    assert "does not exist" in result.stderr
    write_export(tmp_path / "e", sample_objects())
    result = run_cli("replay", str(tmp_path / "e"), "--to", "mysql://x")
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    assert "unknown target" in result.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("opensearch+http://127.0.0.1:9/Bad,Prefix", "index prefix"),
        ("opensearch+http://127.0.0.1:9/" + "p" * 129, "longer than 128 bytes"),
        ("s3://bucket/a/../b", "S3 prefix"),
    ],
)
def test_a_target_prefix_that_cannot_name_indices_or_keys_is_a_usage_error(
    tmp_path: Path, target: str, message: str
) -> None:
    write_export(tmp_path / "e", sample_objects())
    result = run_cli("replay", str(tmp_path / "e"), "--to", target)
    assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert message in result.stderr


def test_truncated_object_names_object_and_rerun_fixes(tmp_path: Path) -> None:
    objects = sample_objects()
    keys = write_export(tmp_path / "e", objects, fmt=ExportFormat.ION_TEXT)
    second = tmp_path / "e" / keys[1]
    good = second.read_bytes()
    lines = good.split(b"\n")
    second.write_bytes(b"\n".join(lines[:-1]))  # drop the last block: valid Ion, missing block 5
    db = tmp_path / "out.db"
    result = run_cli("replay", str(tmp_path / "e"), "--to", str(db), "--no-progress")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "ends at block 4 but its name promises blocks up to 5" in result.stderr
    # the first object shared a batch with the bad one; its work was kept and recorded complete
    con = sqlite3.connect(db)
    assert {k for (k,) in con.execute("SELECT object_key FROM qldb_cdc_checkpoints")} == {keys[0]}
    assert con.execute("SELECT count(*) FROM revisions WHERE version = 0").fetchone()[0] >= 2
    con.close()
    # a re-run with the object repaired converges to the full state
    second.write_bytes(good)
    result = run_cli("replay", str(tmp_path / "e"), "--to", str(db), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert read_db(db) == as_rows(expected(objects))


def test_corrupt_ion_and_wrong_format(tmp_path: Path) -> None:
    keys = write_export(tmp_path / "e", sample_objects())
    obj = tmp_path / "e" / keys[0]
    data = bytearray(obj.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
    obj.write_bytes(bytes(data))
    result = run_cli("replay", str(tmp_path / "e"), "--to", str(tmp_path / "o.db"), "--no-progress")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert keys[0] in result.stderr

    write_export(tmp_path / "j", sample_objects(), fmt=ExportFormat.ION_BINARY)
    result = run_cli(
        "replay",
        str(tmp_path / "j"),
        "--format",
        "json",
        "--to",
        str(tmp_path / "p.db"),
        "--no-progress",
    )
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "not valid JSON" in result.stderr


def test_gap_between_objects_is_refused(tmp_path: Path) -> None:
    objects = sample_objects()
    objects[1] = objects[1][1:]  # second object now starts at block 4: block 3 is missing
    write_export(tmp_path / "e", objects)
    result = run_cli("replay", str(tmp_path / "e"), "--to", str(tmp_path / "o.db"))
    assert result.returncode == 2
    assert "starts at block 4 but the previous object ends at 2" in result.stderr


def test_two_contiguous_exports_are_joined(tmp_path: Path) -> None:
    objects = sample_objects()
    write_export(tmp_path / "e", objects[:1], export_id="Export1aaaaaaaaaaaaaaaa")
    write_export(tmp_path / "e", objects[1:], export_id="Export2aaaaaaaaaaaaaaaa")
    db = tmp_path / "o.db"
    assert main(["replay", str(tmp_path / "e"), "--to", str(db), "--no-progress"]) == 0
    assert read_db(db) == as_rows(expected(objects))
    assert STRAND


def test_unstorable_document_is_dead_lettered_and_the_rest_applied(tmp_path: Path) -> None:
    import json

    from tests.support.pg_server import fresh_schema, require_dsn

    base = require_dsn()
    uri = f"{base}{'&' if '?' in base else '?'}schema={fresh_schema(base, 'deadletter')}"
    objects = sample_objects()
    objects[1][1] = block(4, [Rev("Person", C, 0, {"name": "nul\x00byte"})])
    write_export(tmp_path / "e", objects)
    # WITHOUT a dead-letter file the run stops and names the document
    result = run_cli("replay", str(tmp_path / "e"), "--to", uri, "--no-progress")
    assert result.returncode == 3, result.stderr
    assert f"cannot store document {C} v0" in result.stderr
    assert "Traceback" not in result.stderr
    # WITH one, the change is set aside with its raw revision and everything else is applied
    letters = tmp_path / "dead.jsonl"
    result = run_cli(
        "replay", str(tmp_path / "e"), "--to", uri, "--no-progress", "--dead-letter", str(letters)
    )
    assert result.returncode == 0, result.stderr
    assert "dead-lettered: 1" in result.stdout
    (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
    assert letter["documentKey"] == f"Person/{C}@0"
    assert letter["target"] == "postgresql"
    assert letter["sequenceNumber"].startswith("8ZkGjpvZQsB2Xw1Pj0C3Fz/exports/")
    assert letter["rawBase64"]


def test_exit_codes_follow_the_failure_class() -> None:
    from consumers.cli import exit_code
    from consumers.exit_codes import ExitCode
    from core.errors import ConfigError, DecodeError, ThrottledError
    from replay.engine import TargetUnavailableError, UnstorableDocumentError
    from replay.parallel import WorkerDiedError

    EXIT_USAGE, EXIT_BAD_DATA, EXIT_TARGET_DOWN = (
        ExitCode.USER_MISTAKE,
        ExitCode.BAD_DATA,
        ExitCode.RETRYABLE,
    )

    assert exit_code(ConfigError("x")) == EXIT_USAGE
    assert exit_code(FileNotFoundError("x")) == EXIT_USAGE
    assert exit_code(TargetUnavailableError("x")) == EXIT_TARGET_DOWN
    assert exit_code(ThrottledError("x")) == EXIT_TARGET_DOWN
    assert exit_code(WorkerDiedError("x")) == EXIT_TARGET_DOWN
    assert exit_code(DecodeError("x")) == EXIT_BAD_DATA
    assert exit_code(UnstorableDocumentError("x")) == EXIT_BAD_DATA


def test_target_that_keeps_failing_exits_4_and_a_rerun_resumes(tmp_path: Path) -> None:
    from tests.support.moto_server import dead_endpoint

    write_export(tmp_path / "e", sample_objects())
    port = dead_endpoint().rsplit(":", 1)[1]
    result = run_cli(
        "replay",
        str(tmp_path / "e"),
        "--no-progress",
        "--to",
        f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=1",
    )
    assert result.returncode == 4, result.stderr
    assert "re-run the same command to resume" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("failure", ["target down", "unstorable"])
@pytest.mark.parametrize("batch_size", [1, 2, 4, 5, 5000])
def test_objects_are_never_recorded_complete_when_their_batch_failed(
    tmp_path: Path, failure: str, batch_size: int
) -> None:
    """A batch whose write fails (a target that stays down, or a change no target can store
    without a dead-letter sink) records none of the objects it carried as complete, whether it
    was written while reading a later object or at the end."""
    from core.errors import RetryableError, UnstorableChangeError
    from core.model import Change
    from exports.plan import plan_exports
    from exports.store import open_store
    from projections.base import ApplyReport, Failure
    from replay.engine import (
        ReplayOptions,
        TargetUnavailableError,
        UnstorableDocumentError,
        replay,
    )

    write_export(tmp_path / "e", sample_objects())

    class Failing(MemoryProjection):
        def apply(self, changes: object) -> ApplyReport:
            batch = list(changes)  # type: ignore[call-overload]
            if any(c.key.doc_id == C for c in batch):  # first seen in the second object
                if failure == "target down":
                    raise RetryableError("connection refused")
                report = super().apply([c for c in batch if c.key.doc_id != C])
                poison: list[Change] = [c for c in batch if c.key.doc_id == C]
                report.failures = [Failure(c, UnstorableChangeError("bad")) for c in poison]
                return report
            return super().apply(batch)

    target = Failing()
    store = open_store(str(tmp_path / "e"))
    options = ReplayOptions(batch_size=batch_size, max_attempts=2, sleep=lambda _s: None)
    expected = TargetUnavailableError if failure == "target down" else UnstorableDocumentError
    with pytest.raises(expected):
        replay(store, plan_exports(store), [target], options)
    marked = target.completed_objects("8ZkGjpvZQsB2Xw1Pj0C3Fz")
    keys = sorted(str(p.relative_to(tmp_path / "e")) for p in (tmp_path / "e").rglob("*.ion"))
    # The first object has 3 changes and block 3 one more; the document C (block 4) fails. Up to
    # batch size 4 a batch without C is written after the first object was read; at 5 the
    # failing batch is written while the second object is read, and at 5000 at the end.
    assert marked == ({keys[0]} if batch_size <= 4 else set())


def test_targets_that_are_done_with_different_objects_each_get_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target that already has the first object and one that has nothing: batches switch
    target sets between objects, and both end complete and equal to in-order application."""
    objects = sample_objects()
    keys = write_export(tmp_path / "e", objects)
    only_first = tmp_path / "e1"
    write_export(only_first, objects[:1])
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert main(["replay", str(only_first), "--to", str(a), "--no-progress"]) == 0
    capsys.readouterr()
    args = ["replay", str(tmp_path / "e"), "--to", str(a), "--to", str(b), "--no-progress"]
    assert main([*args, "--batch-size", "5000"]) == 0
    assert "objects: 2 replayed, 0 already done (of 2)" in capsys.readouterr().out
    for db in (a, b):
        con = sqlite3.connect(db)
        marked = {k for (k,) in con.execute("SELECT object_key FROM qldb_cdc_checkpoints")}
        con.close()
        assert marked == set(keys)
        assert read_db(db) == as_rows(expected(objects))
