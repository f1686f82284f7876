"""One moto server per test process, reached over real HTTP on 127.0.0.1.

Use :func:`endpoint_url` (starts the server on first call, stops it at interpreter exit) or the
``moto_endpoint`` fixture (import it into the test module), and :func:`aws_client` for boto3
clients with dummy credentials passed explicitly, so no test depends on (or leaks) AWS
environment variables. Tests that exercise ``from_uri`` use the ``aws_env`` fixture, which sets
dummy credentials, region and ``AWS_ENDPOINT_URL`` with ``monkeypatch`` for that test only.

Tests isolate themselves by unique table, bucket and stream names (:func:`unique_name`); the
server is never reset while tests run.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
DUMMY_KEY = "testing"

_lock = threading.Lock()
_server: ThreadedMotoServer | None = None
_url: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def endpoint_url() -> str:
    """The ``http://127.0.0.1:<port>`` of this process's moto server, started on first use.

    When ``QLDB_CDC_MOTO_ENDPOINT`` is set (CI starts ``moto_server`` as its own process), that
    server is used instead.
    """
    global _server, _url  # noqa: PLW0603 - one lazily started server per process
    with _lock:
        external = os.environ.get("QLDB_CDC_MOTO_ENDPOINT")
        if _url is None and external:
            _url = external.rstrip("/")
        if _url is None:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            port = _free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            atexit.register(server.stop)
            _server, _url = server, f"http://127.0.0.1:{port}"
        return _url


def aws_client(
    service: str, endpoint: str | None = None, *, retries: int = 1, **config: Any
) -> Any:
    """A boto3 client for the moto server with dummy credentials and botocore retries off.

    Args:
        service: ``dynamodb``, ``s3``, ``kinesis``, ``sqs``...
        endpoint: defaults to :func:`endpoint_url`; pass a dead address to test failures.
        retries: botocore total attempts (1 = the projection's core.retry.Retry does all retrying).
        config: extra ``botocore.config.Config`` arguments.
    """
    make_client: Any = boto3.client  # the stubs only accept literal service names
    return make_client(
        service,
        endpoint_url=endpoint or endpoint_url(),
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": retries},
            **{"max_pool_connections": 32, **config},
        ),
    )


def unique_name(stem: str) -> str:
    """A fresh, valid table/bucket/stream name (lowercase, <= 63 characters)."""
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def dead_endpoint() -> str:
    """An ``http://127.0.0.1:<port>`` where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """Session-wide moto server URL."""
    return endpoint_url()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Dummy credentials, region and ``AWS_ENDPOINT_URL`` for this test only; returns the URL."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


class _Body:
    """The minimal ``raw`` object ``botocore.awsrequest.AWSResponse`` reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


_JSON_ERRORS = {
    "throttle": (400, "ProvisionedThroughputExceededException", "Rate of requests exceeded"),
    "server_error": (500, "InternalServerError", "Internal server error"),
}
_XML_ERRORS = {
    "throttle": (503, "SlowDown", "Please reduce your request rate."),
    "server_error": (500, "InternalError", "We encountered an internal error."),
}


class FaultInjector:
    """Seeded faults on one boto3 client, injected through botocore's event hooks.

    * ``throttle`` / ``server_error``: before sending, a fraction of calls gets a fake
      throttling (DynamoDB 400 ``ProvisionedThroughputExceededException``, S3 503 ``SlowDown``)
      or 500 response; the request never reaches the server.
    * ``lost_response``: after a call *succeeded* on the server, the client raises a read
      timeout, as if the response was lost (the write did happen).

    Attributes:
        injected: how many faults of each kind were injected so far.
        enabled: switch faults off to let a final retry round through.
    """

    def __init__(
        self,
        client: Any,
        *,
        rate: float = 0.3,
        seed: int = 0,
        kinds: tuple[str, ...] = ("throttle", "server_error", "lost_response"),
        operations: frozenset[str] | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rate = rate
        self._kinds = kinds
        self._operations = operations
        self.injected: Counter[str] = Counter()
        self.enabled = True
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("after-call", self._after_call)

    def _pick(self, event_name: str, allowed: set[str]) -> str | None:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.enabled or (self._operations and operation not in self._operations):
            return None
        with self._lock:
            if self._rng.random() >= self._rate:
                return None
            kind = self._rng.choice(self._kinds)
            if kind not in allowed:
                return None
            self.injected[kind] += 1
            return kind

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        kind = self._pick(event_name, {"throttle", "server_error"})
        if kind is None:
            return None
        if event_name.split(".")[1] == "s3":
            status, code, message = _XML_ERRORS[kind]
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            headers = {"Content-Type": "application/xml"}
        else:
            status, code, message = _JSON_ERRORS[kind]
            payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0"}
        raw_headers: Any = headers  # AWSResponse wraps any mapping; the stubs are narrower
        return AWSResponse(request.url, status, raw_headers, _Body(body))

    def _after_call(self, event_name: str, **_: Any) -> None:
        if self._pick(event_name, {"lost_response"}) is not None:
            raise ReadTimeoutError(endpoint_url="injected://lost-response")
