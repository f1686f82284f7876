"""JSON text for plain document values without losing decimal precision.

:func:`dumps` writes :class:`~decimal.Decimal` values as JSON numbers with their exact digits
(``Decimal('1.50')`` -> ``1.50``, never ``1.5`` or a float approximation); an integral decimal
is written with an exponent (``Decimal('5')`` -> ``5E0``) so it reads back as a decimal, not an
int. Non-finite floats, which JSON cannot represent, are written as the strings ``"nan"``,
``"+inf"`` and ``"-inf"`` (Ion's own spelling). :func:`loads` reads numbers with a fraction or
exponent back as ``Decimal``. Output is compact, keeps non-ASCII text as is, and preserves key
order. Documents are written by orjson when it can write them exactly, else by the pure-Python
writer here; both give the same JSON values (property-tested).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import orjson

_encode_str: Any = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring
)


def dumps(value: Any) -> str:
    """Serialise a plain value (dict, list, str, int, bool, None, Decimal, float) to JSON text."""
    fast = _dumps_fast(value)
    if fast is not None:
        return fast
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


# Fast path: orjson, with each Decimal written through ``default`` as a JSON fragment of its
# exact text. orjson refuses integers beyond 64 bits, lone surrogates and very deep nesting (the
# exact writer below takes those) and writes NaN and infinities as ``null``, so a text with
# ``null`` in it is only kept when the value holds no such float.
def _decimal_fragment(obj: Any) -> orjson.Fragment:
    if type(obj) is Decimal and obj.is_finite():
        text = str(obj)
        return orjson.Fragment(text if "." in text or "E" in text else text + "E0")
    msg = f"cannot serialise {type(obj).__name__} as JSON"
    raise TypeError(msg)


def _dumps_fast(value: Any) -> str | None:
    """The JSON text of ``value``, or None when only the exact writer can write it."""
    try:
        text = orjson.dumps(value, default=_decimal_fragment).decode()
    except orjson.JSONEncodeError:
        return None
    if "null" in text and _has_non_finite_float(value):
        return None
    return text


def _has_non_finite_float(value: Any) -> bool:
    """Whether a NaN or an infinite float is anywhere in ``value`` (a plain dict or list)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    for item in value:
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return True
        elif (kind is dict or kind is list) and _has_non_finite_float(item):
            return True
    return False


def loads(text: str | bytes) -> Any:
    """Parse JSON text; fractional and exponent numbers come back as ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def _write(value: Any, parts: list[str]) -> None:  # noqa: PLR0912 - one branch per JSON type
    kind = type(value)
    if kind is str:
        parts.append(_encode_str(value))
    elif kind is dict:
        if not value:
            parts.append("{}")
            return
        sep = "{"
        for key, item in value.items():
            parts.append(sep)
            parts.append(_encode_str(key if isinstance(key, str) else str(key)))
            parts.append(":")
            _write(item, parts)
            sep = ","
        parts.append("}")
    elif kind is list:
        if not value:
            parts.append("[]")
            return
        sep = "["
        for item in value:
            parts.append(sep)
            _write(item, parts)
            sep = ","
        parts.append("]")
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif kind is Decimal:
        if not value.is_finite():
            msg = f"non-finite decimal {value!r} has no JSON form"
            raise ValueError(msg)
        text = str(value)
        # An integral decimal ("5", "-0") would read back as an int; the exponent keeps it a
        # Decimal (and keeps the sign of -0).
        parts.append(text if "." in text or "E" in text else text + "E0")
    elif kind is float:
        if math.isfinite(value):
            parts.append(float.__repr__(value))
        else:
            parts.append('"nan"' if math.isnan(value) else ('"+inf"' if value > 0 else '"-inf"'))
    else:
        msg = f"cannot serialise {kind.__name__} as JSON"
        raise TypeError(msg)
