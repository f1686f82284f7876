"""Ctrl-C (SIGINT) and SIGTERM always stop a replay as an interruption: exit 130 or 143, the
resume hint in one line, no traceback, and a re-run ends in the exact state.

amazon-ion's C extension turns a KeyboardInterrupt raised inside it into an IonException, which
used to be reported as corrupt data (exit 3), and could swallow it (the run finished).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumers.cli import main
from core.errors import DecodeError
from runtime import interrupts
from schemas.journal_export import ExportFormat
from simulation.config import SimulationConfig
from simulation.export_writer import write_export

CONFIG = SimulationConfig(documents=200, revisions=6000, seed=11)
HINT = "re-run the same command to resume"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    write_export(out, CONFIG, ExportFormat.ION_BINARY, blocks_per_object=300)
    return out


@pytest.fixture(scope="module")
def reference(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    started = time.monotonic()
    assert main(["replay", str(export_dir), "--to", str(db), "--no-progress"]) == 0
    REPLAY_SECONDS.append(time.monotonic() - started)
    return dump(db)


REPLAY_SECONDS: list[float] = []
"""How long the reference replay took here: signals are sent within that time, so that they
land during the replay however fast this machine is."""


def dump(db: Path) -> object:
    con = sqlite3.connect(db)
    try:
        return (
            con.execute("SELECT * FROM documents ORDER BY ledger_table, document_id").fetchall(),
            con.execute(
                "SELECT * FROM revisions ORDER BY ledger_table, document_id, version"
            ).fetchall(),
        )
    finally:
        con.close()


def start_replay(source: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    """The ``qldb-cdc`` console script's entry point in a child process."""
    code = "from consumers.entry_point import run; run()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "replay", str(source), "--to", str(db), "--no-progress"]
        + list(extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_start(proc: subprocess.Popen[str], db: Path) -> None:
    """Until the replay has opened its target (generous bound: does not hang)."""
    deadline = time.monotonic() + 120
    while not db.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_at_random_moments_interrupt_and_a_rerun_is_exact(
    export_dir: Path, reference: object, tmp_path: Path, signum: signal.Signals
) -> None:
    rng = random.Random(signum)
    interrupted = 0
    window = 0.6 * REPLAY_SECONDS[0]
    for attempt in range(20):  # until 4 replays were interrupted; a load spike can end some
        if interrupted >= 4:
            break
        db = tmp_path / f"run{attempt}.db"
        proc = start_replay(export_dir, db)
        wait_for_start(proc, db)
        time.sleep(rng.uniform(0.0, window))
        # GIVEN a replay decoding Ion WHEN the signal arrives (twice, as an impatient user
        # presses Ctrl-C) THEN it stops as interrupted
        proc.send_signal(signum)
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        if proc.returncode == 0:
            window /= 2  # the replay finished before the signal: allowed; aim earlier
            continue
        interrupted += 1
        assert proc.returncode == 128 + signum, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert HINT in lines[0]
        assert ("interrupted" if signum == signal.SIGINT else "SIGTERM") in lines[0]
        # WHEN the same command runs again THEN it completes with the exact state
        assert main(["replay", str(export_dir), "--to", str(db), "--no-progress"]) == 0
        assert dump(db) == reference
    assert interrupted >= 4, "the replays should mostly have been interrupted"


def test_a_decode_error_after_a_signal_is_reported_as_the_interruption(
    export_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the C extension does: the Ctrl-C surfaces as an Ion decoding error."""
    from exports import object_blocks

    def interrupted_decoding(*_args: object, **_kwargs: object) -> object:
        interrupts.record(signal.SIGINT)
        msg = "corrupt or truncated Ion data: IERR_INTERNAL_ERROR"
        raise DecodeError(msg)

    monkeypatch.setattr(object_blocks, "iter_blocks", interrupted_decoding)
    code = main(["replay", str(export_dir), "--to", str(tmp_path / "x.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130, err
    assert "IERR" not in err
    assert HINT in err


def test_a_swallowed_interrupt_still_stops_at_the_next_block(
    export_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The C extension can swallow the KeyboardInterrupt: the recorded signal still stops it."""
    from exports import object_blocks
    from schemas.journal_export import iter_blocks as real  # what object_blocks calls

    seen: list[int] = []

    def swallowing(*args: object, **kwargs: object) -> object:
        for block in real(*args, **kwargs):  # type: ignore[arg-type]
            seen.append(1)
            if len(seen) == 3:
                interrupts.record(signal.SIGTERM)
            yield block

    monkeypatch.setattr(object_blocks, "iter_blocks", swallowing)
    code = main(["replay", str(export_dir), "--to", str(tmp_path / "x.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 143, err
    assert len(seen) == 3
    assert "terminated (SIGTERM)" in err and HINT in err


def test_a_signal_to_a_process_started_deferred_waits_for_its_handlers() -> None:
    # GIVEN a process started inside interrupts.deferred() (how parallel replay starts workers)
    # that receives SIGINT before it installs its handlers (as while a worker still imports)
    code = (
        "import os, signal, sys, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.05)\n"
        "from runtime import interrupts\n"
        "interrupts.install(raise_interrupt=False)\n"
        "print(interrupts.received())\n"
    )
    with interrupts.deferred():
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out, err = proc.communicate(timeout=60)
    # THEN the signal waited and was recorded by the handlers: no KeyboardInterrupt traceback
    assert (proc.returncode, out.strip(), err) == (0, str(int(signal.SIGINT)), "")
