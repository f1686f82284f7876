"""The real KCL MultiLangDaemon (Java) driving ``python -m consumers.kcl_processor``, for tests.

The jars come from the pinned test dependency ``kclpy-ext`` (the ``dev`` extra), whose
``amazon_kclpy_helper.py --print_command`` builds the daemon's command line exactly as
deploy/kcl/README.md tells operators to; production installs the official ``amazon-kclpy``,
which fetches the same jars at install time. :func:`missing_requirement` says what is missing
(Java, the jars, hypercorn) and :func:`changed_jars` which jar differs from its SHA-256 recorded
in tests/kcl_daemon/README.md; :func:`require` turns a missing one into a failure under ``CI``
and a skip elsewhere, and a changed jar into a failure.

The daemon's properties are deploy/kcl/qldb-cdc.properties with only the keys of
:data:`OVERRIDDEN` replaced and :data:`ADDED` appended (:func:`daemon_properties`), so the tests
check the shipped file, not a copy. The daemon reaches a moto server that speaks HTTP/2
(:mod:`tests.support.moto_http2_server`); the Java SDK's CBOR encoding of Kinesis calls, which
moto cannot parse, is switched off with ``JAVA_TOOL_OPTIONS=-Daws.cborEnabled=false`` in the
daemon's environment, so the command stays the one the helper prints.

Everything the daemon and its processors log goes to one file (:attr:`Daemon.log_path`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.captures import REPO_ROOT

DEPLOY_PROPERTIES = REPO_ROOT / "deploy" / "kcl" / "qldb-cdc.properties"
FIXTURE_README = REPO_ROOT / "tests" / "kcl_daemon" / "README.md"
KCLPY_EXT_VERSION = "3.1.3.post4"
"""The exact ``kclpy-ext`` pinned in pyproject.toml's ``dev`` extra."""
CHECKED_JARS = ("amazon-kinesis-client-multilang-3.1.3.jar", "amazon-kinesis-client-3.1.3.jar")
REGION = "us-east-1"
DUMMY_KEY = "testing"

OVERRIDDEN = frozenset(
    {"executableName", "streamName", "applicationName", "regionName", "failoverTimeMillis"}
)
"""Keys of the shipped properties file the tests replace (endpoints, names, a venv path)."""

FAST_LEASES = {
    "leaseAssignmentIntervalMillis": "2000",
    "workerMetricsReporterFreqInMillis": "1000",
    "shardSyncIntervalMillis": "1000",
}
"""Start-up settings for tests: about 35 s to the first batch instead of about 95 s (most of
the default is KCL waiting on an empty lease table and one shard-sync interval, 60 s)."""

ADDED = frozenset({"kinesisEndpoint", "dynamoDBEndpoint", "metricsLevel", *FAST_LEASES})
"""Keys the tests add: the local endpoints, no CloudWatch metrics, and :data:`FAST_LEASES`."""

T = TypeVar("T")


# --------------------------------------------------------------------------- requirements


def kcl_jar_dir() -> Path | None:
    """The ``amazon_kclpy/jars`` folder of the installed ``kclpy-ext``, or None."""
    spec = importlib.util.find_spec("amazon_kclpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "jars"


def recorded_jar_sha256() -> dict[str, str]:
    """The jar digests recorded in tests/kcl_daemon/README.md (``| jar | sha256 |`` rows)."""
    rows = re.findall(
        r"^\|\s*`([\w.-]+\.jar)`\s*\|\s*`([0-9a-f]{64})`\s*\|", FIXTURE_README.read_text(), re.M
    )
    return dict(rows)


def helper_script() -> Path:
    """``amazon_kclpy_helper.py``, installed next to this interpreter by ``kclpy-ext``."""
    return Path(sys.executable).parent / "amazon_kclpy_helper.py"


def missing_requirement() -> str | None:
    """What keeps the real daemon from running here (one sentence), or None."""
    if shutil.which("java") is None:
        return "no java on PATH (install openjdk-17-jre-headless)"
    try:
        import hypercorn  # noqa: F401 - only its presence is checked here
    except ImportError:
        return "hypercorn is not installed (pip install -e '.[dev]')"
    jars = kcl_jar_dir()
    if jars is None or not helper_script().exists():
        return f"kclpy-ext=={KCLPY_EXT_VERSION} is not installed (pip install -e '.[dev]')"
    for name in CHECKED_JARS:
        if not (jars / name).exists():
            return f"{jars / name} is missing: is kclpy-ext=={KCLPY_EXT_VERSION} installed?"
    return None


def changed_jars(jars: Path) -> list[str]:
    """One line per checked jar whose SHA-256 is not the one recorded in the fixture README."""
    recorded = recorded_jar_sha256()
    out = []
    for name in CHECKED_JARS:
        actual = hashlib.sha256((jars / name).read_bytes()).hexdigest()
        if recorded.get(name) != actual:
            out.append(f"{name}: sha256 {actual}, recorded {recorded.get(name)}")
    return out


def require() -> None:
    """Fail under ``CI`` when the daemon cannot run, else skip with the reason; always fail
    when a jar's digest changed (a changed dependency, not a missing one)."""
    reason = missing_requirement()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    jars = kcl_jar_dir()
    assert jars is not None
    changed = changed_jars(jars)
    if changed:
        pytest.fail(
            f"the daemon jars changed (review them, then record the digests in {FIXTURE_README}): "
            + "; ".join(changed)
        )


# --------------------------------------------------------------------------- properties


def parse_properties(text: str) -> dict[str, str]:
    """``key = value`` lines of a Java properties file (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        key, _, value = stripped.partition("=")
        out[key.strip()] = value.strip()
    return out


def daemon_properties(overrides: Mapping[str, str]) -> str:
    """deploy/kcl/qldb-cdc.properties with ``overrides`` applied, as properties text.

    Raises:
        ValueError: an override is neither in :data:`OVERRIDDEN` (a key the shipped file must
            have) nor in :data:`ADDED` (a key it must not have), so drift is noticed.
    """
    shipped = parse_properties(DEPLOY_PROPERTIES.read_text())
    for key in overrides:
        if key in OVERRIDDEN and key not in shipped:
            msg = f"{DEPLOY_PROPERTIES} has no {key}; update tests/support/kcl_daemon.py"
            raise ValueError(msg)
        if key in ADDED and key in shipped:
            msg = f"{DEPLOY_PROPERTIES} now sets {key}; move it to OVERRIDDEN"
            raise ValueError(msg)
        if key not in OVERRIDDEN | ADDED:
            msg = f"unexpected property override {key}"
            raise ValueError(msg)
    merged = {**shipped, **overrides}
    return "".join(f"{key} = {value}\n" for key, value in merged.items())


# --------------------------------------------------------------------------- the daemon


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """One KCL application: its stream, lease table and the processor's outputs."""

    endpoint: str
    stream: str
    application: str
    workdir: Path

    @property
    def database(self) -> Path:
        """The SQLite projection every processor of this application writes."""
        return self.workdir / "projection.sqlite"

    @property
    def dead_letter_file(self) -> Path:
        """The JSON-lines dead-letter file of the processors."""
        return self.workdir / "dead-letters.jsonl"

    def properties(self) -> str:
        """The daemon's properties (see :func:`daemon_properties`)."""
        executable = shlex.join(
            [
                sys.executable,
                "-m",
                "consumers.kcl_processor",
                "--dead-letter-file",
                str(self.dead_letter_file),
                "--retry-base-seconds",
                "0.1",
            ]
        )
        return daemon_properties(
            {
                "executableName": executable,
                "streamName": self.stream,
                "applicationName": self.application,
                "regionName": REGION,
                "failoverTimeMillis": "6000",
                "kinesisEndpoint": self.endpoint,
                "dynamoDBEndpoint": self.endpoint,
                "metricsLevel": "NONE",
                **FAST_LEASES,
            }
        )


class Daemon:
    """One MultiLangDaemon process, its stdout and stderr appended to :attr:`log_path`."""

    def __init__(self, config: DaemonConfig, name: str) -> None:
        self.config = config
        self.log_path = config.workdir / f"{name}.log"
        properties = config.workdir / f"{name}.properties"
        properties.write_text(config.properties())
        command = subprocess.run(
            [
                sys.executable,
                str(helper_script()),
                "--print_command",
                "--java",
                shutil.which("java") or "java",
                "--properties",
                str(properties),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDC_"))}
        env |= {
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_REGION": REGION,
            # moto cannot parse the SDK's CBOR Kinesis requests (the SDK ignores the
            # AWS_CBOR_ENABLED variable here; the JVM picks this up, and says so in the log)
            "JAVA_TOOL_OPTIONS": "-Daws.cborEnabled=false",
            "CDC_TARGETS": f"sqlite:///{config.database}",
            "CDC_LOG_LEVEL": "INFO",
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=config.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        """Everything the daemon (and the processors it relays) logged so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (the daemon's graceful shutdown); its exit status (killed after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL the JVM (a crash: no shutdown hook runs)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = 150.0) -> T:
        """Poll ``probe`` every 0.5 s until it returns something truthy; return it.

        Raises:
            AssertionError: the daemon exited, or ``timeout`` passed (the message says which).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if self.proc.poll() is not None:
                msg = f"daemon exited with {self.proc.returncode} while waiting for {what}"
                raise AssertionError(msg)
            if time.monotonic() > deadline:
                msg = f"no {what} after {timeout:.0f}s"
                raise AssertionError(msg)
            time.sleep(0.5)


# --------------------------------------------------------------------------- lease table


@dataclass(frozen=True, slots=True)
class Lease:
    """One item of the KCL lease table (the attributes these tests read)."""

    shard_id: str
    checkpoint: str
    sub_sequence_number: int
    owner: str | None
    counter: int


def leases(dynamodb: Any, table: str) -> dict[str, Lease]:
    """Every lease of the application's lease table, by shard id ({} before it exists)."""
    try:
        items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return {}
    out = {}
    for item in items:
        shard = item["leaseKey"]["S"]
        out[shard] = Lease(
            shard_id=shard,
            checkpoint=item["checkpoint"]["S"],
            sub_sequence_number=int(item.get("checkpointSubSequenceNumber", {"N": "0"})["N"]),
            owner=item.get("leaseOwner", {}).get("S"),
            counter=int(item["leaseCounter"]["N"]),
        )
    return out
