"""Target URIs parse into frozen, picklable specs without I/O or driver imports.

``projections.targets.parse_target`` must find every mistake in a URI (ConfigError, exit 2)
before any client exists, import no boto3, botocore, psycopg or opensearch-py, and give a spec
that survives pickling (worker processes receive specs).
"""

from __future__ import annotations

import ast
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.model import ExportOrigin
from projections.dynamodb_target import DynamoDbTarget, OverflowLocation
from projections.opensearch_target import OpenSearchTarget
from projections.postgres_target import PostgresTarget
from projections.s3_target import S3Target
from projections.sqlite_target import SqliteTarget
from projections.targets import TargetSpec, parse_target
from replay.engine import ReplayOptions
from replay.parallel import WorkerConfig
from tests.support.import_roots import imported_roots

ROOT = Path(__file__).resolve().parents[3]

SPECS: list[tuple[str, TargetSpec]] = [
    ("out/x.db", SqliteTarget("sqlite:///out/x.db", "out/x.db")),
    ("sqlite:///:memory:", SqliteTarget("sqlite:///:memory:", ":memory:")),
    (
        "postgresql://u:pw@h:5432/db?schema=s&sslmode=require",
        PostgresTarget("postgresql://u:pw@h:5432/db?sslmode=require", "s"),
    ),
    ("postgres://h/db", PostgresTarget("postgres://h/db", None)),
    (
        "postgres://h/db?view_schema=Views&schema=s",
        PostgresTarget("postgres://h/db", "s", "Views"),
    ),
    ("dynamodb://Docs", DynamoDbTarget("dynamodb://Docs", "Docs")),
    (
        "dynamodb://Docs?overflow=s3://big/p&create=true",
        DynamoDbTarget(
            "dynamodb://Docs?overflow=s3://big/p&create=true",
            "Docs",
            OverflowLocation("big", "p"),
            create=True,
        ),
    ),
    ("s3://bucket/a/b/", S3Target("s3://bucket/a/b/", "bucket", "a/b")),
]


@pytest.mark.parametrize(("uri", "expected"), SPECS, ids=[uri for uri, _ in SPECS])
def test_every_scheme_parses_into_its_spec(uri: str, expected: TargetSpec) -> None:
    spec = parse_target(uri)
    assert spec == expected
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_an_opensearch_uri_parses_with_its_options() -> None:
    spec = parse_target("opensearch+http://admin:s3cret@h:9201/cdc?data=flat&bulk_bytes=100")
    assert isinstance(spec, OpenSearchTarget)
    assert (spec.scheme, spec.host, spec.port, spec.prefix) == ("http", "h", 9201, "cdc")
    assert (spec.username, spec.password, spec.data_mapping, spec.bulk_bytes) == (
        "admin",
        "s3cret",
        "flat",
        100,
    )
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://u:topsecret@h/db",
        "opensearch+https://admin:topsecret@h/cdc",
    ],
)
def test_passwords_stay_out_of_the_repr(uri: str) -> None:
    assert "topsecret" not in repr(parse_target(uri))


@pytest.mark.parametrize(
    "spec",
    [spec for _, spec in SPECS] + [parse_target("opensearch+https://h/cdc")],
    ids=lambda spec: type(spec).__name__,
)
def test_specs_are_frozen(spec: TargetSpec) -> None:
    field = dataclasses.fields(spec)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, field, "other")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://x", "unknown target"),
        ("sqlite://x.db", "write sqlite:///x.db"),
        ("postgresql://h/db?schema=", r"give \?schema=name at most once"),
        ("dynamodb://", "DynamoDB target must look like"),
        ("dynamodb://T?colour=red", "unknown DynamoDB target option"),
        ("dynamodb://T?overflow=http://x", "overflow location must look like"),
        ("dynamodb://" + "t" * 250, "too long"),
        ("s3://bucket/a//b", "S3 target"),
        ("s3://bucket/p?x=1", "S3 target must look like"),
        ("opensearch+https:///cdc", "has no host"),
        ("opensearch+https://h/cdc?auth=kerberos", "auth must be sigv4 or basic"),
        ("opensearch+https://h/cdc?bulk_bytes=0", "bulk_bytes must be a positive integer"),
    ],
)
def test_uri_mistakes_are_config_errors_at_parse_time(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_target(uri)


def test_parsing_imports_no_driver() -> None:
    uris = [uri for uri, _ in SPECS] + ["opensearch+https://h/cdc?auth=sigv4&region=eu-west-1"]
    script = (
        "import sys\n"
        "from projections.targets import parse_target\n"
        f"for uri in {uris!r}:\n"
        "    parse_target(uri)\n"
        "drivers = ('boto3', 'botocore', 'psycopg', 'opensearchpy', 'sqlite3')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in drivers))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout


SPEC_MODULES = ("postgres_target", "dynamodb_target", "s3_target", "opensearch_target")
# Not in tests/unit/test_purity.py's pure list: its text check refuses ``open(``, and every spec
# has an ``open()`` method (which imports its driver lazily, inside the function).
DRIVERS = {"boto3", "botocore", "psycopg", "opensearchpy", "os", "sqlite3", "socket", "time"}


@pytest.mark.parametrize("name", SPEC_MODULES)
def test_spec_modules_import_no_driver_at_module_level(name: str) -> None:
    tree = ast.parse((ROOT / "projections" / f"{name}.py").read_text())
    assert not imported_roots(tree) & DRIVERS


def test_a_worker_config_is_derived_from_the_replay_options(tmp_path: Path) -> None:
    from dead_letters.sinks import JsonLinesDeadLetterSink, ListDeadLetterSink
    from replay.engine import ChangeDeadLetters
    from replay.verify import ChainBlockVerifier

    specs = [parse_target("a.db"), parse_target("dynamodb://Docs")]
    dead = tmp_path / "dead.jsonl"
    options = ReplayOptions(
        batch_size=7,
        verifier=ChainBlockVerifier(),
        dead_letters=ChangeDeadLetters(JsonLinesDeadLetterSink(dead)),
    )
    config = WorkerConfig.from_options("export", specs, options)
    assert config == WorkerConfig("export", tuple(specs), 7, None, True, dead)
    assert pickle.loads(pickle.dumps(config)) == config
    assert WorkerConfig.from_options("export", specs, ReplayOptions()).dead_letter is None
    with pytest.raises(ConfigError, match="JSON Lines file only"):
        WorkerConfig.from_options(
            "export", specs, ReplayOptions(dead_letters=ChangeDeadLetters(ListDeadLetterSink()))
        )


def test_an_export_origin_pickles_and_keeps_its_raw_values_out_of_the_repr() -> None:
    origin = ExportOrigin("e1", "obj.ion", {"big": "x" * 100}, b"line")
    assert pickle.loads(pickle.dumps(origin)) == origin
    assert repr(origin) == "ExportOrigin(export_id='e1', key='obj.ion')"


def test_the_cli_refuses_a_bad_target_before_opening_any(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from consumers.cli import main
    from consumers.exit_codes import ExitCode

    first = tmp_path / "first.db"
    code = main(["replay", str(tmp_path), "--to", str(first), "--to", "dynamodb://T?colour=red"])
    assert code == ExitCode.USER_MISTAKE
    assert "unknown DynamoDB target option" in capsys.readouterr().err
    assert not first.exists()  # parsed all, opened none


@pytest.mark.parametrize(
    "uri",
    [
        "postgres://h/db?view_schema=",
        "postgres://h/db?view_schema=a&view_schema=b",
        "postgres://h/db?schema=" + "s" * 64,
        "postgres://h/db?view_schema=%00x",
    ],
)
def test_a_postgres_schema_must_be_one_usable_name(uri: str) -> None:
    with pytest.raises(ConfigError, match="schema"):
        parse_target(uri)
