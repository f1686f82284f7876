"""Screening of changes for PostgreSQL (pure: no server needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from changes import json_codec
from changes.model import ChangeKind
from projections.postgres_rows import COLUMNS, StagedRow, parse_tx_time, screen
from tests.builders import make_change


def staged(data: dict[str, Any]) -> StagedRow:
    row = screen(make_change("a", 0, data=data))
    assert isinstance(row, StagedRow), row
    return row


def column(row: StagedRow, name: str) -> object:
    return row.values[COLUMNS.index(name)]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"s": "a\x00b"}, "NUL"),
        ({"deep": [{"k": ["x", "\x00"]}]}, "NUL"),
        ({"key\x00": 1}, "NUL"),
        ({"s": "back\\\x00"}, "NUL"),  # an escaped backslash right before the NUL escape
        ({"s": "lone \ud800 surrogate"}, "surrogate"),
        ({"d": Decimal("NaN")}, "JSON"),
        ({"o": object()}, "JSON"),
    ],
)
def test_unstorable_documents_are_rejected_with_a_reason(data: dict[str, Any], needle: str) -> None:
    reason = screen(make_change("a", 0, data=data))
    assert isinstance(reason, str)
    assert needle in reason


@pytest.mark.parametrize(
    "change",
    [
        make_change("id\x00", 0),
        make_change("\udc80", 0),
        make_change("a", 2**63),
    ],
)
def test_unstorable_metadata_is_rejected(change: Any) -> None:
    assert isinstance(screen(change), str)


def test_text_that_merely_looks_like_a_nul_escape_is_stored() -> None:
    row = staged({"s": "\\u0000", "t": "\\\\u0000"})
    assert json_codec.loads(str(column(row, "data"))) == {"s": "\\u0000", "t": "\\\\u0000"}


def test_exact_copy_only_when_jsonb_would_respell_a_number() -> None:
    plain = staged({"price": Decimal("1.50"), "n": 3, "s": "-0 and 1e5 inside text"})
    assert column(plain, "data_exact") is None
    for value in (Decimal("-0.000"), Decimal("-0"), Decimal("1.2E+5"), Decimal("0E-10")):
        row = staged({"v": [value]})
        assert column(row, "data_exact") == column(row, "data")
        want = json_codec.loads(json_codec.dumps([value]))[0]  # the codec's own round trip
        got = json_codec.loads(str(column(row, "data_exact")))["v"][0]
        assert (type(got), str(got)) == (type(want), str(want))


def test_tombstones_and_redactions_have_no_data() -> None:
    for kind in (ChangeKind.DELETE, ChangeKind.REDACTION):
        row = screen(make_change("a", 1, kind=kind))
        assert isinstance(row, StagedRow)
        assert column(row, "data") is None
        assert column(row, "deleted") is (kind is ChangeKind.DELETE)
        assert column(row, "redacted") is (kind is ChangeKind.REDACTION)


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
