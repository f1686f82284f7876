"""Fixtures of the real-daemon tests: one HTTP/2 moto server per session, daemon logs on failure."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.support import moto_http2_server
from tests.support.kcl_daemon import require

LOG_TAIL_LINES = 400


@pytest.fixture(scope="session")
def moto_http2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto server speaking HTTP/2 and HTTP/1.1."""
    require()
    folder = tmp_path_factory.mktemp("moto-http2")
    port = moto_http2_server.free_port()
    proc = moto_http2_server.start(port, folder / "moto.log")
    yield f"http://127.0.0.1:{port}"
    moto_http2_server.stop(proc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Append the tail of every daemon log of a failed test's fixtures to its report."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            for daemon in getattr(value, "daemons", ()):
                lines = daemon.log().splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"daemon log {daemon.log_path}", "\n".join(lines)))
    return report
