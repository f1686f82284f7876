"""Athena DDL of the S3 projection end to end: ``qldb-cdc simulate``, ``replay --to s3://...``
against the moto server, then ``qldb-cdc views --to s3://...`` prints the DDL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from amazon.ion.core import Timestamp, TimestampPrecision
from amazon.ion.symbols import SymbolToken

from changes.from_qldb import block_changes
from consumers.cli import main
from core.column_types import ColumnType, column_type
from core.ion_kinds import IonKind
from exports.plan import plan_exports
from exports.store import LocalExportStore
from projections.athena_ddl import HIVE_TYPES
from projections.s3 import from_uri
from projections.sqlite import SQLiteProjection
from schemas import ion_values
from schemas.journal import parse_block
from tests.support import export_builder as eb
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.s3_readback import list_keys

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = unique_name("athena")
    aws_client("s3").create_bucket(Bucket=name)
    return name


def decoded_kinds(export: Path) -> dict[str, dict[str, frozenset[IonKind]]]:
    """The union of ``Change.field_kinds`` of every change of the export, decoded here."""
    store = LocalExportStore(export)
    found: dict[str, dict[str, set[IonKind]]] = {}
    for obj in plan_exports(store, None).objects:
        with store.open(obj.key) as handle:
            for value in ion_values.iter_values(handle):
                for change in block_changes(parse_block(value)).changes:
                    for name, kind in change.field_kinds:
                        found.setdefault(change.key.table, {}).setdefault(name, set()).add(kind)
    return {t: {f: frozenset(k) for f, k in fs.items()} for t, fs in found.items()}


def statements(ddl: str) -> dict[str, str]:
    """Athena table name -> its CREATE statement."""
    found = {}
    for match in re.finditer(
        r"CREATE EXTERNAL TABLE IF NOT EXISTS `([a-z0-9_]+)` \(.*?';", ddl, re.S
    ):
        found[match.group(1)] = match.group(0)
    return found


def struct_fields(statement: str) -> dict[str, str]:
    line = next(x for x in statement.splitlines() if x.startswith("  `data` "))
    if line == "  `data` string":
        return {}
    inner = line[len("  `data` struct<") : -1]
    return dict(re.findall(r"`([a-z0-9_]+)`:([a-z]+)", inner))


def mappings(statement: str) -> dict[str, str]:
    return dict(re.findall(r"  'mapping\.([a-z0-9_]+)' = '((?:[^'\\]|\\.)*)'", statement))


def test_simulated_export_replayed_into_s3_prints_typed_ddl(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    args = ["simulate", str(export), "--documents", "40", "--revisions", "300"]
    assert main([*args, "--format", "ion_binary", "--seed", "5"]) == 0
    target = f"s3://{bucket}/lake"
    db = tmp_path / "ref.db"
    replay = ["replay", str(export), "--to", target, "--to", f"sqlite:///{db}", "--no-progress"]
    capsys.readouterr()
    assert main(replay) == 0
    out = capsys.readouterr().out
    assert f"views (s3): Athena tables come from DDL; qldb-cdc views --to {target} prints it" in out
    assert "CREATE EXTERNAL TABLE" not in out  # replay keeps its output short

    expected = decoded_kinds(export)
    assert expected  # the simulator writes typed documents
    projection = from_uri(target)
    assert projection.field_types() == expected
    reference = SQLiteProjection(db)
    assert reference.field_types() == expected  # the same record as SQLite's
    reference.close()
    projection.close()
    assert all(
        k.split("/")[1] == "_field_types"
        for k in list_keys(aws_client("s3"), bucket, "lake/_field_types/")
    )

    assert main(["views", "--to", target]) == 0
    out = capsys.readouterr().out
    summary, ddl = out.split("\n", 1)
    assert summary.startswith(f"views (s3): Athena DDL for {len(expected)} ledger tables")
    found = statements(ddl)
    assert len(found) == 2 * len(expected)
    for table, fields in expected.items():
        name = re.sub(r"[^a-z0-9_]", "_", table.lower())
        current, history = found[name], found[f"{name}_history"]
        assert current.endswith(f"LOCATION 's3://{bucket}/lake/{table}/current/';")
        assert history.endswith(f"LOCATION 's3://{bucket}/lake/{table}/revisions/';")
        columns = struct_fields(current)
        assert struct_fields(history) == columns
        keys = mappings(current)
        by_field = {keys.get(column, column): hive for column, hive in columns.items()}
        # numeric fields get the exact decimal(p,s) of their recorded shape (checked below)
        assert by_field == {
            f: "decimal" if column_type(k) is ColumnType.NUMERIC else HIVE_TYPES[column_type(k)]
            for f, k in fields.items()
        }

    ddl_file = tmp_path / "athena.sql"
    assert main(["views", "--to", target, "--ddl", str(ddl_file)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"views: Athena DDL written to {ddl_file}\n")
    assert "CREATE" not in out
    assert ddl_file.read_text(encoding="utf-8") == ddl.lstrip("\n")


def every_type(i: int) -> dict[str, Any]:
    return {
        "name": f"p{i}",
        "sym": SymbolToken(f"s{i}", None),
        "count": i,
        "huge": 2**70 + i,
        "at": Timestamp(2021, 2, 9, 2, 16, 6, 240000, None, TimestampPrecision.SECOND, 3),
        "day": Timestamp(2021, 2, 9, precision=TimestampPrecision.DAY),
        "photo": b"\x00\x01\xff",
        "address": {"city": "Tacoma"},
        "Name": "a field named like another in another case",
        "Version": "a field named like a metadata column",
        "it's `odd`": "quoted",
    }


def test_every_ion_type_and_hostile_names_in_the_ddl(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "src"
    blocks = [
        eb.block(1, [eb.Rev("Person", "d1", 0, every_type(1))]),
        eb.block(2, [eb.Rev("Person", "d1", 1, {**every_type(1), "ratio": 0.5, "ok": True})]),
        eb.block(3, [eb.Rev("Mixed", "m1", 0, {"v": 1})]),
        eb.block(4, [eb.Rev("Mixed", "m2", 0, {"v": "one"})]),
    ]
    eb.write_export(root, [blocks])
    target = f"s3://{bucket}/p"
    assert main(["replay", str(root), "--to", target, "--no-progress"]) == 0
    mapping = tmp_path / "m.json"
    mapping.write_text('{"tables": {"Mixed": {"view": "mixed_values"}}}', encoding="utf-8")
    capsys.readouterr()
    assert main(["views", "--to", target, "--view-mapping", str(mapping)]) == 0
    found = statements(capsys.readouterr().out)
    assert set(found) == {"person", "person_history", "mixed_values", "mixed_values_history"}
    person = found["person"]
    assert struct_fields(person) == {
        "address": "string",
        "at": "string",
        "count": "bigint",
        "day": "date",
        "huge": "decimal",
        "it_s__odd_": "string",
        "name": "string",
        "name_2": "string",
        "ok": "boolean",
        "photo": "string",
        "ratio": "double",
        "sym": "string",
        "version_2": "string",
    }
    assert mappings(person) == {
        "ledger_table": "ledgerTable",
        "document_id": "documentId",
        "tx_id": "txId",
        "tx_time": "txTime",
        "revision_hash": "revisionHash",
        "data_hash": "dataHash",
        "block_strand": "blockStrand",
        "block_seq": "blockSeq",
        "it_s__odd_": "it\\'s `odd`",
        "name_2": "Name",
        "version_2": "Version",
    }
    assert struct_fields(found["mixed_values"]) == {"v": "string"}  # int and string: json
    assert "`huge`:decimal(22,0)" in person  # 2**70 + 1 has 22 digits


def test_views_on_an_s3_target_with_a_bad_mapping_is_exit_2(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "src"
    eb.write_export(root, [[eb.block(1, [eb.Rev("Person", "d1", 0, {"a": 1})])]])
    target = f"s3://{bucket}/p"
    assert main(["replay", str(root), "--to", target, "--no-progress"]) == 0
    mapping = tmp_path / "m.json"
    mapping.write_text('{"tables": {"Person": {"view": "Bad Name"}}}', encoding="utf-8")
    capsys.readouterr()
    assert main(["views", "--to", target, "--view-mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "not an Athena name" in err and err.count("\n") == 1
    unwritable = tmp_path / "no-such-dir" / "x.sql"
    assert main(["views", "--to", target, "--ddl", str(unwritable)]) == 2
    assert "cannot write it" in capsys.readouterr().err
    db = tmp_path / "l.db"
    assert main(["replay", str(root), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["views", "--to", f"sqlite:///{db}", "--ddl", str(tmp_path / "x.sql")]) == 2
    assert "only s3:// targets do" in capsys.readouterr().err
    assert not (tmp_path / "x.sql").exists()
