"""Typed views in SQLite end to end: replay an Ion export, query ``SELECT * FROM "Person"``."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from changes.from_qldb import block_changes
from consumers.cli import main
from exports.plan import plan_exports
from exports.store import LocalExportStore
from projections.sqlite import SQLiteProjection
from projections.view_plan import CURRENT_COLUMNS, MAX_VIEW_COLUMNS
from schemas.journal import parse_block
from schemas.view_mapping import NO_MAPPING
from tests.support import export_builder as eb
from tests.support.views_exports import LARGE_FIELDS, LARGE_TEXT, write_views_export


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_views_export(tmp_path / "src")


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def test_replay_creates_typed_views_of_every_ion_type(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    assert "views (sqlite): 3 ledger tables, 6 views" in capsys.readouterr().out
    [person] = rows(db, 'SELECT * FROM "Person"')
    assert person["document_id"] == "d1" and person["version"] == 1
    assert person["name"] == "p1" and person["sym"] == "s1"
    assert person["count"] == 10
    assert person["huge"] == str(2**70 + 1)  # exact digits, not a rounded real
    assert person["amount"] == "1.50"  # exact decimal text
    assert person["ratio"] == 0.25
    assert person["ok"] == 0
    assert person["at"] == "2021-02-09T02:16:06.240-00:00"  # unknown offset kept
    assert person["day"] == "2021-02-09"
    assert person["photo"] == "AAH/"
    assert person["address"] == '{"city":"Tacoma","zip":"98402"}'
    assert person["tags"] == '["a","b"]'
    assert person['odd "name"'] == "quoted"
    assert person["dot.$[0]"] == "path"
    assert person["é ü"] == "unicode"
    assert person["Version_2"] == "a field named like a metadata column"
    history = rows(db, 'SELECT * FROM "Person_history" ORDER BY document_id, version')
    assert [(r["document_id"], r["version"], r["deleted"]) for r in history] == [
        ("d1", 0, 0),
        ("d1", 1, 0),
        ("d2", 0, 0),
        ("d2", 1, 1),
    ]
    assert history[0]["count"] == 1 and history[3]["name"] is None
    types = {
        (r["column_name"], r["column_type"])
        for r in rows(db, "SELECT * FROM qldb_cdc_view_columns WHERE view_name = 'Person'")
    }
    assert {
        ("huge", "numeric"),
        ("amount", "numeric"),
        ("at", "timestamptz"),
        ("day", "date"),
    } <= types
    assert {("photo", "bytes"), ("sym", "text"), ("ok", "boolean"), ("ratio", "double")} <= types


def test_mixed_types_fall_back_to_json_and_reserved_names_get_a_suffix(
    export: Path, tmp_path: Path
) -> None:
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    mixed = rows(db, 'SELECT v, w FROM "Mixed" ORDER BY document_id')
    assert mixed == [{"v": "1", "w": "x"}, {"v": '"one"', "w": "y"}]
    assert rows(db, 'SELECT v FROM "documents_2"') == [{"v": 1}]
    assert rows(db, "SELECT count(*) AS n FROM documents")[0]["n"] == 5  # untouched


def test_views_refresh_is_idempotent_and_takes_a_mapping(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    assert (
        main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress", "--no-views"]) == 0
    )
    assert rows(db, "SELECT count(*) AS n FROM qldb_cdc_views")[0]["n"] == 0
    mapping = tmp_path / "m.json"
    mapping.write_text(
        '{"tables": {"Person": {"view": "people", "columns": {"name": "full_name"}},'
        ' "Mixed": {"skip": true}}}'
    )
    for _ in range(2):
        assert main(["views", "--to", f"sqlite:///{db}", "--view-mapping", str(mapping)]) == 0
    names = {r["view_name"] for r in rows(db, "SELECT view_name FROM qldb_cdc_views")}
    assert names == {"people", "Person_history", "documents_2", "documents_history"}
    assert rows(db, "SELECT full_name FROM people") == [{"full_name": "p1"}]
    assert main(["views", "--to", f"sqlite:///{db}"]) == 0  # back to the defaults
    assert rows(db, 'SELECT name FROM "Person"') == [{"name": "p1"}]
    with pytest.raises(sqlite3.OperationalError):
        rows(db, "SELECT * FROM people")  # the view qldb-cdc created is gone


def test_views_mistakes_are_exit_2_in_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    assert main(["views", "--to", f"sqlite:///{db}"]) == 2
    assert not db.exists()
    args = ["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress", "--no-views"]
    assert main(args) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"tables": {"Person": {"view": "documents"}}}')
    capsys.readouterr()
    assert main(["views", "--to", f"sqlite:///{db}", "--view-mapping", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already taken" in err
    assert main(["views", "--to", f"sqlite:///{db}", "--view-mapping", str(tmp_path / "no")]) == 2
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "Person_history" (mine TEXT)')
    assert main(["views", "--to", f"sqlite:///{db}"]) == 0  # the user's table is avoided
    assert rows(db, 'SELECT * FROM "Person_history"') == []
    assert rows(db, 'SELECT count(*) AS n FROM "Person_history_2"')[0]["n"] == 4


def test_field_types_are_the_same_for_any_order_and_duplication(
    export: Path, tmp_path: Path
) -> None:
    store = LocalExportStore(export)
    changes = []
    for obj in plan_exports(store, None).objects:
        from schemas import ion_values

        with store.open(obj.key) as handle:
            for value in ion_values.iter_values(handle):
                changes.extend(block_changes(parse_block(value)).changes)
    reference = SQLiteProjection(tmp_path / "a.db")
    reference.apply(changes)
    expected = reference.field_types()
    rng = random.Random(7)
    for round_ in range(5):
        shuffled = changes * 2
        rng.shuffle(shuffled)
        other = SQLiteProjection(tmp_path / f"b{round_}.db")
        for start in range(0, len(shuffled), 3):
            other.apply(shuffled[start : start + 3])
        assert other.field_types() == expected
        assert other.refresh_views(NO_MAPPING) == reference.refresh_views(NO_MAPPING)
        other.close()
    reference.close()


def test_a_large_document_keeps_its_big_field_and_the_first_1000_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src", large=True)
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{LARGE_FIELDS - MAX_VIEW_COLUMNS} fields beyond {MAX_VIEW_COLUMNS} columns" in err
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute('PRAGMA table_info("Large")')]
        big, last = conn.execute('SELECT f0000, f0999 FROM "Large"').fetchone()
    assert len(columns) == len(CURRENT_COLUMNS) + MAX_VIEW_COLUMNS
    assert "f1000" not in columns
    assert len(big) == LARGE_TEXT and last == 999


def test_names_stay_put_when_a_colliding_field_or_table_appears_later(tmp_path: Path) -> None:
    first = tmp_path / "one"
    eb.write_export(first, [[eb.block(1, [eb.Rev("Odd", "o1", 0, {"Name": "v1"})])]])
    db = tmp_path / "l.db"
    assert main(["replay", str(first), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    assert rows(db, 'SELECT "Name" FROM "Odd"') == [{"Name": "v1"}]
    later = tmp_path / "two"
    blocks = [
        eb.block(2, [eb.Rev("Odd", "o3", 0, {"NAME": "SHOUTED"})]),
        eb.block(3, [eb.Rev("ODD", "x1", 0, {"a": 1})]),
    ]
    eb.write_export(later, [blocks], export_id="7ZkGjpvZQsB2Xw1Pj0C3Fz")
    assert main(["replay", str(later), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    # The saved query still reads the field it read; the newcomer gets the suffix.
    found = rows(db, 'SELECT document_id, "Name", "NAME_2" FROM "Odd" ORDER BY document_id')
    assert found == [
        {"document_id": "o1", "Name": "v1", "NAME_2": None},
        {"document_id": "o3", "Name": None, "NAME_2": "SHOUTED"},
    ]
    assert rows(db, 'SELECT a FROM "ODD_2"') == [{"a": 1}]


def test_a_mapped_type_reads_null_for_values_without_it(export: Path, tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    assert main(["replay", str(export), "--to", f"sqlite:///{db}", "--no-progress"]) == 0
    mapping = tmp_path / "m.json"
    mapping.write_text(
        '{"tables": {"Person": {"columns": {"count": {"type": "text"}, "sym": {"type": "bigint"},'
        ' "ratio": {"type": "bigint"}, "at": {"type": "date"}, "amount": {"type": "double"},'
        ' "ok": {"type": "timestamptz"}, "name": {"type": "boolean"}}}}}'
    )
    assert main(["views", "--to", f"sqlite:///{db}", "--view-mapping", str(mapping)]) == 0
    [person] = rows(db, 'SELECT count, sym, ratio, at, amount, ok, name FROM "Person"')
    assert person == {
        "count": "10",
        "sym": None,
        "ratio": None,
        "at": "2021-02-09",
        "amount": 1.5,
        "ok": None,
        "name": None,
    }
