"""The ``qldb-cdc`` console script: Ctrl-C and SIGTERM are handled from its first line.

Importing the command line takes a noticeable time (amazon-ion, boto3, psycopg...); a signal
arriving then would otherwise end in a traceback. :mod:`runtime.interrupts` is installed
before those imports, an interruption during them exits like any other (130 or 143), and once
the command is done further signals are ignored, so a second Ctrl-C while the interpreter shuts
down cannot replace the exit code.

``replay``, ``verify`` and ``reconcile`` run in a child process that
:mod:`consumers.ion_watchdog` watches (amazon-ion's C reader can hang or crash on corrupt Ion
binary); the child is this same entry point, which then runs the command itself.
"""

from __future__ import annotations

import sys

from consumers import ion_watchdog
from runtime import interrupts


def run() -> None:
    """Install the signal handlers, import the command line, run it and exit with its code."""
    interrupts.install()
    try:
        argv = sys.argv[1:]
        if ion_watchdog.needs_supervision(argv):
            code = ion_watchdog.supervise(argv, restore_signals=False)
        else:
            from consumers.cli import main  # after the handlers, on purpose

            code = main(argv)
    except KeyboardInterrupt:  # during the imports, or between two commands' handlers
        interrupts.record()
        sys.stderr.write(f"qldb-cdc: {interrupts.describe()}; re-run the same command\n")
        code = interrupts.exit_code()
    finally:
        interrupts.ignore()
    sys.exit(code)


if __name__ == "__main__":
    run()
