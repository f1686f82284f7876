"""Progress for long replays: a live bar on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _human_rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


class Progress:
    """Tracks bytes of data objects consumed and revisions read.

    On a TTY it redraws one line at most 5 times a second; elsewhere (CI, log files) it writes a
    plain line every ``log_every_s`` seconds so long jobs still show they are alive.
    """

    def __init__(
        self,
        total_bytes: int,
        total_objects: int,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        log_every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start the clock; ``total_bytes`` may be 0 when sizes are unknown."""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.enabled = enabled
        self.total_bytes = total_bytes
        self.total_objects = total_objects
        self.bytes_done = 0
        self.objects_done = 0
        self.revisions = 0
        self._clock = clock
        self.started = clock()
        self._last_draw = 0.0 if self.tty else self.started
        self._interval = 0.2 if self.tty else log_every_s

    def advance(self, *, revisions: int = 0, nbytes: int = 0, objects: int = 0) -> None:
        """Count work done and redraw when due."""
        self.revisions += revisions
        self.bytes_done += nbytes
        self.objects_done += objects
        now = self._clock()
        if self.enabled and now - self._last_draw >= self._interval:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.revisions / elapsed
        fraction = self.bytes_done / self.total_bytes if self.total_bytes else 0.0
        eta = ""
        if 0 < fraction < 1:
            eta = f" eta {int(elapsed * (1 - fraction) / fraction)}s"
        width = 28
        filled = int(width * min(fraction, 1.0))
        text = (
            f"[{'#' * filled}{'.' * (width - filled)}] {fraction:6.1%} "
            f"objects {self.objects_done}/{self.total_objects} "
            f"revisions {self.revisions} ({_human_rate(rate)}/s){eta}"
        )
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write("progress: " + text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the live line so the summary starts on a fresh line."""
        if self.enabled and self.tty:
            self._draw(self._clock())
            self.stream.write("\n")
            self.stream.flush()
