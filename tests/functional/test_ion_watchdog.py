"""The watched replay: a C-reader hang or crash becomes one line and the normal error path.

amazon-ion's C reader spins forever on some corrupt Ion binary (tests/fixtures/ion-c-hangs);
``consumers.ion_watchdog`` runs ``replay``/``verify`` in a watched child and re-runs it with the
structural check on when the reader stalls or the child crashes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from consumers import ion_watchdog
from runtime import decode_watch
from tests.support.captures import REPO_ROOT


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path), str(tmp_path / "calls")]


CHILD = """
import os, signal, sys, time
from pathlib import Path
calls = Path(sys.argv[1])
calls.write_text(calls.read_text() + os.environ["QLDB_CDC_CHECK_ION"] if calls.exists() else
                 os.environ["QLDB_CDC_CHECK_ION"])
checked = os.environ["QLDB_CDC_CHECK_ION"] == "1"
"""


def test_a_crash_reruns_the_command_with_the_check_on(tmp_path: Path) -> None:
    command = _script(
        tmp_path,
        CHILD + "sys.exit(3) if checked else os.kill(os.getpid(), signal.SIGSEGV)\n",
    )
    assert ion_watchdog.supervise([], command=command) == 3
    assert (tmp_path / "calls").read_text() == "01"


def test_a_stall_in_the_reader_is_stopped_and_rerun(tmp_path: Path) -> None:
    body = CHILD + textwrap.dedent(
        """
        if checked:
            sys.exit(0)
        from runtime import decode_watch
        decode_watch.current().begin()   # in the C reader ...
        while True:                      # ... for ever
            pass
        """
    )
    started = time.monotonic()
    code = ion_watchdog.supervise(
        [], command=_script(tmp_path, body), stall_seconds=1, poll_seconds=0.05
    )
    assert code == 0
    assert (tmp_path / "calls").read_text() == "01"
    assert time.monotonic() - started < 30


def test_a_crash_with_the_check_on_too_is_one_line_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = _script(tmp_path, CHILD + "os.kill(os.getpid(), signal.SIGSEGV)\n")
    assert ion_watchdog.supervise([], command=command) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "crashed (SIGSEGV)" in err
    assert "Traceback" not in err


def test_a_child_killed_from_outside_is_retryable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = _script(tmp_path, CHILD + "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert ion_watchdog.supervise([], command=command) == 4
    assert (tmp_path / "calls").read_text() == "0"  # not re-run: not the reader's fault
    assert "re-run the same command" in capsys.readouterr().err


def test_the_exit_code_and_the_output_pass_through(tmp_path: Path) -> None:
    command = _script(tmp_path, CHILD + "print('hello'); sys.exit(2)\n")
    assert ion_watchdog.supervise([], command=command) == 2
    assert (tmp_path / "calls").read_text() == "0"


def test_sigint_and_sigterm_reach_the_child(tmp_path: Path) -> None:
    """Also when the test runs in the background, where SIGINT starts out ignored."""
    ready = tmp_path / "ready"
    (tmp_path / "child.py").write_text(
        textwrap.dedent(
            f"""
            import signal, sys, time
            from pathlib import Path
            signal.signal(signal.SIGINT, signal.default_int_handler)  # like the real CLI
            Path({str(ready)!r}).write_text("")
            time.sleep(60)
            """
        )
    )
    runner = textwrap.dedent(
        f"""
        import sys
        from consumers import ion_watchdog
        child = [sys.executable, {str(tmp_path / "child.py")!r}]
        sys.exit(ion_watchdog.supervise([], command=child))
        """
    )
    for signum, expected in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        ready.unlink(missing_ok=True)
        process = subprocess.Popen([sys.executable, "-c", runner], cwd=REPO_ROOT)
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        process.send_signal(signum)
        assert process.wait(timeout=30) == expected


def test_only_replay_and_verify_are_supervised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(decode_watch.WATCH_DIR_ENV, raising=False)
    assert ion_watchdog.needs_supervision(["replay", "x"])
    assert ion_watchdog.needs_supervision(["verify", "x"])
    assert not ion_watchdog.needs_supervision(["simulate", "x"])
    assert not ion_watchdog.needs_supervision([])
    monkeypatch.setenv(decode_watch.WATCH_DIR_ENV, "/somewhere")
    assert not ion_watchdog.needs_supervision(["replay", "x"])


def test_an_unwatched_process_always_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(decode_watch.WATCH_DIR_ENV, raising=False)
    assert decode_watch.check_wanted()
    monkeypatch.setenv(decode_watch.WATCH_DIR_ENV, "/somewhere")
    monkeypatch.setenv(decode_watch.CHECK_ENV, "0")
    assert not decode_watch.check_wanted()
    monkeypatch.setenv(decode_watch.CHECK_ENV, "1")
    assert decode_watch.check_wanted()


# ---------------------------------------------------------------------------- end to end

HANG_OFFSET = 12869  # in object 10-19 of the export below: a string header (0x8a) ...
HANG_BYTE = 0xD7  # ... made a struct of 7 bytes that runs past its parent: the C reader spins


def _console(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys\nfrom consumers.entry_point import run\nsys.argv[0] = 'qldb-cdc'\nrun()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("verify", [False, True])
def test_an_export_that_hangs_the_c_reader_ends_in_one_line_after_writing_what_came_before(
    tmp_path: Path, verify: bool
) -> None:
    env = dict(os.environ, QLDB_CDC_ION_STALL_SECONDS="2")
    env.pop(decode_watch.WATCH_DIR_ENV, None)
    export = tmp_path / "export"
    made = _console(
        "simulate", str(export), "--documents", "20", "--revisions", "60",
        "--blocks-per-object", "10", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (target,) = export.glob("*/*.10-19.10n")
    data = bytearray(target.read_bytes())
    assert data[HANG_OFFSET] == 0x8A, "the simulator changed: find a new hanging mutation"
    data[HANG_OFFSET] = HANG_BYTE
    target.write_bytes(bytes(data))

    db = tmp_path / "out.db"
    argv = ["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]
    started = time.monotonic()
    done = _console(*argv, *(["--verify"] if verify else []), env=env)
    assert time.monotonic() - started < 120
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "10-19" in lines[0]
    assert "corrupt Ion binary" in lines[0]
    with sqlite3.connect(db) as con:
        (documents,) = con.execute("SELECT count(*) FROM documents").fetchone()
    assert documents > 0  # object 0-9 was written before the corrupt one

    checked = _console("verify", str(export), env=env)
    assert checked.returncode in (1, 3), checked.stderr
    assert "10-19" in checked.stdout + checked.stderr


def test_a_worker_that_dies_in_the_reader_reruns_with_the_check(tmp_path: Path) -> None:
    """With --workers the pool reports a dead worker (exit 4); its mark tells the reader did it."""
    body = textwrap.dedent(
        """
        import multiprocessing, os, signal, sys
        from pathlib import Path

        def worker():
            from runtime import decode_watch
            decode_watch.current().begin()
            os.kill(os.getpid(), signal.SIGSEGV)

        if __name__ == "__main__":
            calls = Path(sys.argv[1])
            mark = os.environ["QLDB_CDC_CHECK_ION"]
            calls.write_text((calls.read_text() if calls.exists() else "") + mark)
            if mark == "1":
                sys.exit(3)
            p = multiprocessing.get_context("spawn").Process(target=worker)
            p.start()
            p.join()
            sys.exit(4)  # what the pool says: a worker died
        """
    )
    assert ion_watchdog.supervise([], command=_script(tmp_path, body)) == 3
    assert (tmp_path / "calls").read_text() == "01"
