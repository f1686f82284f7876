"""Hypothesis strategies for Ion values of every type, in every value model the code meets.

``ion_values()`` draws plain Python values (what the exact and fast decoders give for ordinary
documents: ``str``, ``int``, ``Decimal``, ``Timestamp``, ``bytes``, ``list``, ``dict``,
``IonPyDict``)
mixed with ``IonPy*`` values carrying annotations, typed nulls, symbols (unknown text too),
clobs, s-expressions, duplicate field names, decimals with exponents and negative zero, floats
with NaN, infinities and negative zero, timestamps of every precision and offset, strings with
the bytes Ion hashing escapes, and now and then a value that cannot be hashed or converted (a
lone surrogate, a non-finite decimal) or one nested about ``MAX_NESTING`` levels deep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from amazon.ion.core import IonType, Timestamp, TimestampPrecision
from amazon.ion.simple_types import (
    IonPyBool,
    IonPyBytes,
    IonPyDecimal,
    IonPyDict,
    IonPyFloat,
    IonPyInt,
    IonPyList,
    IonPyNull,
    IonPySymbol,
    IonPyText,
    IonPyTimestamp,
)
from amazon.ion.symbols import SymbolToken
from hypothesis import strategies as st

from schemas.limits import MAX_NESTING

NAIVE_MIN = datetime(1900, 1, 1)  # noqa: DTZ001 - hypothesis bounds must be naive
NAIVE_MAX = datetime(9998, 12, 31)  # noqa: DTZ001

_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)


@st.composite
def ion_timestamps(draw: st.DrawFn) -> Timestamp:
    """amazon.ion Timestamps of every precision, offset (unknown, UTC, any) and fraction."""
    precision = draw(st.sampled_from(list(TimestampPrecision)))
    dt = draw(st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX))
    tz = None
    if precision >= TimestampPrecision.MINUTE:
        minutes = draw(st.none() | st.just(0) | _offsets)
        tz = None if minutes is None else timezone(timedelta(minutes=minutes))
    fraction = None
    if precision == TimestampPrecision.SECOND:
        digits = draw(st.integers(min_value=-2, max_value=9))
        if digits < 0:  # 0d1, 0d2: a zero fraction with a positive exponent
            fraction = Decimal((0, (0,), -digits))
        else:
            coefficient = draw(st.integers(min_value=0, max_value=10**digits - 1))
            fraction = draw(st.none() | st.just(Decimal(coefficient).scaleb(-digits)))
    return Timestamp(
        dt.year,
        dt.month if precision >= TimestampPrecision.MONTH else 1,
        dt.day if precision >= TimestampPrecision.DAY else 1,
        dt.hour if precision >= TimestampPrecision.MINUTE else 0,
        dt.minute if precision >= TimestampPrecision.MINUTE else 0,
        dt.second if precision >= TimestampPrecision.SECOND else 0,
        None,
        tz,
        precision=precision,
        fractional_seconds=fraction,
    )


_datetimes = st.datetimes(
    min_value=NAIVE_MIN,
    max_value=NAIVE_MAX,
    # hypothesis' overloads refuse naive bounds with a mix of None and tzinfo, which it accepts
    # at run time (aware values between the naive bounds in each zone)
    timezones=st.none() | st.just(UTC) | _offsets.map(lambda m: timezone(timedelta(minutes=m))),  # type: ignore[arg-type]
)
_escaped_text = st.text(alphabet=st.sampled_from("a\x0b\x0c\x0eé\u2603\U0001f600 \n"), max_size=8)
_text = st.text(max_size=12) | _escaped_text
_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(
        lambda sign, coefficient, exponent: Decimal(
            (sign, tuple(map(int, str(coefficient))), exponent)
        ),
        st.integers(0, 1),
        st.integers(min_value=0, max_value=10**40),
        st.integers(min_value=-80, max_value=80),
    ),
    st.sampled_from(
        [Decimal("0"), Decimal("-0"), Decimal("-0.00"), Decimal("0E+3"), Decimal("1E+5")]
    ),
)
_floats = st.floats() | st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf")])
_bytes = st.binary(max_size=40) | st.sampled_from([b"\x0b\x0c\x0e", b"\x0e" * 3])
_symbols = st.one_of(
    st.builds(SymbolToken, _text, st.none() | st.integers(0, 20)),
    st.sampled_from([SymbolToken(None, 0), SymbolToken(None, 10)]),  # $0 and an unknown text
)
_annotations = st.lists(_text.map(str) | _symbols, max_size=2).map(tuple)

plain_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    _floats,
    _decimals,
    _text,
    _bytes,
    ion_timestamps(),
    _datetimes,
)
"""What decoders give for scalars without annotations (plus plain ``datetime``)."""

_unusual = st.one_of(
    st.sampled_from(["\ud800", Decimal("NaN"), Decimal("-Infinity")]),
    _symbols,
)
_ionpy_scalars = st.one_of(
    st.builds(
        lambda t, a: IonPyNull.from_value(t, None, a), st.sampled_from(list(IonType)), _annotations
    ),
    st.builds(lambda s, a: IonPySymbol.from_value(IonType.SYMBOL, s, a), _text, _annotations),
    st.builds(lambda s, a: IonPyText.from_value(IonType.SYMBOL, s, a), _text, _annotations),
    st.builds(lambda s, a: IonPyText.from_value(IonType.STRING, s, a), _text, _annotations),
    st.builds(
        lambda b, t, a: IonPyBytes.from_value(t, b, a),
        _bytes,
        st.sampled_from([IonType.CLOB, IonType.BLOB]),
        _annotations,
    ),
    st.builds(
        lambda ts, a: IonPyTimestamp.from_value(IonType.TIMESTAMP, ts, a),
        ion_timestamps(),
        _annotations,
    ),
    st.builds(lambda i, a: IonPyInt.from_value(IonType.INT, i, a), st.integers(), _annotations),
    st.builds(lambda b, a: IonPyBool.from_value(IonType.BOOL, b, a), st.booleans(), _annotations),
    st.builds(lambda f, a: IonPyFloat.from_value(IonType.FLOAT, f, a), _floats, _annotations),
    st.builds(lambda d, a: IonPyDecimal.from_value(IonType.DECIMAL, d, a), _decimals, _annotations),
)


def multimap(pairs: list[tuple[Any, Any]], annotations: tuple[Any, ...] = ()) -> IonPyDict:
    """An ``IonPyDict`` holding ``pairs`` in order, repeated field names included."""
    result = IonPyDict()
    for key, value in pairs:
        result.add_item(key, value)
    result.ion_annotations = annotations
    return result


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = _text | st.sampled_from(["a", "b", "id"]) | _symbols
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
        st.builds(multimap, st.lists(st.tuples(keys, children), max_size=4)),
        st.builds(multimap, st.lists(st.tuples(keys, children), max_size=3), _annotations),
        st.builds(
            lambda items, t, a: IonPyList.from_value(t, items, a),
            st.lists(children, max_size=3),
            st.sampled_from([IonType.LIST, IonType.SEXP]),
            _annotations,
        ),
    )


def _nest(value: Any, depth: int, as_dict: bool) -> Any:
    for _ in range(depth):
        value = multimap([("n", value)]) if as_dict else [value]
    return value


deep_values = st.builds(
    _nest, plain_scalars, st.integers(MAX_NESTING - 3, MAX_NESTING + 3), st.booleans()
)
"""Values nested around ``MAX_NESTING`` levels deep."""


def ion_values(*, unusual: bool = True) -> st.SearchStrategy[Any]:
    """Ion values of every type and value model (see the module docstring).

    ``unusual`` mixes in values that cannot be hashed or converted and deeply nested ones.
    """
    scalars = plain_scalars | _ionpy_scalars
    if unusual:
        scalars = scalars | _unusual
    values = st.recursive(scalars, _containers, max_leaves=16)
    return values | deep_values if unusual else values
