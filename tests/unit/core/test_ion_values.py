import base64
from decimal import Decimal

import pytest
from amazon.ion import simpleion

from schemas import ion_values
from schemas.errors import DecodeError


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
