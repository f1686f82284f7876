"""Every DuckDB query of docs/s3-layout.md runs as written (the ``s3://bucket/prefix`` root
replaced by a local copy of a replayed moto bucket, the httpfs set-up lines left out) and
answers what the SQLite projection of the same export holds."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from consumers.cli import main
from tests.functional.test_views_duckdb import copy_bucket
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

DOCS = Path(__file__).resolve().parents[2] / "docs" / "s3-layout.md"
NEEDS_NETWORK = ("INSTALL httpfs", "CREATE SECRET")


def documented_statements(root: Path, views_sql: Path) -> list[str]:
    """The DuckDB section's statements, in order, ready to run locally."""
    section = DOCS.read_text(encoding="utf-8").split("## DuckDB", 1)[1].split("\n## ", 1)[0]
    statements: list[str] = []
    for block in re.findall(r"```sql\n(.*?)```", section, re.DOTALL):
        lines = [line for line in block.splitlines() if not line.startswith(NEEDS_NETWORK)]
        text = "\n".join(lines).replace("s3://bucket/prefix", str(root))
        text = text.replace(".read views.sql", views_sql.read_text(encoding="utf-8"))
        statements += [s.strip() for s in re.split(r";\s*\n", text + "\n") if s.strip()]
    return statements


def sqlite_rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_the_documented_duckdb_queries_answer_like_the_sqlite_projection(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = unique_name("docs")
    aws_client("s3").create_bucket(Bucket=bucket)
    export = tmp_path / "export"
    args = ["simulate", str(export), "--documents", "80", "--revisions", "900", "--seed", "11"]
    assert main([*args, "--format", "ion_binary"]) == 0
    db = tmp_path / "ref.db"
    targets = ["--to", f"s3://{bucket}/lake", "--to", f"sqlite:///{db}"]
    assert main(["replay", str(export), *targets, "--no-progress"]) == 0
    local = copy_bucket(bucket, "lake", tmp_path / "copy")
    views_sql = tmp_path / "views.sql"
    assert main(["views", "--to", f"s3://{bucket}/lake", "--duckdb", str(views_sql)]) == 0
    capsys.readouterr()
    # The views read s3://; point them at the local copy like the documented queries.
    views_sql.write_text(
        views_sql.read_text(encoding="utf-8").replace(f"s3://{bucket}/lake", str(local)),
        encoding="utf-8",
    )
    conn = duckdb.connect()
    results = []
    for statement in documented_statements(local, views_sql):
        cursor = conn.execute(statement)
        code = "\n".join(x for x in statement.splitlines() if not x.startswith("--"))
        results.append(cursor.fetchall() if code.lstrip().startswith("SELECT") else None)
    person, person_history, live_person, live_per_table, redacted = [
        r for r in results if r is not None
    ]
    assert [(d, f, str(b)) for d, f, b in person] == sqlite_rows(
        db, 'SELECT document_id, "FirstName", "DOB" FROM "Person" ORDER BY document_id'
    )
    assert len(person_history) == sqlite_rows(db, 'SELECT count(*) FROM "Person_history"')[0][0]
    assert [r[0] for r in live_person] == [
        r[0]
        for r in sqlite_rows(
            db,
            "SELECT document_id FROM documents WHERE ledger_table = 'Person'"
            " AND deleted = 0 AND redacted = 0 ORDER BY document_id",
        )
    ]
    assert live_per_table == sqlite_rows(
        db,
        "SELECT ledger_table, count(*) FROM documents WHERE deleted = 0 AND redacted = 0"
        " GROUP BY 1 ORDER BY 1",
    )
    expected_redacted = sqlite_rows(
        db,
        "SELECT ledger_table, document_id, version, data_hash FROM revisions WHERE redacted = 1"
        " ORDER BY 1, 2, 3",
    )
    assert redacted == expected_redacted and expected_redacted  # the simulator redacts some
    assert all(r[3] is not None for r in redacted)  # dataHash is read, not typed NULL
