"""SQLite targets in every spelling, and folders that cannot be written: exit 2, one line that
says what to change (read-only cases run as an unprivileged user)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from consumers.cli import main
from consumers.exit_codes import ExitCode
from core.errors import ConfigError
from projections import sqlite_target
from tests.support import unprivileged
from tests.support.export_builder import write_export
from tests.support.replay_samples import as_rows, expected, read_db, sample_objects


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("typed", "path"),
    [
        ("out/x.db", "out/x.db"),
        ("/abs/x.sqlite", "/abs/x.sqlite"),
        ("sqlite:x.db", "x.db"),
        ("sqlite:/abs/x.db", "/abs/x.db"),
        ("sqlite:///demo.db", "demo.db"),
        ("sqlite:///out/demo.db", "out/demo.db"),
        ("sqlite:////abs/demo.db", "/abs/demo.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///with%20space.db", "with space.db"),
    ],
)
def test_spellings_of_a_sqlite_target(typed: str, path: str) -> None:
    target = sqlite_target.parse(typed)
    assert target.path == path
    assert sqlite_target.parse(target.uri).path == path  # workers rebuild it from the URI


@pytest.mark.parametrize("typed", ["sqlite://x.db", "sqlite:", "sqlite:///", "mysql://x"])
def test_unparseable_sqlite_targets_are_refused(typed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        sqlite_target.parse(typed)
    if typed == "sqlite://x.db":
        assert "sqlite:///x.db" in str(raised.value)


@pytest.mark.parametrize("spelling", ["sqlite:{}", "sqlite:///{}", "{}"])
def test_absolute_spellings_replay(tmp_path: Path, spelling: str) -> None:
    write_export(tmp_path / "e", sample_objects())
    db = tmp_path / "out.db"
    code, _, err = run_main(
        "replay", str(tmp_path / "e"), "--to", spelling.format(db), "--no-progress"
    )
    assert (code, err) == (0, "")
    assert read_db(db) == as_rows(expected(sample_objects()))


def test_a_missing_folder_is_named_as_typed(tmp_path: Path) -> None:
    write_export(tmp_path / "e", sample_objects())
    db = tmp_path / "nope" / "x.db"
    for typed in (f"sqlite:{db}", f"sqlite:///{db}", str(db)):
        code, _, err = run_main("replay", str(tmp_path / "e"), "--to", typed, "--no-progress")
        assert code == ExitCode.USER_MISTAKE
        assert err == (
            f"qldb-cdc: error: SQLite database {db}: folder {db.parent} does not exist "
            "(create it first)\n"
        ), typed
        assert "//" not in err


def test_read_only_folders_are_user_mistakes() -> None:
    with unprivileged.scratch() as root:
        write_export(root / "e", sample_objects())
        locked = root / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        replay = unprivileged.run_cli(
            "replay", "e", "--to", "sqlite:///locked/x.db", "--no-progress", cwd=root
        )
        assert replay.returncode == ExitCode.USER_MISTAKE, replay.stderr
        assert replay.stderr == (
            "qldb-cdc: error: SQLite database locked/x.db: folder locked is not writable "
            "(SQLite writes its journal beside the file)\n"
        )
        simulate = unprivileged.run_cli(
            "simulate", "locked/out", "--documents", "2", "--revisions", "4", cwd=root
        )
        assert simulate.returncode == ExitCode.USER_MISTAKE, simulate.stderr
        assert simulate.stderr.count("\n") == 1
        assert "cannot write OUT locked/out: Permission denied" in simulate.stderr
        assert "Traceback" not in simulate.stderr + replay.stderr


def test_a_dead_letter_file_that_cannot_be_written_is_refused_up_front(tmp_path: Path) -> None:
    write_export(tmp_path / "e", sample_objects())  # no poison at all: checked before reading
    db = tmp_path / "o.db"
    cases = {
        tmp_path / "nope" / "dead.jsonl": f"folder {tmp_path / 'nope'} does not exist",
        tmp_path: "is a folder",
    }
    for letters, says in cases.items():
        code, out, err = run_main(
            "replay", str(tmp_path / "e"), "--to", str(db), "--dead-letter", str(letters)
        )
        assert (code, out) == (ExitCode.USER_MISTAKE, "")
        assert err.count("\n") == 1
        assert says in err
        assert "re-run" not in err
        assert not db.exists()
    letters = tmp_path / "dead.jsonl"
    code, _, err = run_main(
        "replay", str(tmp_path / "e"), "--to", str(db), "--dead-letter", str(letters)
    )
    assert (code, err) == (0, "")
    assert letters.read_text() == ""  # created up front, empty: nothing was poison


def test_a_dead_letter_file_in_a_read_only_folder_is_refused_up_front() -> None:
    with unprivileged.scratch() as root:
        write_export(root / "e", sample_objects())
        (root / "locked").mkdir()
        (root / "locked").chmod(0o555)
        (root / "out").mkdir()
        (root / "out").chmod(0o777)
        result = unprivileged.run_cli(
            "replay", "e", "--to", "out/x.db", "--dead-letter", "locked/dead.jsonl", cwd=root
        )
        assert result.returncode == ExitCode.USER_MISTAKE, result.stderr
        assert result.stderr == (
            "qldb-cdc: error: dead-letter file locked/dead.jsonl cannot be written: "
            "Permission denied\n"
        )
        assert not (root / "out" / "x.db").exists()
