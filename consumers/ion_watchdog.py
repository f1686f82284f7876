"""Keep amazon-ion's C reader from hanging or crashing a replay on corrupt Ion binary.

amazon-ion 0.15's C extension loops forever on some malformed Ion binary (a container that ends
early: amazon-ion/ion-python#398, fixed in ion-c but in no released wheel) and has crashed the
process on others. It holds the GIL while it spins, so nothing inside the process can stop it.
``schemas.ion_binary_check`` rejects such input before the C reader sees it, but walking every
value header in Python doubles the time of a replay. So the command line runs ``replay``,
``verify`` and ``reconcile`` like this instead:

* :func:`supervise` (the parent, which imports nothing heavy) runs the command in a child
  process and watches it. The child marks each top-level value it hands to the C reader in a
  small shared file (:class:`DecodeWatch`: two writes to a memory map per block, one file per
  process, workers included).
* A value that takes longer than :data:`STALL_SECONDS` (real blocks take milliseconds), a
  child killed by a crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE), or a failed run
  that leaves a process's mark set (a worker that died inside the C reader) means the C reader
  met input it cannot handle. The parent stops the child and all its workers and runs the same
  command once more with the structural check on (:data:`CHECK_ENV`). That run resumes after
  the objects already recorded, finds the corrupt object and reports it the normal way (one
  line, exit 3, or a dead letter), after writing what was read before it.
* If the checked run also crashes or stalls, the parent says so in one line (exit 3).

SIGINT and SIGTERM reach the parent and are passed on to the child's process group, so Ctrl-C
ends the run exactly as without the parent (130 or 143, with the resume hint from the child).
Guarantees: the child's exit code is the command's exit code; the watch files live in a private
temporary folder removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from runtime.decode_watch import CHECK_ENV, SLOT, WATCH_DIR_ENV

STALL_SECONDS = 60.0
"""How long one top-level Ion value (one block) may take in the C reader before it counts as
stuck. QLDB blocks are at most a few MB and decode in milliseconds. ``QLDB_CDC_ION_STALL_SECONDS``
overrides it."""
STALL_ENV = "QLDB_CDC_ION_STALL_SECONDS"
SUPERVISED_COMMANDS = frozenset({"replay", "verify", "reconcile"})
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE}
)
EXIT_BAD_DATA = 3
EXIT_RETRYABLE = 4


def needs_supervision(argv: Sequence[str]) -> bool:
    """Whether the command line ``argv`` reads export objects and is not watched yet."""
    return bool(argv) and argv[0] in SUPERVISED_COMMANDS and not os.environ.get(WATCH_DIR_ENV)


def stall_seconds_from_env() -> float:
    """:data:`STALL_SECONDS`, or the positive seconds in ``QLDB_CDC_ION_STALL_SECONDS``."""
    text = os.environ.get(STALL_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return STALL_SECONDS
    return value if value > 0 else STALL_SECONDS


@dataclass(frozen=True)
class _Outcome:
    code: int | None  # the command's exit code, or None when the C reader failed
    reason: str = ""


class _Forwarder:
    """SIGINT/SIGTERM handlers of the parent for the whole supervision: a signal goes to the
    running child's process group, or, between attempts, stops the next one from starting."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


def supervise(
    argv: Sequence[str],
    *,
    command: Sequence[str] | None = None,
    stall_seconds: float | None = None,
    poll_seconds: float = 0.2,
    restore_signals: bool = True,
) -> int:
    """Run the command line ``argv`` in a watched child; return its exit code (see module doc).

    ``command`` replaces the child's command (tests); by default it is this interpreter running
    ``consumers.entry_point`` with ``argv``. With ``restore_signals=False`` (the console script,
    which exits next) SIGINT and SIGTERM stay ignored afterwards, so a late second Ctrl-C cannot
    add a line or change the exit code.
    """
    stall = stall_seconds if stall_seconds is not None else stall_seconds_from_env()
    if command is None:
        child = [sys.executable, "-m", "consumers.entry_point", *argv]
    else:
        child = list(command)
    forwarder = _Forwarder()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, forwarder) for signum in signals}
    try:
        return _attempts(child, forwarder, stall, poll_seconds)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if restore_signals else signal.SIG_IGN)


def _attempts(child: list[str], forwarder: _Forwarder, stall: float, poll: float) -> int:
    with tempfile.TemporaryDirectory(prefix="qldb-cdc-watch-") as folder:
        outcome = _Outcome(None)
        for attempt in (1, 2):
            if forwarder.received:
                return 128 + forwarder.received[0]
            env = dict(
                os.environ, **{WATCH_DIR_ENV: folder, CHECK_ENV: "1" if attempt == 2 else "0"}
            )
            outcome = _run_once(child, env, Path(folder), forwarder, stall, poll)
            if outcome.code is not None:
                return outcome.code
            for stale in Path(folder).iterdir():
                stale.unlink(missing_ok=True)
    sys.stderr.write(
        f"qldb-cdc: {outcome.reason}, even with the structural Ion check on: the export holds "
        "Ion data amazon-ion cannot read; re-export it or report it with the object\n"
    )
    return EXIT_BAD_DATA


def _run_once(  # noqa: PLR0917 - one attempt, all it needs
    command: list[str],
    env: dict[str, str],
    folder: Path,
    forwarder: _Forwarder,
    stall_seconds: float,
    poll: float,
) -> _Outcome:
    process = subprocess.Popen(command, env=env, process_group=0)
    forwarder.process = process
    for signum in forwarder.received:  # arrived while the child was starting
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
    try:
        while True:
            try:
                code = process.wait(timeout=poll)
            except subprocess.TimeoutExpired:
                if _stalled(folder, stall_seconds):
                    _kill_group(process)
                    return _Outcome(
                        None, f"the Ion reader made no progress for {stall_seconds:g} s"
                    )
                continue
            if code >= 0:
                died = bool(code) and not forwarder.received and _died_decoding(folder)
                _kill_group(process)  # workers left behind, if any
                if died:  # a worker crashed inside the C reader
                    return _Outcome(None, "a replay worker crashed in the Ion reader")
                return _Outcome(code)
            signum = -code
            _kill_group(process)
            if forwarder.received:
                return _Outcome(128 + forwarder.received[0])
            if signum in CRASH_SIGNALS:
                return _Outcome(None, f"the replay process crashed ({signal.Signals(signum).name})")
            sys.stderr.write(
                f"qldb-cdc: the replay process was killed ({signal.Signals(signum).name}, out of "
                "memory?); re-run the same command to resume\n"
            )
            return _Outcome(EXIT_RETRYABLE)
    finally:
        forwarder.process = None


def _stalled(folder: Path, stall_seconds: float) -> bool:
    now = time.monotonic_ns()
    limit = int(stall_seconds * 1e9)
    for path in folder.iterdir():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if len(data) == SLOT.size:
            (started,) = SLOT.unpack(data)
            if started and now - started > limit:
                return True
    return False


def _died_decoding(folder: Path) -> bool:
    """Whether a watched process has ended while a value was in the C reader (its mark is left)."""
    for path in folder.iterdir():
        try:
            (started,) = SLOT.unpack(path.read_bytes())
        except (OSError, struct.error):
            continue
        if started and not _alive(path.name):
            return True
    return False


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
