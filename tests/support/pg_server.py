"""A real PostgreSQL server for tests and benchmarks: the CI one, or a throwaway local cluster.

:func:`dsn` returns ``$QLDB_CDC_PG_DSN`` when it is set (CI sets it, see ``.ci/start-postgres.sh``).
Otherwise it starts one throwaway cluster per process on ``127.0.0.1`` and a free port (initdb as
the ``postgres`` user when running as root, ``fsync=off``), creates the database ``qldb_cdc`` and
stops the cluster and deletes its directory at interpreter exit (SIGTERM included). The cluster
is started at most once per process, however often :func:`dsn` is called.

:func:`require_dsn` is the test-side wrapper: when no server can be had it fails the test if the
``CI`` environment variable is set, and skips it (with the reason) otherwise.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg
from psycopg import sql

ENV_DSN = "QLDB_CDC_PG_DSN"
DATABASE = "qldb_cdc"

_started: dict[str, str] = {}
_counter = itertools.count(1)


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries are installed and no DSN was given."""


def _bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        msg = (
            f"no PostgreSQL server found: set {ENV_DSN} or install the Debian package "
            "'postgresql' (.ci/start-postgres.sh does both)"
        )
        raise PostgresUnavailableError(msg)
    return candidates[0].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def start_cluster(data_dir: Path, port: int) -> str:
    """Initialise and start a cluster in ``data_dir`` listening on 127.0.0.1:``port``; return DSN.

    The database ``qldb_cdc`` exists when this returns. Durability is off (tests only).
    """
    bin_dir = _bin_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(data_dir / "server.log"),
                "-w",
                "-o",
                options,
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


def stop_cluster(data_dir: Path) -> None:
    """Stop the cluster in ``data_dir`` (fast shutdown) and delete the directory."""
    subprocess.run(
        _as_postgres([str(_bin_dir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(data_dir, ignore_errors=True)


def dsn() -> str:
    """The DSN of a running server: ``$QLDB_CDC_PG_DSN`` or a throwaway cluster of this process."""
    given = os.environ.get(ENV_DSN)
    if given:
        return given
    if "dsn" not in _started:
        data_dir = Path(tempfile.mkdtemp(prefix="qldb-cdc-pg-"))
        os.chmod(data_dir, 0o755)  # noqa: PTH101 - the postgres user must reach it
        _exit_on_sigterm()
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
        atexit.register(stop_cluster, data_dir / "data")
        _started["dsn"] = start_cluster(data_dir / "data", _free_port())
    return _started["dsn"]


def _exit_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, CI cancellation) into SystemExit so atexit stops the cluster."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _exit(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _exit)


def require_dsn() -> str:
    """:func:`dsn` for tests: fail when ``CI`` is set and no server is available, else skip."""
    import pytest

    try:
        return dsn()
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def fresh_schema(base_dsn: str, prefix: str = "t") -> str:
    """Create a new empty schema with a unique name and return it (tests isolate by schema)."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name
