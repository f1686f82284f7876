"""DynamoDB attribute encoding: exact numbers, refusals, size estimate (pure, no server)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import PoisonError, UnstorableChangeError
from core.model import ChangeKind
from projections.dynamodb import (
    ITEM_LIMIT_BYTES,
    attribute_size,
    change_item,
    from_attribute_value,
    item_size,
    to_attribute_value,
)
from tests.support.builders import make_change
from tests.support.projection_harness import normalise


def test_decimals_keep_their_exact_text_on_the_wire() -> None:
    value = {"a": Decimal("1.50"), "b": Decimal("-0.000"), "c": Decimal("1.2E+5"), "d": 2**62}
    encoded = to_attribute_value(value)
    assert encoded["M"]["a"] == {"N": "1.50"}
    assert encoded["M"]["b"] == {"N": "-0.000"}
    assert encoded["M"]["c"] == {"N": "1.2E+5"}
    assert encoded["M"]["d"] == {"N": str(2**62)}
    assert from_attribute_value(encoded) == value
    assert str(from_attribute_value(encoded)["a"]) == "1.50"


def test_floats_go_through_str_never_binary_expansion() -> None:
    assert to_attribute_value(0.1) == {"N": "0.1"}
    assert from_attribute_value(to_attribute_value(0.1)) == Decimal("0.1")


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1" * 39),
        10**40 + 1,
        Decimal("1E+126"),
        Decimal("1E-131"),
    ],
)
def test_numbers_dynamodb_cannot_hold_are_unstorable(bad: Any) -> None:
    with pytest.raises(UnstorableChangeError) as info:
        to_attribute_value({"nested": [bad]})
    assert isinstance(info.value, PoisonError)


def test_38_digits_and_zero_are_fine() -> None:
    assert to_attribute_value(Decimal("1" * 38)) == {"N": "1" * 38}
    assert to_attribute_value(Decimal("0E-200")) == {"N": "0E-200"}
    assert to_attribute_value(Decimal("1.000000000000000000000000000000000000000000")) is not None


def test_nesting_deeper_than_32_is_unstorable() -> None:
    ok: Any = "leaf"
    for _ in range(31):
        ok = [ok]
    to_attribute_value(ok)
    with pytest.raises(UnstorableChangeError, match="32"):
        to_attribute_value([[ok]])


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20
    )
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100).filter(
        lambda f: f == 0 or abs(f) > 1e-100  # DynamoDB's range stops at 1E-130
    )
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=plain)
def test_round_trip_equals_the_json_normal_form(value: Any) -> None:
    assert from_attribute_value(to_attribute_value(value)) == normalise(value)


def test_size_estimate_counts_names_values_and_overheads() -> None:
    assert attribute_size({"S": "héllo"}) == 6
    assert attribute_size({"BOOL": True}) == 1
    assert attribute_size({"N": "12345"}) >= 4
    assert attribute_size({"M": {"ab": {"S": "xyz"}}}) == 3 + 2 + 1 + 3
    assert attribute_size({"L": [{"NULL": True}, {"S": "a"}]}) == 3 + (1 + 1) + (1 + 1)
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3


def test_item_shapes_for_each_kind() -> None:
    live = change_item(make_change("d", 0))
    assert live["pk"] == {"S": "d"}
    assert live["ledgerTable"] == {"S": "Person"}
    assert live["version"] == {"N": "0"}
    assert live["deleted"] == {"BOOL": False}
    assert "data" in live
    assert "dataHash" not in live
    tomb = change_item(make_change("d", 2, kind=ChangeKind.DELETE))
    assert tomb["deleted"] == {"BOOL": True}
    assert "data" not in tomb
    red = change_item(make_change("d", 1, kind=ChangeKind.REDACTION))
    assert red["redacted"] == {"BOOL": True}
    assert "data" not in red
    assert red["dataHash"]["S"]


def test_a_450kb_document_exceeds_the_estimate_limit() -> None:
    item = change_item(make_change("big", 0, data={"payload": "x" * 450_000}))
    assert item_size(item) > ITEM_LIMIT_BYTES


@pytest.mark.parametrize(
    "value", ["\ud800", ["ok", "x\udfffy"], {"k": {"deep": "\ud83d"}}, {"\ud800": 1}]
)
def test_text_that_is_not_utf8_is_unstorable(value: Any) -> None:
    # botocore would send a JSON \ud800 escape that DynamoDB can never store as UTF-8.
    with pytest.raises(UnstorableChangeError, match="surrogate"):
        to_attribute_value(value)


def test_ids_and_table_names_that_are_not_utf8_are_unstorable() -> None:
    assert to_attribute_value("Łódź ✓ 😀") == {"S": "Łódź ✓ 😀"}
    with pytest.raises(UnstorableChangeError):
        change_item(make_change("d\ud800", 0))
    with pytest.raises(UnstorableChangeError):
        change_item(make_change("d", 0, table="T\udfff"))
