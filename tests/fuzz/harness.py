"""What every fuzz example checks, whatever the input: a documented exit code, at most one line
on stderr and never a traceback, a bounded running time, and no file opened outside the folders
the run was given.

* Time: ``faulthandler.dump_traceback_later(..., exit=True)`` ends the whole test process with
  the stacks of every thread when an example runs longer than :data:`EXAMPLE_SECONDS`, so a hang
  (even inside C code, which no signal handler can interrupt) fails loudly instead of stalling CI.
* Files: a ``sys.addaudithook`` hook records every ``open`` of a path while an example runs;
  paths under the allowed roots (the example's source and output folders, the interpreter and
  the repository for lazy imports, ``/dev`` and ``/proc``) pass, anything else is a violation.

``QLDB_CDC_FUZZ_EXAMPLES`` sets the number of examples per test (default 150 in CI; run e.g.
``QLDB_CDC_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/fuzz`` for a long session).
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("QLDB_CDC_FUZZ_EXAMPLES", "150"))
EXAMPLE_SECONDS = 60
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3}
"""0 ok, 1 verify found problems, 2 a mistake in the input's layout, 3 corrupt data (4 = a
target kept failing and 130 = interrupted cannot happen with a local SQLite target)."""

_ALWAYS_ALLOWED = tuple(
    Path(p).resolve()
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, str(REPO_ROOT), "/dev", "/proc"}
)


@dataclass
class _Watch:
    allowed: tuple[Path, ...] = ()
    active: bool = False
    violations: list[str] = field(default_factory=list)


_WATCH = _Watch()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCH.active or event != "open" or not args:
        return
    target = args[0]
    if not isinstance(target, str | bytes | os.PathLike):
        return  # a file descriptor
    path = Path(os.fsdecode(target))
    resolved = path.resolve() if path.is_absolute() else (Path.cwd() / path).resolve()
    if not any(resolved.is_relative_to(root) for root in _WATCH.allowed + _ALWAYS_ALLOWED):
        _WATCH.violations.append(str(resolved))


sys.addaudithook(_audit)


@dataclass(frozen=True)
class Outcome:
    """What one command did."""

    code: int
    out: str
    err: str


@contextlib.contextmanager
def watched(allowed: Sequence[Path]) -> Iterator[None]:
    """Run the body with the time bound and the file-open check; fail on a violation."""
    _WATCH.allowed = tuple(Path(p).resolve() for p in allowed)
    _WATCH.violations = []
    _WATCH.active = True
    faulthandler.dump_traceback_later(EXAMPLE_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        _WATCH.active = False
    assert not _WATCH.violations, f"opened outside the allowed folders: {_WATCH.violations}"


def run_cli(argv: Sequence[str], allowed: Sequence[Path]) -> Outcome:
    """``qldb-cdc argv`` in this process, checked as the module docstring says."""
    out, err = io.StringIO(), io.StringIO()
    with watched(allowed), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    outcome = Outcome(code, out.getvalue(), err.getvalue())
    assert code in DOCUMENTED_EXIT_CODES, outcome
    assert "Traceback" not in outcome.err, outcome
    errors = [line for line in outcome.err.splitlines() if not line.startswith("qldb-cdc: warn")]
    assert len(errors) <= 1, outcome
    if code != 0:
        assert len(errors) == 1 or code == 1, outcome
    return outcome
