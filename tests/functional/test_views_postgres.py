"""Typed views in PostgreSQL end to end, on a real server: replay an Ion export, then query
``SELECT * FROM ledger."Person"`` and check every column's PostgreSQL type and value."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from amazon.ion.core import Timestamp, TimestampPrecision
from psycopg import sql
from psycopg.rows import dict_row

from changes.from_qldb import block_changes
from consumers.cli import main
from core.model import Change
from exports.plan import plan_exports
from exports.store import LocalExportStore
from projections.postgres import PostgresProjection
from projections.postgres_views import NARROW_FIELDS, view_schema_for
from projections.view_plan import CURRENT_COLUMNS, MAX_VIEW_COLUMNS
from schemas import ion_values
from schemas.journal import parse_block
from schemas.view_mapping import NO_MAPPING
from tests.support import export_builder as eb
from tests.support import pg_server
from tests.support.views_exports import LARGE_FIELDS, LARGE_TEXT, write_views_export


@dataclass(frozen=True)
class Pg:
    dsn: str
    schema: str
    views: str

    @property
    def uri(self) -> str:
        joiner = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{joiner}schema={self.schema}&view_schema={self.views}"

    def rows(self, query: str, *params: object) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.views)))
            return list(conn.execute(query, params or None).fetchall())

    def execute(self, query: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.views)))
            conn.execute(query)


@pytest.fixture(scope="module")
def dsn() -> str:
    return pg_server.require_dsn()


@pytest.fixture
def pg(dsn: str) -> Iterator[Pg]:
    schema = pg_server.fresh_schema(dsn, "views")
    views = schema + "_v"
    yield Pg(dsn, schema, views)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (views, schema):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_views_export(tmp_path / "src")


def replay(export: Path, pg: Pg, *extra: str) -> int:
    return main(["replay", str(export), "--to", pg.uri, "--no-progress", *extra])


def test_replay_creates_typed_views_of_every_ion_type(
    export: Path, pg: Pg, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(export, pg) == 0
    assert "views (postgresql): 3 ledger tables, 6 views" in capsys.readouterr().out
    [person] = pg.rows('SELECT * FROM "Person"')
    assert person["document_id"] == "d1" and person["version"] == 1
    assert person["tx_time"].tzinfo is not None
    assert (person["name"], person["sym"], person["count"]) == ("p1", "s1", 10)
    assert person["huge"] == Decimal(2**70 + 1)
    assert str(person["amount"]) == "1.50"  # exact, scale kept
    assert person["ratio"] == 0.25 and person["ok"] is False
    assert person["at"] == dt.datetime(2021, 2, 9, 2, 16, 6, 240000, tzinfo=dt.UTC)
    assert person["day"] == dt.date(2021, 2, 9)
    assert person["photo"] == b"\x00\x01\xff"
    assert person["address"] == {"city": "Tacoma", "zip": "98402"}
    assert person["tags"] == ["a", "b"]
    assert person['odd "name"'] == "quoted" and person["dot.$[0]"] == "path"
    assert person["é ü"] == "unicode"
    assert person["Version"] == "a field named like a metadata column"  # case-sensitive names
    types = {
        r["column_name"]: r["data_type"]
        for r in pg.rows(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'Person'",
            pg.views,
        )
    }
    assert types["count"] == "bigint" and types["huge"] == "numeric"
    assert types["amount"] == "numeric" and types["ratio"] == "double precision"
    assert types["ok"] == "boolean" and types["at"] == "timestamp with time zone"
    assert types["day"] == "date" and types["photo"] == "bytea"
    assert types["address"] == "jsonb" and types["sym"] == "text"
    history = pg.rows('SELECT * FROM "Person_history" ORDER BY document_id, version')
    assert [(r["document_id"], r["version"], r["deleted"]) for r in history] == [
        ("d1", 0, False),
        ("d1", 1, False),
        ("d2", 0, False),
        ("d2", 1, True),
    ]
    assert history[0]["count"] == 1 and history[3]["name"] is None
    recorded = pg.rows(
        f'SELECT column_name, column_type FROM "{pg.schema}".qldb_cdc_view_columns'
        " WHERE view_name = 'Person'"
    )
    assert {"column_name": "photo", "column_type": "bytes"} in recorded


def test_mixed_types_are_jsonb_and_a_shared_schema_avoids_the_projection_tables(
    export: Path, dsn: str, pg: Pg
) -> None:
    shared = Pg(dsn, pg.schema, pg.schema)  # views beside documents, revisions, ...
    assert replay(export, shared) == 0
    mixed = shared.rows('SELECT v, w FROM "Mixed" ORDER BY document_id')
    assert mixed == [{"v": 1, "w": "x"}, {"v": "one", "w": "y"}]
    assert shared.rows('SELECT v FROM "documents_2"') == [{"v": 1}]
    assert shared.rows("SELECT count(*) AS n FROM documents")[0]["n"] == 5  # untouched


def test_views_refresh_is_idempotent_takes_a_mapping_and_avoids_user_objects(
    export: Path, pg: Pg, tmp_path: Path
) -> None:
    assert replay(export, pg, "--no-views") == 0
    mapping = tmp_path / "m.json"
    mapping.write_text(
        '{"tables": {"Person": {"view": "people", "columns": {"name": "full_name",'
        ' "count": {"type": "text"}, "sym": {"type": "bytes"}, "ratio": {"type": "bigint"},'
        ' "ok": {"type": "timestamptz"}, "at": {"type": "date"}, "amount": {"type": "double"}}},'
        ' "Mixed": {"skip": true}}}'
    )
    for _ in range(2):
        assert main(["views", "--to", pg.uri, "--view-mapping", str(mapping)]) == 0
    [people] = pg.rows("SELECT full_name, count, sym, ratio, ok, at, amount FROM people")
    # A mapped type the values do not have reads as NULL, never a failing query.
    assert people == {
        "full_name": "p1",
        "count": "10",
        "sym": None,
        "ratio": None,
        "ok": None,
        "at": dt.date(2021, 2, 9),
        "amount": 1.5,
    }
    pg.execute('CREATE TABLE "Person" (mine text)')
    assert main(["views", "--to", pg.uri]) == 0  # back to the defaults; the user's table kept
    assert pg.rows('SELECT * FROM "Person"') == []
    assert pg.rows('SELECT name FROM "Person_2"') == [{"name": "p1"}]
    with pytest.raises(psycopg.errors.UndefinedTable):
        pg.rows("SELECT * FROM people")  # the view qldb-cdc created is gone


def test_views_mistakes_are_exit_2_in_one_line(
    export: Path, pg: Pg, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(export, pg) == 0
    pg.execute('CREATE VIEW mine AS SELECT name FROM "Person"')
    capsys.readouterr()
    assert main(["views", "--to", pg.uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "depend on the view" in err and "mine" in err
    pg.execute("DROP VIEW mine")
    pg.execute("CREATE TABLE taken (x int)")
    bad = tmp_path / "bad.json"
    bad.write_text('{"tables": {"Person": {"view": "taken"}}}')
    assert main(["views", "--to", pg.uri, "--view-mapping", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'taken' is already taken" in err
    long_name = "v" * 64
    bad.write_text(f'{{"tables": {{"Person": {{"view": "{long_name}"}}}}}}')
    assert main(["views", "--to", pg.uri, "--view-mapping", str(bad)]) == 2
    assert "at most 63 bytes" in capsys.readouterr().err
    assert pg.rows('SELECT count(*) AS n FROM "Person"')[0]["n"] == 1  # views still there


def test_long_and_hostile_names_stay_apart(pg: Pg, tmp_path: Path) -> None:
    long_a, long_b = "é" * 40 + "a", "é" * 40 + "b"  # 81 bytes each, the same first 63
    table = "Odd'\"; DROP TABLE documents; -- 50%s"
    data = {long_a: 1, long_b: 2, "it's": "q", 'say "hi"': "d", "100%s {0} %(x)s": True}
    blocks = [eb.block(1, [eb.Rev(table, "t1", 0, data)])]
    eb.write_export(tmp_path / "src", [blocks])
    assert replay(tmp_path / "src", pg) == 0
    names = pg.rows("SELECT view_name FROM " + f'"{pg.schema}".qldb_cdc_views ORDER BY 1')
    assert [r["view_name"] for r in names] == [table, table + "_history"]
    [row] = pg.rows(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)).as_string())
    values = sorted(v for k, v in row.items() if k.startswith("é"))
    assert values == [1, 2]
    assert all(len(k.encode()) <= 63 for k in row)
    assert row["it's"] == "q" and row['say "hi"'] == "d" and row["100%s {0} %(x)s"] is True
    assert pg.rows(f'SELECT count(*) AS n FROM "{pg.schema}".documents')[0]["n"] == 1


def test_narrow_tables_read_each_field_and_wide_ones_one_record_with_equal_values(
    pg: Pg, tmp_path: Path
) -> None:
    """At most NARROW_FIELDS columns: ``data -> 'field'`` per column (a query computes only the
    columns it uses); wider: one ``jsonb_to_record`` per row. Both read the same values."""
    shared = {"n": 7, "amount": Decimal("1.50"), "name": "x", "ok": True, "tags": ["a"]}
    pad = {f"p{i:02d}": i for i in range(NARROW_FIELDS - len(shared))}
    narrow = {**shared, **pad}
    wide = {**narrow, "extra": "one more"}
    blocks = [eb.block(1, [eb.Rev("Narrow", "n1", 0, narrow), eb.Rev("Wide", "w1", 0, wide)])]
    eb.write_export(tmp_path / "src", [blocks])
    assert replay(tmp_path / "src", pg) == 0
    definitions = {
        r["name"]: r["definition"]
        for r in pg.rows(
            "SELECT viewname AS name, definition FROM pg_views WHERE schemaname = %s", pg.views
        )
    }
    assert "jsonb_to_record" not in definitions["Narrow"]
    assert "jsonb_to_record" in definitions["Wide"]
    [n_row] = pg.rows('SELECT * FROM "Narrow"')
    [w_row] = pg.rows('SELECT * FROM "Wide"')
    for field, value in narrow.items():
        assert n_row[field] == w_row[field] == value, field
    assert str(n_row["amount"]) == "1.50" and w_row["extra"] == "one more"


def test_a_large_document_keeps_its_big_field_and_the_first_1000_columns(
    pg: Pg, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_views_export(tmp_path / "src", large=True)
    assert replay(export, pg) == 0
    assert f"{LARGE_FIELDS - MAX_VIEW_COLUMNS} fields beyond" in capsys.readouterr().err
    [row] = pg.rows('SELECT * FROM "Large"')
    assert len(row) == len(CURRENT_COLUMNS) + MAX_VIEW_COLUMNS
    assert len(row["f0000"]) == LARGE_TEXT and row["f0999"] == 999 and "f1000" not in row


def test_field_types_are_the_same_for_any_order_and_duplication(
    export: Path, dsn: str, pg: Pg
) -> None:
    store = LocalExportStore(export)
    changes: list[Change] = []
    for obj in plan_exports(store, None).objects:
        with store.open(obj.key) as handle:
            for value in ion_values.iter_values(handle):
                changes.extend(block_changes(parse_block(value)).changes)
    reference = PostgresProjection(dsn, schema=pg.schema, view_schema=pg.views)
    reference.apply(changes)
    expected = reference.field_types()
    expected_plan = reference.refresh_views(NO_MAPPING)
    reference.close()
    rng = random.Random(7)
    for round_ in range(3):
        schema = f"{pg.schema}_{round_}"
        other = PostgresProjection(dsn, schema=schema, view_schema=schema + "_v")
        try:
            shuffled = changes * 2
            rng.shuffle(shuffled)
            for start in range(0, len(shuffled), 3):
                other.apply(shuffled[start : start + 3])
            assert other.field_types() == expected
            assert other.refresh_views(NO_MAPPING) == expected_plan
        finally:
            other.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                for name in (schema + "_v", schema):
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                    )


def test_the_default_view_schema_is_ledger_unless_the_tables_are_there() -> None:
    assert view_schema_for(None, None) == "ledger"
    assert view_schema_for("public", None) == "ledger"
    assert view_schema_for("ledger", None) == "ledger_views"
    assert view_schema_for("ledger", "mine") == "mine"


def test_fractions_beyond_microseconds_are_cut_like_everywhere_else(pg: Pg, tmp_path: Path) -> None:
    nanos = Timestamp(
        2021, 2, 9, 2, 16, 3, None, None, TimestampPrecision.SECOND, None, Decimal("0.123456789")
    )
    eb.write_export(tmp_path / "src", [[eb.block(1, [eb.Rev("Clock", "c", 0, {"at": nanos})])]])
    assert replay(tmp_path / "src", pg) == 0
    [row] = pg.rows('SELECT at FROM "Clock"')
    assert row["at"] == dt.datetime(2021, 2, 9, 2, 16, 3, 123456, tzinfo=dt.UTC)  # not ...457
