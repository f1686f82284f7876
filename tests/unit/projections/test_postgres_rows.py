"""Changes -> COPY text rows for PostgreSQL, and the unstorable checks (pure: no server needed)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import json_codec
from core.model import Change, ChangeKind
from core.tx_time import parse_tx_time
from projections.postgres_rows import (
    COLUMNS,
    Unstorable,
    copy_line,
    encode_lines,
    needs_exact_copy,
    unstorable_reason,
)
from tests.support.builders import make_change

_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def decode(line: str) -> dict[str, str | None]:
    """Independent reader of one COPY text line (tab-separated, backslash escapes, \\N)."""
    fields = line.split("\t")
    assert len(fields) == len(COLUMNS), fields
    out: dict[str, str | None] = {}
    for name, field in zip(COLUMNS, fields, strict=True):
        out[name] = None if field == "\\N" else re.sub(r"\\(.)", lambda m: _UNESCAPE[m[1]], field)
    return out


def line_of(change: Change) -> dict[str, str | None]:
    line = copy_line(change)
    assert isinstance(line, str), line
    assert "\n" not in line
    return decode(line)


def test_line_holds_every_column_of_the_change() -> None:
    change = make_change("m", 3, data={"p": Decimal("1.50"), "s": "x"})
    assert line_of(change) == {
        "ledger_table": "Person",
        "document_id": "m",
        "version": "3",
        "deleted": "f",
        "redacted": "f",
        "data": '{"p":1.50,"s":"x"}',
        "data_exact": None,
        "tx_id": change.tx_id,
        "tx_time": change.tx_time,
        "tx_time_utc": "2024-01-01T00:00:03.123000+00:00",
        "block_strand": change.block.strand_id,
        "block_seq": str(change.block.sequence_no),
        "revision_hash": change.revision_hash,
        "data_hash": None,
    }


def test_copy_special_characters_are_escaped_in_metadata_and_data() -> None:
    data = {"s": "tab\there\nnew \\ back \r", "k\\": ["\\u0000"]}
    change = make_change("id\twith\\odd\nchars", 0, table="T\\1", data=data)
    row = line_of(change)
    assert (row["ledger_table"], row["document_id"]) == ("T\\1", "id\twith\\odd\nchars")
    assert row["data"] == json_codec.dumps(data)
    assert json_codec.loads(str(row["data"])) == data


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"s": "a\x00b"}, "NUL"),
        ({"deep": [{"k": ["x", "\x00"]}]}, "NUL"),
        ({"key\x00": 1}, "NUL"),
        ({"s": "back\\\x00"}, "NUL"),  # an escaped backslash right before the NUL escape
        ({"d": Decimal("NaN")}, "JSON"),
        ({"o": object()}, "JSON"),
    ],
)
def test_unstorable_documents_are_rejected_with_a_reason(data: dict[str, Any], needle: str) -> None:
    change = make_change("a", 0, data=data)
    line = copy_line(change)
    assert isinstance(line, Unstorable)
    assert needle in line.reason
    assert unstorable_reason(change) == line.reason


def test_lone_surrogates_are_found_by_the_utf8_encoding() -> None:
    good = make_change("a", 0)
    bad = make_change("b", 0, data={"s": "lone \ud800 surrogate"})
    bad_id = make_change("\udc80", 0)
    lines = [copy_line(c) for c in (good, bad, bad_id)]
    assert all(isinstance(line, str) for line in lines)
    assert encode_lines([str(line) for line in lines]) == [1, 2]
    assert "surrogate" in str(unstorable_reason(bad))
    assert "document id" in str(unstorable_reason(bad_id))
    assert encode_lines([str(lines[0])]) == str(lines[0]).encode()


@pytest.mark.parametrize(
    "change", [make_change("id\x00", 0), make_change("a", 2**63), make_change("a", -(2**63) - 1)]
)
def test_unstorable_metadata_is_rejected(change: Change) -> None:
    line = copy_line(change)
    assert isinstance(line, Unstorable)
    assert unstorable_reason(change) == line.reason


def test_text_that_merely_looks_like_a_nul_escape_is_stored() -> None:
    row = line_of(make_change("a", 0, data={"s": "\\u0000", "t": "\\\\u0000"}))
    assert json_codec.loads(str(row["data"])) == {"s": "\\u0000", "t": "\\\\u0000"}


def test_exact_copy_only_when_jsonb_would_respell_a_number() -> None:
    plain = line_of(make_change("a", 0, data={"p": Decimal("1.50"), "n": 3, "s": "-0 1e5 E"}))
    assert plain["data_exact"] is None
    values = (Decimal("-0.000"), Decimal("-0"), Decimal("5"), Decimal("1.2E+5"), Decimal("0E-10"))
    for value in values:
        row = line_of(make_change("a", 0, data={"v": [value]}))
        assert row["data_exact"] == row["data"]
        got = json_codec.loads(str(row["data_exact"]))["v"][0]
        assert (type(got), str(got)) == (Decimal, str(value))
    assert needs_exact_copy('{"a":5E0}') and needs_exact_copy('{"a":-0E0}')
    assert not needs_exact_copy('{"a":"2020-07-10","b":-1.5}')


def test_tombstones_and_redactions_have_no_data() -> None:
    for kind in (ChangeKind.DELETE, ChangeKind.REDACTION):
        row = line_of(make_change("a", 1, kind=kind))
        assert (row["data"], row["data_exact"]) == (None, None)
        assert row["deleted"] == ("t" if kind is ChangeKind.DELETE else "f")
        assert row["redacted"] == ("t" if kind is ChangeKind.REDACTION else "f")
        assert (row["data_hash"] is None) is (kind is ChangeKind.DELETE)


def test_tx_time_parsing_keeps_instant_and_tolerates_odd_precision() -> None:
    utc = dt.UTC
    assert parse_tx_time("2021-02-09T02:16:06.240Z") == dt.datetime(
        2021, 2, 9, 2, 16, 6, 240000, tzinfo=utc
    )
    assert parse_tx_time("2021-02-09T02:16:06.123456789-08:00") == dt.datetime(
        2021, 2, 9, 10, 16, 6, 123456, tzinfo=utc
    )
    assert parse_tx_time("2020T") is None
    assert parse_tx_time("2021-02-09T02:16:06") is None  # no offset: no instant


_numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(), _numbers),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
).map(lambda value: {"v": value})


@settings(max_examples=300, deadline=None)
@given(data=_documents, doc_id=st.text(min_size=1, max_size=8))
def test_fast_line_agrees_with_the_exhaustive_check_and_the_codec(
    data: dict[str, Any], doc_id: str
) -> None:
    change = make_change(doc_id, 1, data=data)
    line = copy_line(change)
    reason = unstorable_reason(change)
    if isinstance(line, Unstorable):
        assert reason == line.reason
        return
    if isinstance(encode_lines([line]), list):
        assert reason is not None and "surrogate" in reason
        return
    assert reason is None
    row = decode(line)
    assert row["document_id"] == doc_id
    assert row["data"] == json_codec.dumps(data)
    if respelled(data):  # jsonb would change a number's spelling: the exact copy is kept
        assert row["data_exact"] == row["data"]


def respelled(value: Any) -> bool:
    """Whether a number in ``value`` has a JSON spelling jsonb changes (exponent, negative 0)."""
    if isinstance(value, dict):
        return any(respelled(v) for v in value.values())
    if isinstance(value, list):
        return any(respelled(v) for v in value)
    if isinstance(value, Decimal | float):
        text = json_codec.dumps(value)
        return "e" in text.lower() or (value == 0 and text.startswith("-"))
    return False
