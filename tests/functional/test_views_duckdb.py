"""DuckDB views over the S3 projection, run in DuckDB itself on a local copy of the bucket:
every Ion type reads back with its type, decimals exactly (``sum`` included), live documents
only in the current view, every revision in the history view, names that need quoting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from consumers.cli import main
from tests.support import export_builder as eb
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.s3_readback import list_keys
from tests.support.views_exports import write_views_export

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

PRICES = [Decimal("235934168.76"), Decimal("0.10"), Decimal("12345678901234567890.125")]


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = unique_name("duck")
    aws_client("s3").create_bucket(Bucket=name)
    return name


def copy_bucket(bucket: str, prefix: str, root: Path) -> Path:
    """Download every object under ``prefix`` to ``root``, keys as paths."""
    client = aws_client("s3")
    for key in list_keys(client, bucket, prefix + "/"):
        path = root / key[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    return root


def views_in_duckdb(
    tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> duckdb.DuckDBPyConnection:
    local = copy_bucket(bucket, "lake", tmp_path / "copy")
    sql_file = tmp_path / "views.sql"
    args = ["views", "--to", f"s3://{bucket}/lake", "--duckdb", str(sql_file)]
    assert main([*args, "--duckdb-root", str(local), *extra]) == 0
    assert f"DuckDB views written to {sql_file}" in capsys.readouterr().out
    conn = duckdb.connect()
    conn.execute(sql_file.read_text(encoding="utf-8"))
    return conn


def rows(conn: duckdb.DuckDBPyConnection, query: str) -> list[dict[str, Any]]:
    cursor = conn.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_every_ion_type_reads_back_typed_and_exact(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src")
    extra = [eb.Rev("Price", f"p{i}", 0, {"Price": price}) for i, price in enumerate(PRICES)]
    eb.write_export(tmp_path / "src2", [[eb.block(1, extra)]], export_id="9ZkGjpvZQsB2Xw1Pj0C3Fz")
    for source in (export, tmp_path / "src2"):
        assert main(["replay", str(source), "--to", f"s3://{bucket}/lake", "--no-progress"]) == 0
    conn = views_in_duckdb(tmp_path, bucket, capsys)
    [person] = rows(conn, 'SELECT * FROM "Person"')
    assert person["document_id"] == "d1" and person["version"] == 1
    assert person["tx_time"].tzinfo is not None
    assert (person["name"], person["sym"], person["count"]) == ("p1", "s1", 10)
    assert person["huge"] == Decimal(2**70 + 1)
    assert str(person["amount"]) == "1.50" and person["ratio"] == 0.25 and person["ok"] is False
    assert person["at"] == dt.datetime(2021, 2, 9, 2, 16, 6, 240000, tzinfo=dt.UTC)
    assert person["day"] == dt.date(2021, 2, 9) and person["photo"] == b"\x00\x01\xff"
    assert person['odd "name"'] == "quoted" and person["dot.$[0]"] == "path"
    assert person["é ü"] == "unicode"
    assert person["Version_2"] == "a field named like a metadata column"
    history = rows(conn, 'SELECT document_id, version, deleted, name FROM "Person_history"')
    assert sorted((r["document_id"], r["version"], r["deleted"]) for r in history) == [
        ("d1", 0, False),
        ("d1", 1, False),
        ("d2", 0, False),
        ("d2", 1, True),
    ]
    [total] = conn.execute('SELECT sum("Price") FROM "Price"').fetchone() or [None]
    assert total == sum(PRICES)  # exact: DECIMAL, not DOUBLE
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'Price'"
        ).fetchall()
    )
    assert types["Price"] == "DECIMAL(23,3)"
    mixed = rows(conn, 'SELECT v, w FROM "Mixed" ORDER BY document_id')
    assert [r["w"] for r in mixed] == ["x", "y"] and [str(r["v"]) for r in mixed] == ["1", '"one"']


def test_a_mapping_chooses_names_and_types_and_bad_values_read_as_null(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src")
    assert main(["replay", str(export), "--to", f"s3://{bucket}/lake", "--no-progress"]) == 0
    mapping = tmp_path / "m.json"
    mapping.write_text(
        '{"tables": {"Person": {"view": "people", "columns": {"name": "full_name",'
        ' "sym": {"type": "bigint"}, "count": {"type": "text"}, "at": {"type": "date"}}},'
        ' "Mixed": {"skip": true}}}'
    )
    conn = views_in_duckdb(tmp_path, bucket, capsys, "--view-mapping", str(mapping))
    [people] = rows(conn, 'SELECT full_name, sym, "count", "at" FROM people')
    assert people == {"full_name": "p1", "sym": None, "count": "10", "at": dt.date(2021, 2, 9)}
    listed = conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    names = {str(r[0]) for r in listed}
    assert names == {"people", "Person_history", "documents", "documents_history"}


def test_duckdb_options_mistakes_are_exit_2(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src")
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["views", "--to", f"sqlite:///{db}", "--duckdb", str(tmp_path / "v.sql")]) == 2
    assert "only s3:// targets do" in capsys.readouterr().err
    assert main(["views", "--to", f"sqlite:///{db}", "--duckdb-root", str(tmp_path)]) == 2
    assert "needs --duckdb FILE" in capsys.readouterr().err
    args = ["views", "--to", "s3://b/p", "--duckdb", "v.sql", "--duckdb-root", "c [1]"]
    assert main(args) == 2
    assert "reads it as a glob" in capsys.readouterr().err
