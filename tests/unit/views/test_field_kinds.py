"""The Ion kind of each top-level field (``schemas.ion_values.field_kinds``) and the column
type of a set of kinds (``core.column_types.column_type``)."""

from __future__ import annotations

import io

import pytest
from amazon.ion import simpleion
from hypothesis import given
from hypothesis import strategies as st

from changes.from_qldb import block_changes
from core.column_types import ColumnType, column_type
from core.ion_kinds import IonKind
from schemas import ion_values
from schemas.journal import parse_block
from schemas.journal_export import ExportFormat
from tests.support import export_builder as eb

EVERY_KIND = {
    "null": ("null", IonKind.NULL),
    "typed_null": ("null.string", IonKind.NULL),
    "bool": ("true", IonKind.BOOL),
    "int": ("-9223372036854775808", IonKind.INT),
    "int_max": ("9223372036854775807", IonKind.INT),
    "int_big": ("9223372036854775808", IonKind.INT_BIG),
    "int_big_negative": ("-123456789012345678901234567890", IonKind.INT_BIG),
    "float": ("1.5e0", IonKind.FLOAT),
    "nan": ("nan", IonKind.FLOAT),
    "decimal": ("1.50", IonKind.DECIMAL),
    "timestamp": ("2021-02-09T02:16:06.240Z", IonKind.TIMESTAMP),
    "minute": ("2021-02-09T02:16-08:00", IonKind.TIMESTAMP),
    "date": ("2021-02-09", IonKind.DATE),
    "month": ("2021-02T", IonKind.TIMESTAMP_COARSE),
    "year": ("2021T", IonKind.TIMESTAMP_COARSE),
    "string": ('"s"', IonKind.STRING),
    "symbol": ("sym", IonKind.SYMBOL),
    "blob": ("{{aGVsbG8=}}", IonKind.BLOB),
    "clob": ('{{"clob"}}', IonKind.CLOB),
    "struct": ("{x:1}", IonKind.STRUCT),
    "list": ("[1]", IonKind.LIST),
    "sexp": ("(a b)", IonKind.SEXP),
    "annotated_int": ("ann::5", IonKind.INT),
    "annotated_struct": ("a::{}", IonKind.STRUCT),
    "annotated_date": ("b::2020-01-01T", IonKind.DATE),
}
DOCUMENT = "{" + ", ".join(f"'{name}': {ion}" for name, (ion, _) in EVERY_KIND.items()) + "}"
EXPECTED = tuple((name, kind) for name, (_, kind) in EVERY_KIND.items())


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("binary", [True, False])
def test_every_ion_type_in_both_value_models(exact: bool, binary: bool) -> None:
    data = simpleion.dumps(simpleion.loads(DOCUMENT), binary=binary)
    assert ion_values.field_kinds(ion_values.loads(data, exact=exact)) == EXPECTED


def test_json_values_give_the_json_kinds() -> None:
    from decimal import Decimal

    value = {
        "s": "x",
        "i": 1,
        "b": False,
        "d": Decimal("1.5"),
        "f": 0.5,
        "n": None,
        "o": {},
        "l": [],
    }
    assert dict(ion_values.field_kinds(value)) == {
        "s": IonKind.STRING,
        "i": IonKind.INT,
        "b": IonKind.BOOL,
        "d": IonKind.DECIMAL,
        "f": IonKind.FLOAT,
        "n": IonKind.NULL,
        "o": IonKind.STRUCT,
        "l": IonKind.LIST,
    }


@pytest.mark.parametrize("value", [None, [1, 2], "text", 5])
def test_a_value_that_is_not_a_struct_has_no_field_kinds(value: object) -> None:
    assert ion_values.field_kinds(value) == ()


def test_block_changes_carry_the_field_kinds_of_each_revision() -> None:
    blocks = [eb.block(1, [eb.Rev("Person", "d1", 0, eb.person(1, 0)), eb.Rev("Person", "d1", 1)])]
    raw = eb.encode(blocks, ExportFormat.ION_BINARY)
    [value] = list(ion_values.iter_values(io.BytesIO(raw)))
    changes = block_changes(parse_block(value)).changes
    assert dict(changes[0].field_kinds) == {
        "name": IonKind.STRING,
        "v": IonKind.INT,
        "score": IonKind.DECIMAL,
        "when": IonKind.TIMESTAMP,
        "tags": IonKind.LIST,
        "blob": IonKind.BLOB,
        "nested": IonKind.STRUCT,
    }
    assert changes[1].field_kinds == ()  # a delete has no data


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (set(), ColumnType.TEXT),
        ({IonKind.NULL}, ColumnType.TEXT),
        ({IonKind.INT, IonKind.NULL}, ColumnType.BIGINT),
        ({IonKind.INT_BIG}, ColumnType.NUMERIC),
        ({IonKind.INT, IonKind.INT_BIG}, ColumnType.NUMERIC),
        ({IonKind.INT, IonKind.DECIMAL}, ColumnType.NUMERIC),
        ({IonKind.DECIMAL}, ColumnType.NUMERIC),
        ({IonKind.FLOAT}, ColumnType.DOUBLE),
        ({IonKind.FLOAT, IonKind.INT}, ColumnType.JSON),
        ({IonKind.FLOAT, IonKind.DECIMAL}, ColumnType.JSON),
        ({IonKind.BOOL}, ColumnType.BOOLEAN),
        ({IonKind.TIMESTAMP}, ColumnType.TIMESTAMPTZ),
        ({IonKind.DATE}, ColumnType.DATE),
        ({IonKind.DATE, IonKind.TIMESTAMP}, ColumnType.TEXT),  # both ISO-8601 strings
        ({IonKind.TIMESTAMP, IonKind.STRING}, ColumnType.TEXT),
        ({IonKind.TIMESTAMP_COARSE}, ColumnType.TEXT),
        ({IonKind.STRING, IonKind.SYMBOL}, ColumnType.TEXT),
        ({IonKind.BLOB, IonKind.CLOB}, ColumnType.BYTES),
        ({IonKind.STRUCT}, ColumnType.JSON),
        ({IonKind.LIST, IonKind.SEXP}, ColumnType.JSON),
        ({IonKind.STRING, IonKind.INT}, ColumnType.JSON),
    ],
)
def test_column_type_of_kinds(kinds: set[IonKind], expected: ColumnType) -> None:
    assert column_type(kinds) is expected


@given(st.lists(st.sampled_from(list(IonKind))), st.randoms())
def test_column_type_depends_on_the_set_only(kinds: list[IonKind], rng: object) -> None:
    shuffled = list(kinds) * 2
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert column_type(shuffled) is column_type(set(kinds))


@given(st.sets(st.sampled_from(list(IonKind)), min_size=2))
def test_a_mix_without_a_lossless_widening_is_json(kinds: set[IonKind]) -> None:
    seen = kinds - {IonKind.NULL}
    widenable = [
        {IonKind.INT, IonKind.INT_BIG, IonKind.DECIMAL},
        {IonKind.STRING, IonKind.SYMBOL},
        {
            IonKind.STRING,
            IonKind.SYMBOL,
            IonKind.TIMESTAMP,
            IonKind.DATE,
            IonKind.TIMESTAMP_COARSE,
        },
        {IonKind.BLOB, IonKind.CLOB},
        {IonKind.LIST, IonKind.SEXP},
    ]
    if len(seen) > 1 and not any(seen <= family for family in widenable):
        assert column_type(kinds) is ColumnType.JSON
