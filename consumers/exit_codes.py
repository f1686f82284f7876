"""The one exit-code rule of every qldb-cdc command (``replay``, ``verify``, ``reconcile``,
``simulate``, ``redrive``, the KCL record processor); the README's exit-code table is checked
against :data:`MEANINGS`.

The failure class decides the code, never the message (see :func:`consumers.cli.exit_code`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses."""

    OK = 0
    VERIFY_FAILED = 1
    USER_MISTAKE = 2
    BAD_DATA = 3
    RETRYABLE = 4
    PAST_RETENTION = 5
    INTERRUPTED = 130
    TERMINATED = 143


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.VERIFY_FAILED: "`verify` found problems, or `reconcile` found a projection that "
    "differs from the export (listed on stdout)",
    ExitCode.USER_MISTAKE: "a mistake in flags, paths, names or configuration, or AWS denied "
    "access or found no such bucket, object or table: change what the message says and run again",
    ExitCode.BAD_DATA: "poison, corrupt or truncated input, or a failed `--verify` (without "
    "`--dead-letter` for poison)",
    ExitCode.RETRYABLE: "a target or the source kept failing, a worker died or the disk is full: "
    "nothing was lost, re-run the same command to resume",
    ExitCode.PAST_RETENTION: "`redrive` found failed batches past the stream's retention: their "
    "messages are kept, replay the export each stderr line names",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGINT): re-run the same command to resume",
    ExitCode.TERMINATED: "terminated (SIGTERM): re-run the same command to resume",
}
"""One line per code, as the README's table shows them."""
