"""Athena DDL of the S3 projection (``projections/athena_ddl.py``): types, names, mapping,
quoting of hostile names. Pure."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.column_types import ColumnType
from core.errors import ConfigError
from core.ion_kinds import IonKind
from projections.athena_ddl import (
    HIVE_TYPES,
    METADATA_COLUMNS,
    AthenaDdl,
    DdlTable,
    athena_name,
    build,
    quote_identifier,
    quote_literal,
)
from projections.view_plan import MAX_VIEW_COLUMNS
from schemas.view_mapping import NO_MAPPING, ViewMapping, parse_mapping

K = IonKind


def kinds(*values: IonKind) -> frozenset[IonKind]:
    return frozenset(values)


def one_table(fields: dict[str, frozenset[IonKind]], mapping: ViewMapping = NO_MAPPING) -> DdlTable:
    ddl = build(["Person"], {"Person": fields}, mapping, "lake", "qldb")
    [table] = ddl.tables
    return table


def hive_unescape(literal: str) -> str:
    """Hive's reading of a single-quoted string literal (``BaseSemanticAnalyzer.unescapeSQLString``
    for the escapes :func:`quote_literal` writes)."""
    assert literal[0] == literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        char = body[i]
        assert char != "'", f"unescaped quote in {literal!r}"
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        out.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'"}[nxt])
        i += 2
    return "".join(out)


def properties(statement: str) -> dict[str, str]:
    """The SERDEPROPERTIES of a statement, unescaped."""
    block = statement.split("WITH SERDEPROPERTIES (\n", 1)[1].split("\n)\nLOCATION", 1)[0]
    literal = r"'(?:[^'\\]|\\.)*'"
    found = {}
    for line in block.split(",\n"):
        match = re.fullmatch(rf"  ({literal}) = ({literal})", line)
        assert match, line
        found[hive_unescape(match.group(1))] = hive_unescape(match.group(2))
    return found


def data_type(statement: str) -> str:
    line = next(x for x in statement.splitlines() if x.startswith("  `data` "))
    return line[len("  `data` ") :]


def test_every_column_type_has_its_hive_type() -> None:
    fields = {
        "text": kinds(K.STRING),
        "sym": kinds(K.SYMBOL, K.STRING),
        "count": kinds(K.INT),
        "huge": kinds(K.INT_BIG),
        "amount": kinds(K.DECIMAL, K.INT),
        "ratio": kinds(K.FLOAT),
        "ok": kinds(K.BOOL),
        "at": kinds(K.TIMESTAMP),
        "day": kinds(K.DATE),
        "month": kinds(K.TIMESTAMP_COARSE),
        "photo": kinds(K.BLOB, K.CLOB),
        "address": kinds(K.STRUCT),
        "tags": kinds(K.LIST),
        "mixed": kinds(K.INT, K.STRING),
        "nothing": kinds(K.NULL),
    }
    table = one_table(fields)
    got = {c.field: (c.type, c.hive_type) for c in table.columns}
    assert got == {
        "text": (ColumnType.TEXT, "string"),
        "sym": (ColumnType.TEXT, "string"),
        "count": (ColumnType.BIGINT, "bigint"),
        "huge": (ColumnType.NUMERIC, "string"),
        "amount": (ColumnType.NUMERIC, "string"),
        "ratio": (ColumnType.DOUBLE, "double"),
        "ok": (ColumnType.BOOLEAN, "boolean"),
        "at": (ColumnType.TIMESTAMPTZ, "string"),
        "day": (ColumnType.DATE, "date"),
        "month": (ColumnType.TEXT, "string"),
        "photo": (ColumnType.BYTES, "string"),
        "address": (ColumnType.JSON, "string"),
        "tags": (ColumnType.JSON, "string"),
        "mixed": (ColumnType.JSON, "string"),
        "nothing": (ColumnType.TEXT, "string"),
    }
    assert set(HIVE_TYPES) == set(ColumnType)
    current, history = table.statements()
    assert data_type(current) == (
        "struct<`address`:string,`amount`:string,`at`:string,`count`:bigint,`day`:date,"
        "`huge`:string,`mixed`:string,`month`:string,`nothing`:string,`ok`:boolean,"
        "`photo`:string,`ratio`:double,`sym`:string,`tags`:string,`text`:string>"
    )
    assert data_type(history) == data_type(current)


def test_statements_read_the_body_with_openx_and_locations_per_table() -> None:
    ddl = build(["Person", "_Hidden"], {}, NO_MAPPING, "lake", "/qldb/cdc/")
    person, hidden = sorted(ddl.tables, key=lambda t: t.ledger_table != "Person")
    current, history = person.statements()
    assert current.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `person` (\n")
    assert history.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `person_history` (\n")
    assert current.endswith("LOCATION 's3://lake/qldb/cdc/Person/current/';")
    assert history.endswith("LOCATION 's3://lake/qldb/cdc/Person/revisions/';")
    assert "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'" in current
    for column, _, hive in METADATA_COLUMNS:
        assert f"\n  `{column}` {hive},\n" in current
    assert data_type(current) == "string"  # no field recorded: the JSON text
    props = properties(current)
    assert props["case.insensitive"] == "false"
    assert props["mapping.document_id"] == "documentId"
    assert props["mapping.block_seq"] == "blockSeq"
    assert "mapping.version" not in props  # the column is the key
    # A table name's leading underscore is encoded in keys (s3_keys.table_segment).
    assert hidden.table == "_hidden"
    assert hidden.current_location == "s3://lake/qldb/cdc/%5FHidden/current/"
    assert build(["T"], {}, NO_MAPPING, "b", "").tables[0].current_location == "s3://b/T/current/"
    text = ddl.text()
    assert text.startswith("-- Athena DDL for the qldb-cdc S3 projection s3://lake/qldb/cdc\n")
    assert text.count("CREATE EXTERNAL TABLE") == 4 and text.count(";\n") == 4


def test_case_insensitive_collisions_get_suffixes_and_mappings() -> None:
    fields = {
        "Name": kinds(K.STRING),
        "name": kinds(K.INT),
        "NAME": kinds(K.BOOL),
        "Version": kinds(K.STRING),  # like the metadata column `version`
        "documentId": kinds(K.STRING),
        "document_id": kinds(K.STRING),  # the metadata column's own name
        "data": kinds(K.STRING),
    }
    table = one_table(fields)
    names = {c.field: c.name for c in table.columns}
    # A field that already is a Glue name keeps it; the others take suffixes, by name.
    assert names == {
        "name": "name",
        "NAME": "name_2",
        "Name": "name_3",
        "Version": "version_2",
        "documentId": "documentid",
        "document_id": "document_id_2",
        "data": "data_2",
    }
    props = properties(table.statements()[0])
    for field, column in names.items():
        if column != field:
            assert props[f"mapping.{column}"] == field
    assert "mapping.name" not in props
    assert len({c.lower() for c in names.values()}) == len(names)


def test_table_names_are_glue_names_without_collisions() -> None:
    tables = ["Person", "person", "PERSON", "person_history", "Vehicle Registration", "日本"]
    ddl = build(tables, {}, NO_MAPPING, "b", "p")
    names = {t.ledger_table: (t.table, t.history_table) for t in ddl.tables}
    assert names == {
        "person": ("person", "person_history_2"),
        "person_history": ("person_history", "person_history_history"),
        "PERSON": ("person_2", "person_2_history"),
        "Person": ("person_3", "person_3_history"),
        "Vehicle Registration": ("vehicle_registration", "vehicle_registration_history"),
        "日本": ("__", "___history"),
    }
    every = [n for pair in names.values() for n in pair]
    assert len(set(every)) == len(every)
    assert all(re.fullmatch(r"[a-z0-9_]{1,255}", n) for n in every)


def test_order_of_input_does_not_change_the_ddl() -> None:
    rng = random.Random(3)
    tables = ["A", "a", "a_history", "b.c", "b/c", "B C"]
    fields = {t: {f: kinds(K.STRING) for f in ("x", "X", "x y", "x.y")} for t in tables}
    expected = build(tables, fields, NO_MAPPING, "b", "p").text()
    for _ in range(5):
        rng.shuffle(tables)
        shuffled = {t: dict(rng.sample(list(fields[t].items()), 4)) for t in tables}
        assert build(tables, shuffled, NO_MAPPING, "b", "p").text() == expected


def test_hostile_names_are_quoted_and_escaped() -> None:
    hostile = [
        "a`b",
        "`; DROP TABLE x; --",
        "..",
        ".",
        "a/b",
        "it's",
        "back\\slash",
        "line\nbreak",
        "tab\there",
        "\x01ctl",
        "é ü",
        "emoji 😀",
        "mapping.x",
        "case.insensitive",
    ]
    fields = {name: kinds(K.STRING) for name in hostile}
    ddl = build(["..", "a`b/c"], {"..": fields, "a`b/c": fields}, NO_MAPPING, "lake", "q")
    for table in ddl.tables:
        assert re.fullmatch(r"[a-z0-9_]+", table.table)
        for statement in table.statements():
            props = properties(statement)
            back = {v: k for k, v in props.items() if k.startswith("mapping.")}
            for column in table.columns:
                assert re.fullmatch(r"[a-z0-9_]+", column.name)
                assert back[column.field] == f"mapping.{column.name}"
            assert hive_unescape(statement.rsplit("LOCATION ", 1)[1][:-1]) in (
                "s3://lake/q/%2E%2E/revisions/",
                "s3://lake/q/%2E%2E/current/",
                "s3://lake/q/a%60b%2Fc/current/",
                "s3://lake/q/a%60b%2Fc/revisions/",
            )
            comment = statement.split("\nCOMMENT ", 1)[1].split("\n", 1)[0]
            assert table.ledger_table in hive_unescape(comment)
    assert {t.table for t in ddl.tables} == {"__", "a_b_c"}


@given(st.text(min_size=1, max_size=40))
def test_literals_and_identifiers_round_trip(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert hive_unescape(quote_literal(text)) == text
    quoted = quote_identifier(text)
    assert quoted[0] == quoted[-1] == "`"
    assert quoted[1:-1].replace("``", "").count("`") == 0
    assert quoted[1:-1].replace("``", "`") == text
    assert re.fullmatch(r"[a-z0-9_]*", athena_name(text))
    assert len(athena_name(text)) == len(text)


def test_long_names_are_cut_with_a_hash_and_stay_apart() -> None:
    long_a, long_b = "f" * 300 + "a", "f" * 300 + "b"
    table = one_table({long_a: kinds(K.STRING), long_b: kinds(K.STRING)})
    a, b = (c.name for c in table.columns)
    assert len(a) == len(b) == 255 and a != b
    assert re.fullmatch(r"f{246}_[0-9a-f]{8}", a)


def test_unusable_names_are_left_out_with_a_warning() -> None:
    ddl = build(
        ["", "ok", "bad\x00"],
        {"ok": {"": kinds(K.STRING), "nul\x00": kinds(K.INT), "x": kinds(K.INT)}},
        NO_MAPPING,
        "b",
        "",
    )
    assert [t.ledger_table for t in ddl.tables] == ["ok"]
    assert set(ddl.skipped_tables) == {"", "bad\x00"}
    assert [c.field for c in ddl.tables[0].columns] == ["x"]
    assert len(ddl.warnings) == 3


def test_mapping_overrides_names_types_and_skips() -> None:
    mapping = parse_mapping(
        """{"tables": {
            "Person": {"view": "People", "history_view": "people_log",
                       "columns": {"FirstName": "first_name",
                                   "DOB": {"name": "dob_text", "type": "text"},
                                   "Amount": {"type": "double"},
                                   "Notes": {"skip": true},
                                   "Missing": "never_seen"}},
            "Scratch": {"skip": true}}}""",
        "m.json",
    )
    fields = {
        "FirstName": kinds(K.STRING),
        "DOB": kinds(K.DATE),
        "Amount": kinds(K.DECIMAL),
        "Notes": kinds(K.STRING),
        "first_name": kinds(K.STRING),  # its own name is taken by the mapping
    }
    ddl = build(["Person", "Scratch"], {"Person": fields}, mapping, "b", "p")
    assert ddl.skipped_tables == ("Scratch",)
    [table] = ddl.tables
    assert (table.table, table.history_table) == ("people", "people_log")
    got = {c.field: (c.name, c.hive_type, c.mapped) for c in table.columns}
    assert got == {
        "Amount": ("amount", "double", True),
        "DOB": ("dob_text", "string", True),
        "FirstName": ("first_name", "string", True),
        "Missing": ("never_seen", "string", True),
        "first_name": ("first_name_2", "string", False),
    }
    props = properties(table.statements()[0])
    assert props["mapping.first_name"] == "FirstName"
    assert props["mapping.first_name_2"] == "first_name"
    assert build(["Person"], {}, mapping, "b", "p", leave_out={"Person"}).tables == ()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('{"tables": {"T": {"view": "has space"}}}', "not an Athena name"),
        ('{"tables": {"T": {"view": "é"}}}', "not an Athena name"),
        ('{"tables": {"T": {"view": "' + "x" * 256 + '"}}}', "not an Athena name"),
        ('{"tables": {"T": {"view": "a"}, "U": {"history_view": "A"}}}', "already taken"),
        ('{"tables": {"T": {"columns": {"x": "version"}}}}', "already taken"),
        ('{"tables": {"T": {"columns": {"x": "DATA"}}}}', "already taken"),
        ('{"tables": {"T": {"columns": {"x": "y", "z": "Y"}}}}', "already taken"),
    ],
)
def test_unusable_mapped_names_are_config_errors(mapping: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(["T", "U"], {}, parse_mapping(mapping, "m.json"), "b", "p")


def test_fields_beyond_the_column_limit_are_left_out_with_a_warning() -> None:
    fields = {f"f{i:04d}": kinds(K.INT) for i in range(MAX_VIEW_COLUMNS + 5)}
    table = one_table(fields)
    assert len(table.columns) == MAX_VIEW_COLUMNS
    ddl = build(["Person"], {"Person": fields}, NO_MAPPING, "b", "p")
    assert any("5 fields beyond" in w for w in ddl.warnings)


def test_a_data_type_longer_than_glue_allows_is_cut_with_a_warning() -> None:
    fields = {f"{i:03d}" + "x" * 240: kinds(K.INT) for i in range(600)}
    ddl = build(["T"], {"T": fields}, NO_MAPPING, "b", "p")
    [table] = ddl.tables
    assert len(data_type(table.statements()[0])) <= 131_072 < 600 * 250
    assert 0 < len(table.columns) < 600
    assert any("longer than Glue's" in w for w in ddl.warnings)


def test_empty_ddl_text_has_only_the_header() -> None:
    ddl = AthenaDdl("s3://b/p", ())
    assert "CREATE" not in ddl.text() and ddl.statements() == []
