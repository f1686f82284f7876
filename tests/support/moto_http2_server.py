"""A moto server that speaks HTTP/2 (cleartext, prior knowledge) as well as HTTP/1.1.

The KCL's Kinesis client (AWS SDK for Java 2, Netty) talks HTTP/2 to a plain ``http://``
endpoint; Werkzeug's ``moto_server`` only speaks HTTP/1.1 and the client fails with "First
received frame was not SETTINGS". This serves the same WSGI app as ``moto_server``
(``DomainDispatcherApplication(create_backend_app)``) with hypercorn, which speaks both.

Run as ``python -m tests.support.moto_http2_server PORT`` (binds 127.0.0.1 only); it serves until
SIGTERM or SIGINT. :func:`start` runs it as a child process and waits until it accepts
connections. Its state (streams, tables) lives in that process only.

**Checkpoint faults.** :func:`fail_checkpoints` arms the server to answer the next ``count``
DynamoDB ``UpdateItem`` calls that write a KCL checkpoint (they set
``checkpointSubSequenceNumber``; lease renewals and assignments do not) on one lease table with
an error, ``ResourceNotFoundException`` by default: a real DynamoDB error response, which the
Java SDK does not retry and the KCL turns into the checkpoint error its processors see.
:func:`checkpoint_faults` reads how many are still armed and how many were answered.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.captures import REPO_ROOT

START_TIMEOUT_S = 30.0
FAULTS_PATH = "/_qldb_cdc_test/checkpoint-faults"
UPDATE_ITEM_TARGET = "DynamoDB_20120810.UpdateItem"
CHECKPOINT_MARKER = b"checkpointSubSequenceNumber"


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


def fail_checkpoints(
    endpoint: str, table: str, count: int, error: str = "ResourceNotFoundException"
) -> None:
    """Answer the next ``count`` checkpoint writes to lease table ``table`` with ``error``."""
    body = json.dumps({"table": table, "count": count, "error": error}).encode()
    request = urllib.request.Request(endpoint + FAULTS_PATH, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def checkpoint_faults(endpoint: str) -> dict[str, int]:
    """``{"armed": n, "answered": m}``: faults still to inject, and injected so far."""
    with urllib.request.urlopen(endpoint + FAULTS_PATH, timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CheckpointFaults:
    """WSGI middleware in front of moto: the checkpoint faults (module docstring)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._table = ""
        self._error = ""
        self._armed = 0
        self._answered = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == FAULTS_PATH:
            return self._control(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET") == UPDATE_ITEM_TARGET and self._armed:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            if CHECKPOINT_MARKER in body and self._take(body):
                payload = {
                    "__type": f"com.amazonaws.dynamodb.v20120810#{self._error}",
                    "message": "injected by tests.support.moto_http2_server",
                }
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
                return [json.dumps(payload).encode()]
        return self._app(environ, start_response)

    def _take(self, body: bytes) -> bool:
        table = json.loads(body).get("TableName")
        with self._lock:
            if self._armed and table == self._table:
                self._armed -= 1
                self._answered += 1
                return True
            return False

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length))
            with self._lock:
                self._table = str(request["table"])
                self._error = str(request["error"])
                self._armed = int(request["count"])
        with self._lock:
            counts = {"armed": self._armed, "answered": self._answered}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(counts).encode()]


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
    app = CheckpointFaults(DomainDispatcherApplication(create_backend_app))
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
