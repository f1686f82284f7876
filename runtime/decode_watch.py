"""The decode watch: how a supervised child tells its parent that amazon-ion's C reader is busy.

:mod:`consumers.ion_watchdog` runs ``replay`` and ``verify`` in a child process and watches it.
The child marks each top-level Ion value it hands to the C reader in a small shared file (one
per process, workers included): two writes to a memory map per block. A process nobody watches
(a test, a Lambda, a library user) has no watch and keeps the structural Ion binary check.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

WATCH_DIR_ENV = "QLDB_CDC_ION_WATCH"
"""Set by the supervisor in the child: the folder of the per-process watch files."""
CHECK_ENV = "QLDB_CDC_CHECK_ION"
"""``1`` turns the structural Ion binary check on in a supervised child (the second attempt)."""
SLOT = struct.Struct("<q")
"""One watch file: the monotonic nanoseconds when the value now in the C reader started, or 0."""


class DecodeWatch:
    """This process's watch file: when the value now in the C reader started, or 0."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / str(os.getpid())
        with self._path.open("wb") as file:
            file.write(bytes(SLOT.size))
        with self._path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), SLOT.size)

    def begin(self) -> None:
        SLOT.pack_into(self._map, 0, time.monotonic_ns())

    def end(self) -> None:
        SLOT.pack_into(self._map, 0, 0)


@dataclass
class _Current:
    pid: int = 0
    watch: DecodeWatch | None = None


_CURRENT = _Current()


def current() -> DecodeWatch | None:
    """The watch of this process when it runs under the supervisor, else None."""
    directory = os.environ.get(WATCH_DIR_ENV)
    if not directory:
        return None
    if _CURRENT.pid != os.getpid():  # first call here, or a new worker process
        _CURRENT.pid = os.getpid()
        try:
            _CURRENT.watch = DecodeWatch(Path(directory))
        except OSError:
            _CURRENT.watch = None  # the parent's folder is gone: nothing left to watch for
    return _CURRENT.watch


def check_wanted() -> bool:
    """Whether this process must check Ion binary structurally before decoding it.

    True everywhere except in a child the supervisor watches on its first attempt: a process
    nobody watches (a test, a Lambda, a library user) keeps the check.
    """
    return not os.environ.get(WATCH_DIR_ENV) or os.environ.get(CHECK_ENV) == "1"
