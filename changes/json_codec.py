"""JSON text for plain document values without losing decimal precision.

:func:`dumps` writes :class:`~decimal.Decimal` values as JSON numbers with their exact digits
(``Decimal('1.50')`` -> ``1.50``, never ``1.5`` or a float approximation); an integral decimal
is written with an exponent (``Decimal('5')`` -> ``5E0``) so it reads back as a decimal, not an
int. Non-finite floats, which JSON cannot represent, are written as the strings ``"nan"``,
``"+inf"`` and ``"-inf"`` (Ion's own spelling). :func:`loads` reads numbers with a fraction or
exponent back as ``Decimal``. Output is compact, keeps non-ASCII text as is, and preserves key
order.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from decimal import Decimal
from typing import Any

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


# Fast path: the C encoder writes every Decimal as one placeholder string carrying a
# per-process random token; the text is then split at the placeholders and the exact decimal
# texts put in between. The result is accepted only if exactly as many placeholders were found
# as decimals were seen, so text that happens to contain the placeholder falls back to the exact
# pure-Python writer below. The encoder writes sequentially, so with the counts equal the n-th
# placeholder is the n-th decimal.
_TOKEN = secrets.token_hex(8)
_PLACEHOLDER = f"\x00{_TOKEN}\x00"
_PLACEHOLDER_JSON: str = _encode_str(_PLACEHOLDER)
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


class _FastEncoder(threading.local):
    """One C encoder per thread, built once (building one per call costs as much as encoding).

    ``decimals`` collects the exact text of each Decimal met during one :meth:`encode` call.
    """

    def __init__(self) -> None:
        self.decimals: list[str] = []
        if _c_make_encoder is not None:
            # No circular-reference markers: plain documents are trees, and markers left behind
            # by an aborted encode would poison the next call.
            self.encode_chunks: Any = _c_make_encoder(
                None, self.default, _encode_str, None, ":", ",", False, False, False
            )
        else:  # pragma: no cover - CPython always has the C encoder
            encoder = json.JSONEncoder(
                ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=self.default
            )
            self.encode_chunks = lambda value, _level: (encoder.encode(value),)

    def default(self, obj: Any) -> str:
        if type(obj) is Decimal and obj.is_finite():
            text = str(obj)
            decimals = self.decimals
            decimals.append(text if "." in text or "E" in text else text + "E0")
            return _PLACEHOLDER
        msg = f"cannot serialise {type(obj).__name__} as JSON"
        raise TypeError(msg)

    def encode(self, value: Any) -> str | None:
        decimals = self.decimals = []
        try:
            text = "".join(self.encode_chunks(value, 0))
        except (TypeError, ValueError):
            return None
        if not decimals:
            return text
        parts = text.split(_PLACEHOLDER_JSON)
        if len(parts) != len(decimals) + 1:
            return None
        out = [parts[0]]
        for decimal, after in zip(decimals, parts[1:], strict=True):
            out.append(decimal)
            out.append(after)
        return "".join(out)


_fast = _FastEncoder()


def _dumps_fast(value: Any) -> str | None:
    return _fast.encode(value)


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
