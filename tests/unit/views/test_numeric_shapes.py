"""Numeric shape marks: the narrowest exact ``DECIMAL(p, s)`` for every value a field held."""

from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.ion_kinds import IonKind
from projections.recorded_kinds import (
    SHAPE_CAP,
    KindRecord,
    NumericShape,
    numeric_shapes,
    shape_marks,
    with_int_digits,
)
from tests.support.builders import make_change


def test_marks_count_the_digits_before_and_after_the_point() -> None:
    assert shape_marks(Decimal("123.45")) == ("digits:3", "scale:2")
    assert shape_marks(Decimal("1.50")) == ("digits:1", "scale:2")
    assert shape_marks(Decimal("0.001")) == ("digits:0", "scale:3")
    assert shape_marks(Decimal("1E+5")) == ("digits:6", "scale:0")
    assert shape_marks(Decimal("-0")) == ("digits:1", "scale:0")
    assert shape_marks(2**70) == ("digits:22", "scale:0")
    assert shape_marks(Decimal("1E+400")) == (f"digits:{SHAPE_CAP}", "scale:0")
    assert shape_marks(Decimal("1E-400")) == ("digits:0", f"scale:{SHAPE_CAP}")
    assert shape_marks(True) is None and shape_marks("1.5") is None and shape_marks(None) is None


def test_the_widest_marks_make_the_shape_and_unknown_marks_are_ignored() -> None:
    records = [
        ("T", "a", "decimal"),
        ("T", "a", "digits:3"),
        ("T", "a", "scale:2"),
        ("T", "a", "digits:7"),
        ("T", "a", "scale:0"),
        ("T", "b", "scale:x"),
        ("T", "b", "colour:3"),
    ]
    assert numeric_shapes(records) == {"T": {"a": NumericShape(7, 2)}}
    assert NumericShape(7, 2).precision == 9 and NumericShape(7, 2).exact
    assert not NumericShape(30, 9).exact and not NumericShape(0, SHAPE_CAP).exact
    assert NumericShape(0, 0).precision == 1


def test_an_int_field_widens_the_shape_and_unshaped_decimals_have_none() -> None:
    assert with_int_digits(NumericShape(3, 2), {IonKind.INT, IonKind.DECIMAL}) == NumericShape(
        19, 2
    )
    assert with_int_digits(None, {IonKind.INT}) == NumericShape(19, 0)
    assert with_int_digits(None, {IonKind.INT, IonKind.DECIMAL}) is None
    assert with_int_digits(NumericShape(3, 2), {IonKind.DECIMAL}) == NumericShape(3, 2)


def test_new_kinds_adds_the_marks_of_decimal_fields_once() -> None:
    change = make_change("d", 0, data={"p": Decimal("12.5"), "n": 3})
    change = dataclasses.replace(change, field_kinds=(("p", IonKind.DECIMAL), ("n", IonKind.INT)))
    found = KindRecord().pending([change, change]).triples
    assert sorted(found) == sorted(
        [
            ("Person", "p", "decimal"),
            ("Person", "p", "digits:2"),
            ("Person", "p", "scale:1"),
            ("Person", "n", "int"),
        ]
    )
    assert KindRecord(found).pending([change]).triples == []


def test_a_signature_is_trusted_only_after_commit_and_shapes_always_count() -> None:
    base = make_change("d", 0, data={"p": Decimal("1.5"), "n": 3})
    kinds = (("n", IonKind.INT), ("p", IonKind.DECIMAL))
    first = dataclasses.replace(base, field_kinds=kinds)
    record = KindRecord()
    pending = record.pending([first])
    assert ("Person", "n", "int") in pending.triples
    # not committed (the transaction failed): the same signature is looked at again
    assert record.pending([first]).triples == pending.triples
    record.commit(pending)
    assert record.pending([first]).triples == []
    wider = dataclasses.replace(first, data={"p": Decimal("123.456"), "n": 4})
    assert sorted(record.pending([wider]).triples) == [
        ("Person", "p", "digits:3"),
        ("Person", "p", "scale:3"),
    ]


def _small(d: Decimal) -> bool:
    exponent = d.as_tuple().exponent
    return isinstance(exponent, int) and abs(exponent) < 30 and len(d.as_tuple().digits) < 30


decimals: st.SearchStrategy[Decimal] = st.decimals(
    allow_nan=False, allow_infinity=False, places=None
).filter(_small)


@given(st.lists(decimals, min_size=1, max_size=30))
def test_the_shape_holds_every_value_exactly(values: list[Decimal]) -> None:
    records = [("T", "f", mark) for v in values for mark in shape_marks(v) or ()]
    shape = numeric_shapes(records)["T"]["f"]
    context = decimal.Context(prec=200)
    for value in values:
        quantum = Decimal(1).scaleb(-shape.scale)
        assert value.quantize(quantum, context=context) == value  # no digit after the scale
        whole = abs(value).to_integral_value(rounding="ROUND_DOWN")
        assert len(str(whole).lstrip("0") or "") <= shape.digits  # the integer part fits
