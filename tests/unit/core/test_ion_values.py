import base64
from decimal import Decimal

import pytest
from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from schemas import ion_values


def plain_of(ion_text: str) -> object:
    return ion_values.to_plain(ion_values.loads(ion_text))


@pytest.mark.parametrize(
    ("ion", "iso"),
    [
        ("2020T", "2020"),
        ("2020-02T", "2020-02"),
        ("2020-02-03", "2020-02-03"),
        ("2020-02-03T04:05Z", "2020-02-03T04:05Z"),
        ("2020-02-03T04:05:06+01:30", "2020-02-03T04:05:06+01:30"),
        ("2020-02-03T04:05:06.000Z", "2020-02-03T04:05:06.000Z"),
        ("2020-02-03T04:05:06.1-08:00", "2020-02-03T04:05:06.1-08:00"),
        ("2021-02-09T02:16:06.240Z", "2021-02-09T02:16:06.240Z"),
        ("2020-01-01T00:00:00.123456789-00:00", "2020-01-01T00:00:00.123456789-00:00"),
    ],
)
def test_timestamps_keep_precision_and_offset(ion: str, iso: str) -> None:
    assert plain_of(ion) == iso
    # and the ISO form parses back to an equal Ion timestamp
    assert ion_values.format_timestamp(ion_values.timestamp_from_iso(iso)) == iso


def test_both_value_models_convert_the_same() -> None:
    text = (
        '{a: sym, b: "str", c: {{aGVsbG8=}}, d: {{"clob"}}, e: null.string, f: (1 2),'
        " g: ann::5, h: 1.50, i: 1e0, j: true, k: null, l: [1, {x: 2.0}], m: -0.0}"
    )
    bare = ion_values.to_plain(ion_values.loads(text))
    ionpy = ion_values.to_plain(simpleion.loads(text))
    assert bare == ionpy
    assert bare == {
        "a": "sym",
        "b": "str",
        "c": base64.b64encode(b"hello").decode(),
        "d": base64.b64encode(b"clob").decode(),
        "e": None,
        "f": [1, 2],
        "g": 5,
        "h": Decimal("1.50"),
        "i": 1.0,
        "j": True,
        "k": None,
        "l": [1, {"x": Decimal("2.0")}],
        "m": Decimal("-0.0"),
    }
    assert type(bare["j"]) is bool
    assert type(ionpy["g"]) is int
    assert str(bare["m"]) == "-0.0"


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        ion_values.loads(b"\xe0\x01\x00\xea\xff\xff")
    with pytest.raises(DecodeError):
        ion_values.loads("{unclosed: ")


def test_c_extension_is_in_use() -> None:
    assert ion_values.c_extension_enabled()
    assert ion_values.warn_if_slow_ion() is True


@st.composite
def ion_timestamps(draw: st.DrawFn) -> tuple[str, str]:
    """(Ion text of a timestamp, the ISO-8601 text ``to_plain`` must give for it)."""
    year = draw(st.integers(1, 9999))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    precision = draw(st.sampled_from(["year", "month", "day", "minute", "second"]))
    if precision == "year":
        return f"{year:04d}T", f"{year:04d}"
    if precision == "month":
        return f"{year:04d}-{month:02d}T", f"{year:04d}-{month:02d}"
    date = f"{year:04d}-{month:02d}-{day:02d}"
    if precision == "day":
        return date, date
    offset = draw(st.sampled_from(["Z", "+00:00", "-00:00", "+05:30", "-08:00", "+14:00"]))
    text = f"{date}T{hour:02d}:{minute:02d}"
    if precision == "second":
        text += f":{second:02d}"
        digits = draw(st.integers(0, 9))
        if digits:
            text += "." + "".join(str(draw(st.integers(0, 9))) for _ in range(digits))
    return text + offset, text + ("Z" if offset == "+00:00" else offset)


@settings(max_examples=500, deadline=None)
@given(ion_timestamps())
def test_every_timestamp_keeps_its_text_on_the_fast_path(case: tuple[str, str]) -> None:
    """The replay's fast formatter equals the generic one and keeps precision and offset."""
    ion, iso = case
    for exact in (True, False):
        value = ion_values.loads(ion, exact=exact)
        assert ion_values.to_plain(value) == iso
        assert ion_values._format_ion_timestamp(value) == ion_values._format_datetime(value) == iso


@pytest.mark.xfail(
    strict=True,
    reason="amazon-ion 0.15's C extension drops trailing zeros of decimals with more than 34 "
    "digits (0.1 followed by 35 zeros reads back with 33): such a value projects with fewer "
    "digits and its Ion hash no longer recomputes (README, Semantics)",
)
def test_decimals_beyond_34_digits_keep_their_trailing_zeros() -> None:
    text = "0." + "1" + "0" * 35
    assert str(ion_values.loads("{d: " + text + "}")["d"]) == text
