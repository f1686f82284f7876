"""PostgreSQL URIs that can never work are user mistakes (exit 2, one line saying what to
change); an unreachable server stays retryable (exit 4). Against a real server."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from consumers.cli import main
from consumers.exit_codes import ExitCode
from core.errors import ConfigError, RetryableError
from projections.postgres_connect_errors import connect_error
from tests.support.export_builder import write_export
from tests.support.pg_server import require_dsn
from tests.support.replay_samples import sample_objects


def replay_into(source: Path, uri: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["replay", str(source), "--to", uri, "--no-progress"])
    return code, err.getvalue()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    write_export(tmp_path / "e", sample_objects())
    return tmp_path / "e"


def test_configuration_mistakes_exit_2_with_what_to_change(export: Path) -> None:
    server = urlsplit(require_dsn())
    at = f"{server.hostname}:{server.port}"
    cases = {
        "postgresql://u@nosuchhost.invalid/db?connect_timeout=5": (
            "PostgreSQL host 'nosuchhost.invalid' does not resolve: fix the host in the URI"
        ),
        f"postgresql://nosuchrole@{at}/qldb_cdc": (
            'role "nosuchrole" does not exist: fix the user in the URI'
        ),
        f"postgresql://postgres@{at}/nosuchdb": (
            'database "nosuchdb" does not exist: create it, or fix the database in the URI'
        ),
    }
    for uri, says in cases.items():
        code, err = replay_into(export, uri)
        assert code == ExitCode.USER_MISTAKE, (uri, err)
        assert err.count("\n") == 1, err
        assert says in err, err
        assert "re-run" not in err


def test_a_server_that_is_not_there_stays_retryable(export: Path) -> None:
    from tests.support.moto_server import dead_endpoint

    port = dead_endpoint().rsplit(":", 1)[1]
    code, err = replay_into(export, f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=1")
    assert code == ExitCode.RETRYABLE, err
    assert "re-run the same command to resume" in err


FAILED = "connection failed: connection to server at h failed:"
TRANSIENT = RetryableError


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("failed to resolve host 'h': [Errno -3] Temporary failure in name resolution", TRANSIENT),
        ("failed to resolve host 'h': [Errno -2] Name or service not known", ConfigError),
        (f'{FAILED} FATAL:  password authentication failed for user "u"', ConfigError),
        (f"{FAILED} FATAL:  no pg_hba.conf entry for host", ConfigError),
        (f"{FAILED} server closed the connection unexpectedly", TRANSIENT),
        ("connection timeout expired", TRANSIENT),
        (f"{FAILED} FATAL:  the database system is starting up", TRANSIENT),
    ],
)
def test_messages_libpq_gives_are_classified(message: str, kind: type[Exception]) -> None:
    import psycopg

    error = connect_error(psycopg.OperationalError(message))
    assert type(error) is kind
