"""``projections/duckdb_views.py``: declared types, quoting, case collisions, shapes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from core.ion_kinds import IonKind as K
from projections.duckdb_views import build
from projections.recorded_kinds import NumericShape
from projections.s3_keys import table_segment
from schemas.view_mapping import NO_MAPPING


def test_types_come_from_kinds_and_shapes() -> None:
    types = {"T": {"p": frozenset({K.DECIMAL}), "n": frozenset({K.INT, K.DECIMAL})}}
    shapes = {"T": {"p": NumericShape(5, 2), "n": NumericShape(2, 30)}}
    views = build(["T"], types, shapes, NO_MAPPING, "s3://b/x")
    text = views.text()
    assert '"p" DECIMAL(7, 2)' in text  # exact
    assert "read_json('s3://b/x/T/current/*.json'" in text
    assert "read_json('s3://b/x/T/revisions/*/*.json'" in text
    # int widens the shape to 19 + 30 digits: beyond 38, DOUBLE with a warning
    assert any("'n'" in w and "no exact DuckDB decimal" in w for w in views.warnings)
    assert '"n" JSON' in text


def test_hostile_names_are_quoted_and_run_in_duckdb(tmp_path: Path) -> None:
    table = 'it\'s "odd"; DROP VIEW x; --'
    fields = {
        "a'b": frozenset({K.STRING}),
        'c"d': frozenset({K.INT}),
        "Name": frozenset({K.STRING}),
        "name": frozenset({K.STRING}),
    }
    root = tmp_path / "it's"
    body = json.dumps(
        {"documentId": "d", "version": 0, "deleted": False, "data": {"a'b": "x", 'c"d': 7}}
    )
    for folder in ("current", "revisions/d"):
        path = root / table_segment(table) / folder / "0.json"
        path.parent.mkdir(parents=True)
        path.write_text(body, encoding="utf-8")
    views = build([table], {table: fields}, {}, NO_MAPPING, str(root))
    assert any("DuckDB struct keys ignore case" in w and "'name'" in w for w in views.warnings)
    conn = duckdb.connect()
    for statement in views.statements:
        conn.execute(statement)
    listed = conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert sorted(str(r[0]) for r in listed) == sorted([table, table + "_history"])
    quoted = '"' + table.replace('"', '""') + '"'
    assert conn.execute(f'SELECT "a\'b", "c""d" FROM {quoted}').fetchall() == [("x", 7)]
