from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core import json_codec


def test_decimals_keep_their_digits() -> None:
    text = json_codec.dumps({"a": Decimal("1.50"), "b": Decimal("-0.000"), "c": Decimal("1E+3")})
    assert text == '{"a":1.50,"b":-0.000,"c":1E+3}'
    back = json_codec.loads(text)
    assert str(back["a"]) == "1.50"
    assert str(back["b"]) == "-0.000"


def test_integral_decimals_stay_decimals() -> None:
    text = json_codec.dumps([Decimal("5"), Decimal("-0"), 5, Decimal("0")])
    assert text == "[5E0,-0E0,5,0E0]"
    back = json_codec.loads(text)
    assert [type(v) for v in back] == [Decimal, Decimal, int, Decimal]
    assert str(back[1]) == "-0"


def test_non_finite_floats_become_ion_spellings() -> None:
    assert json_codec.dumps([float("nan"), float("inf"), -float("inf"), 1.5]) == (
        '["nan","+inf","-inf",1.5]'
    )


def test_non_finite_decimal_and_unknown_types_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        json_codec.dumps(Decimal("NaN"))
    with pytest.raises(TypeError, match="cannot serialise"):
        json_codec.dumps({"x": object()})


def test_strings_are_escaped_like_json() -> None:
    value = {"q": 'say "hi"\n\\ \u2028 Łódź', "": []}
    assert json_codec.loads(json_codec.dumps(value)) == value


plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(plain)
def test_round_trip_is_exact(value: object) -> None:
    back = json_codec.loads(json_codec.dumps(value))
    assert back == value
    assert json_codec.dumps(back) == json_codec.dumps(value)


def test_text_that_looks_like_a_number_stays_text() -> None:
    for value in (
        {"s": "1.50", "d": Decimal("1.5"), "t": ["5E0", "\x00"]},
        ["null", Decimal("2.50"), None],
    ):
        text = json_codec.dumps(value)
        parts: list[str] = []
        json_codec._write(value, parts)
        assert text == "".join(parts)
        assert json_codec.loads(text) == value


def test_fast_and_exact_writers_agree() -> None:
    value = {"a": [Decimal("0E-10"), 1, -2.5, "x\u2028", None, True, {"b": Decimal("-0")}]}
    parts: list[str] = []
    json_codec._write(value, parts)
    assert json_codec._dumps_fast(value) == "".join(parts)


any_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\ud800", "null", "1.50"]),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300)
@given(any_plain)
@example({"a": None, "b": [1.5, float("nan")]})
@example([float("-inf"), None])
@example({"big": 2**64, "d": Decimal("1.5")})
@example(["\ud800", Decimal("2")])
@example(["1.50", Decimal("2.50"), [None, 0.5]])
def test_fast_path_means_the_same_as_the_exact_writer(value: object) -> None:
    """Whatever the fast path accepts or refuses (big ints, NaN, surrogates, placeholder look-
    alikes), the text read back equals what the exact writer's text reads back."""
    parts: list[str] = []
    json_codec._write(value, parts)
    assert json_codec.loads(json_codec.dumps(value)) == json_codec.loads("".join(parts))


def test_usual_documents_take_the_fast_path() -> None:
    document = {
        "id": "POL-1",
        "premium": Decimal("3004.79"),
        "limit": Decimal("113000"),
        "price": 83974.67,
        "notes": None,
        "tags": ["a", {"b": True, "c": [1, 2]}],
    }
    fast = json_codec._dumps_fast(document)
    assert fast == (
        '{"id":"POL-1","premium":3004.79,"limit":113000E0,"price":83974.67,"notes":null,'
        '"tags":["a",{"b":true,"c":[1,2]}]}'
    )
    assert json_codec._dumps_fast({"x": None, "y": [1.0, float("nan")]}) is None
    assert json_codec.dumps({"x": None, "y": [1.0, float("nan")]}) == '{"x":null,"y":[1.0,"nan"]}'
