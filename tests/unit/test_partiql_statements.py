"""The table-DDL recogniser of QLDB PartiQL statements: the syntax QLDB documents, and hostile
text that must never raise nor take long."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.partiql_statements import (
    MAX_NAME_CHARS,
    MAX_PARTS,
    MAX_STATEMENT_CHARS,
    NOTHING,
    ParsedStatement,
    TableDdl,
    TableDdlKind,
    parse_statement,
)

CREATED, DROPPED, UNDROPPED = TableDdlKind.CREATED, TableDdlKind.DROPPED, TableDdlKind.UNDROPPED


@pytest.mark.parametrize(
    ("text", "ddl"),
    [
        ("CREATE TABLE Vehicle", [(CREATED, "Vehicle")]),
        ("create table vehicle", [(CREATED, "vehicle")]),
        (
            "CREATE TABLE Vehicle WITH (aws_tags = `{'environment': 'production'}`)",
            [(CREATED, "Vehicle")],
        ),
        ("DROP TABLE VehicleRegistration", [(DROPPED, "VehicleRegistration")]),
        ('UNDROP TABLE "5PLf9SXwndd63lPaSIa0O6"', [(UNDROPPED, "5PLf9SXwndd63lPaSIa0O6")]),
        ("undrop table '5PLf9SXwndd63lPaSIa0O6'", [(UNDROPPED, "5PLf9SXwndd63lPaSIa0O6")]),
        ('DROP TABLE "Odd""Name"', [(DROPPED, 'Odd"Name')]),
        ("DROP TABLE `Person`", [(DROPPED, "Person")]),
        ("  -- drop it\n  DROP /* really */ TABLE\n\tPerson  ;", [(DROPPED, "Person")]),
        (
            'DROP TABLE A; CREATE TABLE B; SELECT * FROM C; UNDROP TABLE "x1"',
            [(DROPPED, "A"), (CREATED, "B"), (UNDROPPED, "x1")],
        ),
        (
            "CREATE TABLE T WITH (aws_tags = `{'a;b': 'c'}`); DROP TABLE U",
            [(CREATED, "T"), (DROPPED, "U")],
        ),
    ],
)
def test_documented_syntax_is_recognised(text: str, ddl: list[tuple[TableDdlKind, str]]) -> None:
    assert parse_statement(text) == ParsedStatement(tuple(TableDdl(k, n) for k, n in ddl))


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM Vehicle",
        "INSERT INTO TableOfThings ?",
        "UPDATE Person SET table = 1",
        "CREATE INDEX ON Vehicle (VIN)",
        'DROP INDEX "idx" ON Vehicle WITH (purge = true)',
        "SELECT * FROM information_schema.user_tables",
        "",
        "-- DROP TABLE Person",
        "/* CREATE TABLE X */",
    ],
)
def test_other_statements_are_ignored_not_unparsed(text: str) -> None:
    assert parse_statement(text) == NOTHING


@pytest.mark.parametrize(
    "text",
    [
        "DROP TABLE",
        "CREATE TABLE ;",
        'DROP TABLE "unterminated',
        "UNDROP TABLE ''",
        "DROP TABLE " + "x" * (MAX_NAME_CHARS + 1),
        "CREATE TABLE (",
    ],
)
def test_broken_table_ddl_is_unparsed(text: str) -> None:
    parsed = parse_statement(text)
    assert parsed.unparsed and parsed.ddl == ()


@pytest.mark.parametrize("text", [None, 42, b"DROP TABLE A", ["DROP TABLE A"]])
def test_a_statement_that_is_not_text_is_unparsed(text: object) -> None:
    assert parse_statement(text) == ParsedStatement(unparsed=True)


def test_bounds_on_length_and_parts() -> None:
    long = "DROP TABLE A;" + " " * MAX_STATEMENT_CHARS
    assert parse_statement(long) == ParsedStatement(unparsed=True)
    many = "DROP TABLE A;" * (MAX_PARTS + 50)
    assert len(parse_statement(many).ddl) == MAX_PARTS


_FRAGMENTS = st.sampled_from(
    [
        "CREATE",
        "DROP",
        "UNDROP",
        "TABLE",
        "table",
        " ",
        "\n",
        ";",
        "'",
        '"',
        "`",
        "--",
        "/*",
        "*/",
        "(",
        ")",
        "WITH",
        "x",
        "Vehicle",
        '""',
        "''",
        "\x00",
        "\ud800",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS | st.text(max_size=8), max_size=40).map("".join))
def test_hostile_text_never_raises(text: str) -> None:
    parsed = parse_statement(text)
    assert isinstance(parsed, ParsedStatement)
    assert len(parsed.ddl) <= MAX_PARTS
    for ddl in parsed.ddl:
        assert 0 < len(ddl.name) <= MAX_NAME_CHARS


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(list(TableDdlKind)),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
    st.sampled_from(["{}", '"{}"', "`{}`"]),
    st.sampled_from(["", " ", "\n-- c\n", " /* c */ "]),
)
def test_any_valid_name_round_trips(kind: TableDdlKind, name: str, quote: str, gap: str) -> None:
    verb = {CREATED: "CREATE", DROPPED: "DROP", UNDROPPED: "UNDROP"}[kind]
    text = f"{gap}{verb}{gap or ' '}TABLE {quote.format(name)}{gap}"
    assert parse_statement(text).ddl == (TableDdl(kind, name),)
