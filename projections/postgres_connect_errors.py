"""Classify a failed PostgreSQL connection: a configuration mistake or a transient failure.

A host name that does not resolve, a refused login (unknown role, wrong password, no
``pg_hba.conf`` entry) and a missing database will fail the same way on every retry: they are
:class:`ConfigError` with one line saying what to change in the URI. Everything else (connection
refused or reset, timeouts, a temporary DNS failure, a server starting up) stays
:class:`RetryableError`.

psycopg 3 reports connection failures without a SQLSTATE (libpq has none before the session
starts), so the libpq and server messages are the only signal; they are matched here and
nowhere else. A server with non-English ``lc_messages`` gives translated messages, which are
then treated as retryable, as before.
"""

from __future__ import annotations

import re

import psycopg

from core.errors import CdcError, ConfigError, RetryableError

_UNRESOLVED = re.compile(
    r"failed to resolve host '(?P<host>[^']*)'.*"
    r"(Name or service not known|nodename nor servname|No address associated|Unknown host)"
)
_FATAL = re.compile(r"FATAL:\s+(?P<detail>.*)", re.DOTALL)
_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'database ".*" does not exist'), "create it, or fix the database in the URI"),
    (re.compile(r'role ".*" does not exist'), "fix the user in the URI"),
    (
        re.compile(r"password authentication failed|authentication failed|no password supplied"),
        "fix the user or password in the URI (or PGPASSWORD, ~/.pgpass)",
    ),
    (re.compile(r"no pg_hba\.conf entry"), "use a user/database the server's pg_hba.conf allows"),
)


def connect_error(exc: psycopg.Error) -> CdcError:
    """The error to raise for ``exc`` from ``psycopg.connect`` (see the module docstring)."""
    text = " ".join(str(exc).split())
    unresolved = _UNRESOLVED.search(text)
    if unresolved is not None:
        msg = f"PostgreSQL host {unresolved['host']!r} does not resolve: fix the host in the URI"
        return ConfigError(msg)
    fatal = _FATAL.search(text)
    if fatal is not None:
        detail = fatal["detail"].strip()
        for pattern, fix in _FIXES:
            if pattern.search(detail):
                return ConfigError(f"PostgreSQL refused the connection: {detail}: {fix}")
    return RetryableError(f"PostgreSQL failed while connecting: {text}")
