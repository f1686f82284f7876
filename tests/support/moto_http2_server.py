"""A moto server that speaks HTTP/2 (cleartext, prior knowledge) as well as HTTP/1.1.

The KCL's Kinesis client (AWS SDK for Java 2, Netty) talks HTTP/2 to a plain ``http://``
endpoint; Werkzeug's ``moto_server`` only speaks HTTP/1.1 and the client fails with "First
received frame was not SETTINGS". This serves the same WSGI app as ``moto_server``
(``DomainDispatcherApplication(create_backend_app)``) with hypercorn, which speaks both.

Run as ``python -m tests.support.moto_http2_server PORT`` (binds 127.0.0.1 only); it serves until
SIGTERM or SIGINT. :func:`start` runs it as a child process and waits until it accepts
connections. Its state (streams, tables) lives in that process only.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.captures import REPO_ROOT

START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the server as a child process logging to ``log_path``; return once it listens.

    Raises:
        RuntimeError: it exited or did not listen within ``START_TIMEOUT_S`` (the log says why).
    """
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.moto_http2_server", str(port)],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"moto HTTP/2 server exited with {proc.returncode}: see {log_path}"
            raise RuntimeError(msg)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        return proc
    proc.kill()
    proc.wait()
    msg = f"moto HTTP/2 server did not listen on {port} within {START_TIMEOUT_S}s: see {log_path}"
    raise RuntimeError(msg)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server and wait for it (kill after 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _serve(port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.wsgi_max_body_size = 64 * 1024 * 1024
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    app = DomainDispatcherApplication(create_backend_app)
    await serve(app, config, shutdown_trigger=stopping.wait, mode="wsgi")


def main(argv: list[str]) -> int:
    """Serve on ``127.0.0.1:<argv[0]>`` until SIGTERM/SIGINT."""
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write("usage: python -m tests.support.moto_http2_server PORT\n")
        return 2
    asyncio.run(_serve(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
