"""Ctrl-C (SIGINT) and SIGTERM in the command line: always an interruption, never corrupt data.

amazon-ion's C extension turns a KeyboardInterrupt raised while it decodes into an IonException
(``IERR_INTERNAL_ERROR``), which reads as corrupt data, and it can swallow one altogether. So:

* :func:`install` sets handlers that record the first signal and raise KeyboardInterrupt once
  (later signals are only recorded, so cleanup is never cut short by a second Ctrl-C).
* Code that classifies a failure asks :func:`received` first: when a signal was recorded the
  failure is the interruption, whatever exception it surfaced as.
* Long loops call :func:`check` at each step, so an interruption the C extension swallowed
  still stops the run at the next block.
* Worker processes install the handlers with ``raise_interrupt=False``: they only record, and
  their loops stop at the next :func:`check` (nothing is raised inside C code at all).
* Worker processes are started inside :func:`deferred`, so they inherit SIGINT and SIGTERM
  blocked: a Ctrl-C while a worker still imports waits until its :func:`install` (a traceback
  from the import otherwise).

Exit codes follow the shell convention: 128 + the signal number (130 for SIGINT, 143 for
SIGTERM).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    """What the handlers saw; one per process."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.raise_interrupt = True


_STATE = _State()


def install(*, raise_interrupt: bool = True) -> None:
    """Handle SIGINT and SIGTERM as described in the module docstring (main thread only)."""
    _STATE.signal = None
    _STATE.raise_interrupt = raise_interrupt
    for signum in SIGNALS:
        signal.signal(signum, _handle)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # started inside deferred()


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _STATE.signal is not None:
        return  # already stopping: let the cleanup finish
    _STATE.signal = signum
    if _STATE.raise_interrupt:
        raise KeyboardInterrupt


def received() -> int | None:
    """The first signal recorded since :func:`install`, or None."""
    return _STATE.signal


def check() -> None:
    """Raise KeyboardInterrupt when a signal was recorded (call it at each step of a loop)."""
    if _STATE.signal is not None:
        raise KeyboardInterrupt


def record(signum: int = signal.SIGINT) -> None:
    """Record ``signum`` as if it had arrived (for a KeyboardInterrupt raised without one)."""
    if _STATE.signal is None:
        _STATE.signal = signum


def reset() -> None:
    """Forget a recorded signal (tests and in-process callers running several commands)."""
    _STATE.signal = None


def exit_code() -> int:
    """128 + the recorded signal (130, as for SIGINT, when none was recorded)."""
    return 128 + (_STATE.signal or signal.SIGINT)


def describe() -> str:
    """``interrupted`` for SIGINT (or none recorded), ``terminated (SIGTERM)`` otherwise."""
    signum = _STATE.signal
    if signum is None or signum == signal.SIGINT:
        return "interrupted"
    return f"terminated ({signal.Signals(signum).name})"


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early (raising KeyboardInterrupt) once a signal is recorded."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        check()
        time.sleep(min(left, 0.1))
    check()


@contextmanager
def deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the duration of the block.

    A process started inside the block inherits them blocked (across fork and exec): a signal
    that reaches it before its :func:`install` stays pending and is recorded by it, instead of
    raising KeyboardInterrupt in whatever it is importing. Signals to this process are delivered
    when the block ends.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def handling(*, raise_interrupt: bool = True) -> Iterator[None]:
    """:func:`install` for the duration of the block, then restore the previous handlers and
    forget the signal.

    Outside the main thread (where Python cannot set handlers) only recording by hand works.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    install(raise_interrupt=raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reset()  # a later command in this process starts uninterrupted


def ignore() -> None:
    """Ignore SIGINT and SIGTERM from now on (the process is exiting; main thread only)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
