"""Amazon Ion Hash over in-memory Ion values.

Implements the Ion Hash specification
(https://amazon-ion.github.io/ion-hash/docs/spec.html) for values produced by
``amazon.ion`` (0.15) ``simpleion.loads`` with the default ``IonPy`` value model and for
plain Python values. The implementation follows the reference
``amzn/ion-hash-python`` serialization byte for byte:

* every value serializes to ``B || TQ || escape(representation) || E`` where
  ``B = 0x0B``, ``E = 0x0E`` and bytes ``0x0B``, ``0x0E`` and ``0x0C`` inside the
  representation are prefixed with ``0x0C``;
* lists and s-expressions serialize as ``B || TQ || s(child)... || E``;
* structs serialize as ``B || 0xD0 || escape(concat(sorted(H(field)...))) || E`` where
  ``H(field) = digest(s(fieldName as symbol) || s(value))`` and field digests are sorted
  as unsigned byte strings;
* annotated values serialize as ``B || 0xE0 || s(annotation)... || s(value) || E``;
* scalar representations are the Ion binary encoding of the value without its type
  descriptor and length (positive-zero int/float/``0d0`` have an empty representation;
  timestamps are written in UTC after their offset, drop fractional seconds whose
  coefficient is zero with a non-negative exponent, and always carry the unknown offset
  ``-00:00`` below minute precision, as the Ion data model defines; NaN floats use the
  canonical quiet-NaN bit pattern).

Plain Python values map to Ion types as follows: ``None`` -> ``null``, ``bool`` -> bool,
``int`` -> int, ``float`` -> float, ``decimal.Decimal`` -> decimal, ``str`` -> **string**,
``bytes``/``bytearray``/``memoryview`` -> blob, ``datetime.datetime`` -> timestamp (second
precision with microseconds, exactly as ``amazon.ion`` writes it; naive datetimes have
the unknown offset ``-00:00``), ``amazon.ion.core.Timestamp`` -> timestamp with its own
precision, ``amazon.ion.symbols.SymbolToken`` -> symbol, any ``Mapping`` -> struct and
``list``/``tuple`` -> list. ``IonPy*`` values carry their Ion type in ``ion_type``
(symbol vs. string, blob vs. clob, list vs. sexp, typed nulls) and their annotations in
``ion_annotations``; both are honoured.

The module never imports ``amazon.ion``: values are recognised structurally (duck typing)
and the classification is cached per Python class, so the package stays importable and
type-checkable without the Ion library.

Guarantees:
    * Deterministic: the result depends only on the Ion data model value, never on
      field order, Python object identity or the process.
    * Equal Ion values in either value model hash equally, e.g.
      ``ion_hash(v) == ion_hash(simpleion.loads(simpleion.dumps(v)))``.
    * Unsupported or unrepresentable inputs, and values nested too deeply for the
      interpreter's recursion limit, raise :class:`IonHashError`; no partial or best-effort
      digest is ever returned.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct as _struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "IonHashError",
    "IonHasher",
    "ion_hash",
    "ion_hash_serialize",
    "sha256_digest",
]

Digest = Callable[[bytes], bytes]
_Handler = Callable[[Any], bytes]

# Ion type codes (values of amazon.ion.core.IonType, an IntEnum).
_NULL, _BOOL, _INT, _FLOAT, _DECIMAL, _TIMESTAMP = 0, 1, 2, 3, 4, 5
_SYMBOL, _STRING, _CLOB, _BLOB, _LIST, _SEXP, _STRUCT = 6, 7, 8, 9, 10, 11, 12

# Type qualifier (high nibble) per Ion type.
_TQ = {
    _NULL: 0x00,
    _BOOL: 0x10,
    _INT: 0x20,
    _FLOAT: 0x40,
    _DECIMAL: 0x50,
    _TIMESTAMP: 0x60,
    _SYMBOL: 0x70,
    _STRING: 0x80,
    _CLOB: 0x90,
    _BLOB: 0xA0,
    _LIST: 0xB0,
    _SEXP: 0xC0,
    _STRUCT: 0xD0,
}
_NULL_BYTES = {t: bytes((0x0B, tq | 0x0F, 0x0E)) for t, tq in _TQ.items()}

_END = b"\x0e"
_TRUE = b"\x0b\x11\x0e"
_FALSE = b"\x0b\x10\x0e"
_INT_ZERO = b"\x0b\x20\x0e"
_P_POS_INT = b"\x0b\x20"
_P_NEG_INT = b"\x0b\x30"
_FLOAT_ZERO = b"\x0b\x40\x0e"
_P_FLOAT = b"\x0b\x40"
_NAN_REPR = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"
_DECIMAL_ZERO = b"\x0b\x50\x0e"
_P_DECIMAL = b"\x0b\x50"
_P_TIMESTAMP = b"\x0b\x60"
_P_SYMBOL = b"\x0b\x70"
_SYMBOL_SID0 = b"\x0b\x71\x0e"
_P_STRING = b"\x0b\x80"
_P_CLOB = b"\x0b\x90"
_P_BLOB = b"\x0b\xa0"
_P_LIST = b"\x0b\xb0"
_P_SEXP = b"\x0b\xc0"
_P_STRUCT = b"\x0b\xd0"
_P_ANNOTATED = b"\x0b\xe0"
_UNKNOWN_OFFSET = b"\xc0"

_pack_double = _struct.Struct(">d").pack
_VARUINT_SMALL = [bytes((i | 0x80,)) for i in range(128)]
_VARINT_SMALL = {i: bytes(((0xC0 if i < 0 else 0x80) | abs(i),)) for i in range(-63, 64)}
_ONE_MINUTE = timedelta(minutes=1)
_FIELD_CACHE_LIMIT = 8192
# amazon.ion.core.TimestampPrecision values.
_PREC_MONTH, _PREC_DAY, _PREC_MINUTE, _PREC_SECOND = 1, 2, 3, 4


class IonHashError(ValueError):
    """Raised when a value cannot be Ion-hashed (unsupported type or invalid Ion value)."""


def sha256_digest(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``.

    Args:
        data: Bytes to digest.

    Returns:
        The 32-byte SHA-256 digest.
    """
    return hashlib.sha256(data).digest()


_needs_escape = re.compile(b"[\x0b\x0c\x0e]").search


def _escape(rep: bytes) -> bytes:
    """Prefix every 0x0B, 0x0C and 0x0E byte of ``rep`` with the escape byte 0x0C."""
    if _needs_escape(rep) is not None:
        return (
            rep.replace(b"\x0c", b"\x0c\x0c")
            .replace(b"\x0b", b"\x0c\x0b")
            .replace(b"\x0e", b"\x0c\x0e")
        )
    return rep


def _varuint(value: int) -> bytes:
    """Encode a non-negative int as an Ion VarUInt."""
    if value < 128:
        return _VARUINT_SMALL[value]
    out = bytearray(((value & 0x7F) | 0x80,))
    value >>= 7
    while value:
        out.append(value & 0x7F)
        value >>= 7
    out.reverse()
    return bytes(out)


def _varint(value: int) -> bytes:
    """Encode an int as an Ion VarInt (sign bit 0x40 in the first byte)."""
    small = _VARINT_SMALL.get(value)
    if small is not None:
        return small
    negative = value < 0
    magnitude = -value if negative else value
    out = bytearray(((magnitude & 0x7F) | 0x80,))
    magnitude >>= 7
    while magnitude:
        out.append(magnitude & 0x7F)
        magnitude >>= 7
    if out[-1] & 0x40:
        out.append(0)
    if negative:
        out[-1] |= 0x40
    out.reverse()
    return bytes(out)


def _signed_magnitude(magnitude: int, negative: bool) -> bytes:
    """Encode a non-zero magnitude as an Ion (fixed-length, sign-and-magnitude) Int."""
    length = (magnitude.bit_length() + 8) >> 3  # leaves room for the sign bit
    out = magnitude.to_bytes(length, "big")
    if negative:
        return bytes((out[0] | 0x80,)) + out[1:]
    return out


def _decimal_parts(value: Decimal) -> tuple[bool, int, int]:
    """Return ``(negative, coefficient, exponent)`` of a finite decimal."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        msg = f"decimal {value!r} is not finite and has no Ion representation"
        raise IonHashError(msg)
    coefficient = int(Decimal((0, digits, 0))) if digits else 0
    return bool(sign), coefficient, exponent


def _decimal_repr(negative: bool, coefficient: int, exponent: int) -> bytes:
    """Ion binary decimal body: VarInt exponent then Int coefficient (omitted if +0)."""
    exp = _varint(exponent)
    if coefficient:
        return exp + _signed_magnitude(coefficient, negative)
    if negative:
        return exp + b"\x80"
    return exp


def _decimal_from_text(text: str) -> bytes | None:
    """``_s_decimal`` of the finite decimal whose ``str`` is ``text``, when ``text`` is in plain
    notation (no exponent, not NaN/Infinity), else ``None``.

    ``str`` of a ``Decimal`` writes plain notation exactly when the exponent is at most 0 (and
    the adjusted exponent at least -6): then the digits, point removed, are the coefficient and
    the digits after the point count minus the exponent.
    """
    negative = text.startswith("-")
    body = text[1:] if negative else text
    whole, point, fraction = body.partition(".")
    digits = whole + fraction
    if not digits.isdigit() or not digits.isascii() or not whole:
        return None
    exponent = -len(fraction) if point else 0
    coefficient = int(digits)
    if not negative and not exponent and not coefficient:
        return _DECIMAL_ZERO
    return _P_DECIMAL + _escape(_decimal_repr(negative, coefficient, exponent)) + _END


# --------------------------------------------------------------------------- scalars


def _s_bool(value: Any) -> bytes:
    return _TRUE if value else _FALSE


def _s_int(value: Any) -> bytes:
    if value == 0:
        return _INT_ZERO
    if value > 0:
        rep = int(value).to_bytes((value.bit_length() + 7) >> 3, "big")
        return _P_POS_INT + _escape(rep) + _END
    magnitude = -int(value)
    rep = magnitude.to_bytes((magnitude.bit_length() + 7) >> 3, "big")
    return _P_NEG_INT + _escape(rep) + _END


def _s_float(value: Any) -> bytes:
    if value == 0.0 and math.copysign(1.0, value) > 0:
        return _FLOAT_ZERO
    if math.isnan(value):  # canonical quiet NaN
        return _P_FLOAT + _NAN_REPR + _END
    return _P_FLOAT + _escape(_pack_double(value)) + _END


def _s_decimal(value: Any) -> bytes:
    negative, coefficient, exponent = _decimal_parts(value)
    if not negative and not exponent and not coefficient:
        return _DECIMAL_ZERO
    return _P_DECIMAL + _escape(_decimal_repr(negative, coefficient, exponent)) + _END


def _timestamp_head(value: datetime, precision: int) -> tuple[list[bytes], datetime]:
    """Offset field plus the UTC-normalised datetime whose fields are written."""
    if precision >= _PREC_MINUTE and value.tzinfo is not None:
        offset = value.utcoffset()
        if offset is None:
            return [_UNKNOWN_OFFSET], value
        if not offset:
            return [b"\x80"], value
        fields = (value.year, value.month, value.day, value.hour, value.minute, value.second)
        try:
            utc = datetime(*fields, tzinfo=UTC) - offset
        except OverflowError as exc:
            msg = f"timestamp {value!r} is out of range in UTC"
            raise IonHashError(msg) from exc
        return [_varint(offset // _ONE_MINUTE)], utc
    return [_UNKNOWN_OFFSET], value


def _timestamp_fields(parts: list[bytes], utc: datetime, precision: int) -> None:
    parts.append(_varuint(utc.year))
    if precision >= _PREC_MONTH:
        parts.append(_VARUINT_SMALL[utc.month])
    if precision >= _PREC_DAY:
        parts.append(_VARUINT_SMALL[utc.day])
    if precision >= _PREC_MINUTE:
        parts.append(_VARUINT_SMALL[utc.hour])
        parts.append(_VARUINT_SMALL[utc.minute])
    if precision >= _PREC_SECOND:
        parts.append(_VARUINT_SMALL[utc.second])


def _s_ion_timestamp(value: Any) -> bytes:
    """Serialize an ``amazon.ion.core.Timestamp`` honouring precision and fraction."""
    precision = value.precision
    if precision is None:
        precision = _PREC_SECOND
    precision = int(precision)
    parts, utc = _timestamp_head(value, precision)
    _timestamp_fields(parts, utc, precision)
    if precision >= _PREC_SECOND:
        fraction = value.fractional_seconds
        if fraction is not None:
            negative, coefficient, exponent = _decimal_parts(fraction)
            if coefficient or exponent < 0:
                parts.append(_decimal_repr(negative, coefficient, exponent))
    return _P_TIMESTAMP + _escape(b"".join(parts)) + _END


def _s_datetime(value: Any) -> bytes:
    """Serialize a plain ``datetime`` as amazon.ion writes it (seconds + microseconds)."""
    parts, utc = _timestamp_head(value, _PREC_SECOND)
    _timestamp_fields(parts, utc, _PREC_SECOND)
    parts.append(_decimal_repr(False, value.microsecond, -6))
    return _P_TIMESTAMP + _escape(b"".join(parts)) + _END


def _utf8(text: Any, what: str) -> bytes:
    try:
        return str.encode(text, "utf-8")
    except UnicodeEncodeError as exc:
        msg = f"{what} is not valid Unicode (lone surrogate)"
        raise IonHashError(msg) from exc


def _s_string(value: Any) -> bytes:
    return _P_STRING + _escape(_utf8(value, "string")) + _END


def _s_symbol_text(text: Any) -> bytes:
    return _P_SYMBOL + _escape(_utf8(text, "symbol")) + _END


def _s_symbol_token(token: Any) -> bytes:
    """Serialize a symbol given as ``str``, ``None`` ($0) or a SymbolToken-like tuple."""
    if isinstance(token, str):
        return _s_symbol_text(token)
    if token is None:
        return _SYMBOL_SID0
    text = getattr(token, "text", None)
    if text is not None:
        return _s_symbol_text(text)
    if getattr(token, "sid", None) == 0:
        return _SYMBOL_SID0
    msg = f"symbol {token!r} has unknown text and cannot be hashed"
    raise IonHashError(msg)


def _s_blob(value: Any) -> bytes:
    return _P_BLOB + _escape(bytes(value)) + _END


def _s_clob(value: Any) -> bytes:
    return _P_CLOB + _escape(bytes(value)) + _END


# ------------------------------------------------------------------ classification

_KIND_NULL = "null"
_KIND_BOOL = "bool"
_KIND_INT = "int"
_KIND_FLOAT = "float"
_KIND_DECIMAL = "decimal"
_KIND_TIMESTAMP = "timestamp"
_KIND_DATETIME = "datetime"
_KIND_SYMBOL = "symbol"
_KIND_STR = "str"
_KIND_BYTES = "bytes"
_KIND_STRUCT = "struct"
_KIND_LIST = "list"


def _kind_of(cls: type) -> str | None:
    """Classify a Python class by the Ion data it can carry (None if unsupported)."""
    if cls is type(None):
        return _KIND_NULL
    if issubclass(cls, bool):
        return _KIND_BOOL
    if issubclass(cls, int):
        return _KIND_INT
    if issubclass(cls, float):
        return _KIND_FLOAT
    if issubclass(cls, Decimal):
        return _KIND_DECIMAL
    if issubclass(cls, datetime):
        return _KIND_TIMESTAMP if hasattr(cls, "fractional_seconds") else _KIND_DATETIME
    if issubclass(cls, str):
        return _KIND_STR
    if issubclass(cls, (bytes, bytearray, memoryview)):
        return _KIND_BYTES
    if issubclass(cls, tuple) and hasattr(cls, "sid") and hasattr(cls, "text"):
        return _KIND_SYMBOL
    if issubclass(cls, Mapping):
        return _KIND_STRUCT
    if issubclass(cls, (list, tuple)):
        return _KIND_LIST
    if cls.__name__ == "IonPyNull" and hasattr(cls, "to_event"):
        return _KIND_NULL
    return None


def _is_ionpy(cls: type) -> bool:
    """True for amazon.ion ``IonPy*`` classes (they carry ion_type/ion_annotations)."""
    return hasattr(cls, "ion_type") or (hasattr(cls, "to_event") and hasattr(cls, "from_value"))


def _pairs_multimap(value: Any) -> Any:
    """``(field_name, value)`` pairs of an ``IonPyDict``, repeated field names included."""
    store = getattr(value, "_IonPyDict__store", None)
    if isinstance(store, dict):
        return [(k, item) for k, items in store.items() for item in items]
    return value.iteritems()


def _pairs_mapping(value: Any) -> Any:
    """``(field_name, value)`` pairs of any other mapping."""
    return value.items()


def _pairs_for(cls: type) -> Callable[[Any], Any]:
    if hasattr(cls, "iteritems") and hasattr(cls, "get_all_values"):
        return _pairs_multimap
    return _pairs_mapping


_DEFAULT_TYPE = {
    _KIND_NULL: _NULL,
    _KIND_BOOL: _BOOL,
    _KIND_INT: _INT,
    _KIND_FLOAT: _FLOAT,
    _KIND_DECIMAL: _DECIMAL,
    _KIND_TIMESTAMP: _TIMESTAMP,
    _KIND_DATETIME: _TIMESTAMP,
    _KIND_STR: _STRING,
    _KIND_SYMBOL: _SYMBOL,
    _KIND_BYTES: _BLOB,
    _KIND_STRUCT: _STRUCT,
    _KIND_LIST: _LIST,
}


def _constant(serialized: bytes) -> _Handler:
    """Return a handler that ignores its value and returns ``serialized`` (typed nulls)."""

    def handler(_value: Any) -> bytes:
        return serialized

    return handler


_SCALAR_BODIES: dict[str, dict[int, _Handler]] = {
    _KIND_BOOL: {_BOOL: _s_bool, _INT: _s_int},
    _KIND_INT: {_INT: _s_int, _BOOL: _s_bool},
    _KIND_FLOAT: {_FLOAT: _s_float},
    _KIND_DECIMAL: {_DECIMAL: _s_decimal},
    _KIND_TIMESTAMP: {_TIMESTAMP: _s_ion_timestamp},
    _KIND_DATETIME: {_TIMESTAMP: _s_datetime},
    _KIND_STR: {_STRING: _s_string, _SYMBOL: _s_symbol_text},
    _KIND_SYMBOL: {_SYMBOL: _s_symbol_token},
    _KIND_BYTES: {_BLOB: _s_blob, _CLOB: _s_clob},
    _KIND_NULL: {t: _constant(b) for t, b in _NULL_BYTES.items()},
}


class IonHasher:
    """Ion Hash serializer/hasher bound to one digest function.

    Instances are immutable from the caller's point of view (they only cache
    per-class dispatch decisions and the serializations of field names, small ints, decimals
    and fractions of a second) and safe to reuse.

    Attributes:
        digest: The hash function ``h`` of the spec, used for struct fields and for the
            final digest. It must be deterministic.
    """

    def __init__(self, digest: Digest) -> None:
        """Create a hasher.

        Args:
            digest: Function mapping serialized bytes to a digest (e.g.
                :func:`sha256_digest`, or the identity for spec test vectors).
        """
        self.digest = digest
        self._reference, reference_ser, field_name = self._build()
        self._ser = _build_fast(digest, self._reference, reference_ser, field_name)

    def serialize(self, value: object) -> bytes:
        """Return the Ion Hash serialization ``s(value)`` (before the final digest).

        Args:
            value: An Ion value (IonPy or plain Python, see module docstring).

        Returns:
            The serialized bytes; struct fields inside are already digested with
            :attr:`digest`.

        Raises:
            IonHashError: If the value (or a nested value) cannot be represented in Ion.
        """
        return self._ser(value)

    def hash(self, value: object) -> bytes:
        """Return the Ion Hash of ``value``: ``digest(serialize(value))``.

        Args:
            value: An Ion value (IonPy or plain Python).

        Returns:
            The digest bytes.

        Raises:
            IonHashError: If the value cannot be represented in Ion.
        """
        return self.digest(self._ser(value))

    def _build(self) -> tuple[_Handler, _Handler, _Handler]:
        """Build the general serializer as closures: ``(top, ser, field_name)``.

        ``top`` serializes any supported value (and turns a RecursionError into an
        IonHashError), ``ser`` is its recursive step, ``field_name`` the cached serializer of
        field names and annotations. The fast serializer (:func:`_build_fast`) hands every
        value it does not take itself to these.
        """
        handlers: dict[type, _Handler] = {}
        field_name = _make_field_name()

        def ser(value: Any) -> bytes:
            handler = handlers.get(value.__class__)
            if handler is None:
                handler = resolve(value.__class__)
            return handler(value)

        def list_body(value: Any) -> bytes:
            return _P_LIST + b"".join([ser(v) for v in value]) + _END

        def sexp_body(value: Any) -> bytes:
            return _P_SEXP + b"".join([ser(v) for v in value]) + _END

        def resolve(cls: type) -> _Handler:
            kind = _kind_of(cls)
            if kind is None:
                msg = f"cannot Ion-hash a value of type {cls.__qualname__}"
                raise IonHashError(msg)
            if kind == _KIND_STRUCT:
                struct_body = _make_struct_body(self.digest, _pairs_for(cls), ser, field_name)
                bodies: dict[int, _Handler] = {_STRUCT: struct_body}
            elif kind == _KIND_LIST:
                bodies = {_LIST: list_body, _SEXP: sexp_body}
            else:
                bodies = _SCALAR_BODIES[kind]
            default_type = _DEFAULT_TYPE[kind]
            handler = (
                _make_ionpy_handler(cls.__qualname__, bodies, default_type, field_name)
                if _is_ionpy(cls)
                else bodies[default_type]
            )
            handlers[cls] = handler
            return handler

        def top(value: Any) -> bytes:
            try:
                return ser(value)
            except RecursionError as exc:
                # Deeper than the interpreter can walk (documents deeper than
                # schemas.limits.MAX_NESTING are poison anyway): no digest, never a crash.
                msg = "value nested too deeply to Ion-hash"
                raise IonHashError(msg) from exc

        return top, ser, field_name


class _Fallback(Exception):
    """The fast serializer does not take this value: the general one decides."""


_FAST_MAX_DEPTH = 100
"""Containers the fast serializer nests into (schemas.limits.MAX_NESTING); deeper values go to
the general serializer, whose recursion limit then decides, exactly as before."""
_SMALL_INTS = [_INT_ZERO] + [
    _P_POS_INT + _escape(i.to_bytes((i.bit_length() + 7) >> 3, "big")) + _END
    for i in range(1, 1024)
]
_NULL_SERIALIZED = _NULL_BYTES[_NULL]
_STRUCT_EMPTY = _P_STRUCT + _END
_PRINTABLE_NO_ESCAPE = str.isprintable  # printable text has no 0x0B, 0x0C or 0x0E byte
_DECIMAL_CACHE_LIMIT = 4096
_PAIR_CACHE_LIMIT = 16384
"""Field digests kept by (name, value); the cache starts over when full (bounded memory)."""
_PAIR_CACHE_MAX_TEXT = 64


def _build_fast(  # noqa: PLR0915 - one closure per Ion shape, hot path
    digest: Digest, general_top: _Handler, general: _Handler, field_name: _Handler
) -> _Handler:
    """Return a serializer equal to ``general_top`` on every value, faster on decoded documents.

    It takes the shapes ``schemas.ion_values`` decodes for ordinary documents itself: structs
    (``IonPyDict`` without annotations, ``dict``), ``list``, and the scalars ``str``, ``int``,
    ``bool``, ``None``, ``float``, ``Decimal``, ``bytes`` and amazon.ion's ``Timestamp``, with
    fewer calls per value and caches for field names, small ints, decimals and fractions of a
    second (keyed by their exact text: ``str`` of a finite decimal gives its sign, digits and
    exponent). Any other scalar is serialized by ``general`` (scalars do not recurse); any
    other container (annotated or IonPy lists, s-expressions, annotated structs, other
    mappings), any value nested more than ``_FAST_MAX_DEPTH`` containers deep and any error
    hand the whole value to ``general_top``, so results and error messages are the general
    serializer's.
    """
    is_sha256 = digest is sha256_digest
    cache_pairs = is_sha256  # other digests (test vectors) see every digest() call
    pair_cache: dict[tuple[object, object], bytes] = {}
    sha256 = hashlib.sha256
    field_cache: dict[object, bytes] = {}
    decimal_cache: dict[str, bytes] = {}
    fraction_cache: dict[str, bytes] = {}
    year_cache: dict[int, bytes] = {}
    offset_cache: dict[timedelta, bytes] = {}
    scalars: dict[type, _Handler] = {}
    containers: dict[type, Callable[[Any, int], bytes]] = {}

    def f_name(name: Any) -> bytes:
        serialized = field_cache.get(name)
        if serialized is None:
            serialized = field_name(name)
            if len(field_cache) < _FIELD_CACHE_LIMIT:
                field_cache[name] = serialized
        return serialized

    def f_str(value: Any) -> bytes:
        rep: bytes = value.encode()
        if not _PRINTABLE_NO_ESCAPE(value) and _needs_escape(rep) is not None:
            rep = _escape(rep)
        return _P_STRING + rep + _END

    def f_int(value: int) -> bytes:
        if 0 <= value < 1024:
            return _SMALL_INTS[value]
        return _s_int(value)

    def f_decimal(value: Any) -> bytes:
        key = str(value)
        serialized = decimal_cache.get(key)
        if serialized is None:
            serialized = _decimal_from_text(key) or _s_decimal(value)
            if len(decimal_cache) < _DECIMAL_CACHE_LIMIT:
                decimal_cache[key] = serialized
        return serialized

    def f_blob(value: bytes) -> bytes:
        if _needs_escape(value) is not None:
            return _P_BLOB + _escape(value) + _END
        return _P_BLOB + value + _END

    def f_timestamp(value: Any) -> bytes:
        precision = value.precision
        if precision is None or precision == _PREC_SECOND:
            return second_timestamp(value)
        if precision == _PREC_DAY:
            year = value.year
            year_rep = year_cache.get(year)
            if year_rep is None:
                year_rep = year_cache[year] = _varuint(year)
            rep = _UNKNOWN_OFFSET + year_rep + bytes((value.month | 0x80, value.day | 0x80))
            if _needs_escape(rep) is not None:
                rep = _escape(rep)
            return _P_TIMESTAMP + rep + _END
        return _s_ion_timestamp(value)

    def second_timestamp(value: Any) -> bytes:
        fraction = value.fractional_seconds
        if fraction is not None and fraction.__class__ is not Decimal:
            return _s_ion_timestamp(value)
        offset = value.utcoffset()
        utc = value
        if offset is None:
            head = _UNKNOWN_OFFSET
        elif not offset:
            head = b"\x80"
        else:  # the fields are written in UTC after the offset
            cached = offset_cache.get(offset)
            if cached is None:
                cached = offset_cache[offset] = _varint(offset // _ONE_MINUTE)
            head = cached
            utc = (
                datetime(
                    value.year,
                    value.month,
                    value.day,
                    value.hour,
                    value.minute,
                    value.second,
                    tzinfo=UTC,
                )
                - offset
            )  # an OverflowError falls back to the general serializer and its message
        year = utc.year
        year_rep = year_cache.get(year)
        if year_rep is None:
            year_rep = year_cache[year] = _varuint(year)
        rep = (
            head
            + year_rep
            + bytes(
                (
                    utc.month | 0x80,
                    utc.day | 0x80,
                    utc.hour | 0x80,
                    utc.minute | 0x80,
                    utc.second | 0x80,
                )
            )
        )
        if fraction is not None:
            key = str(fraction)
            fraction_rep = fraction_cache.get(key)
            if fraction_rep is None:
                negative, coefficient, exponent = _decimal_parts(fraction)
                fraction_rep = (
                    _decimal_repr(negative, coefficient, exponent)
                    if coefficient or exponent < 0
                    else b""
                )
                if len(fraction_cache) < _DECIMAL_CACHE_LIMIT:
                    fraction_cache[key] = fraction_rep
            rep += fraction_rep
        if _needs_escape(rep) is not None:
            rep = _escape(rep)
        return _P_TIMESTAMP + rep + _END

    def one(value: Any, depth: int) -> bytes:
        cls = value.__class__
        handler = scalars.get(cls)
        if handler is not None:
            return handler(value)
        container = containers.get(cls)
        if container is None:
            return other(value, depth)
        if depth >= _FAST_MAX_DEPTH:
            raise _Fallback
        return container(value, depth + 1)

    def other(value: Any, depth: int) -> bytes:
        """A value of a class seen for the first time: take it, give it to ``general`` (a
        scalar) or fall back."""
        cls = value.__class__
        kind = _kind_of(cls)
        if kind == _KIND_STRUCT and _is_ionpy(cls) and _pairs_for(cls) is _pairs_multimap:
            containers[cls] = f_multimap
            return one(value, depth)
        if kind is None or kind in (_KIND_STRUCT, _KIND_LIST):
            raise _Fallback
        if kind == _KIND_TIMESTAMP and not _is_ionpy(cls) and cls.__name__ == "Timestamp":
            scalars[cls] = f_timestamp
        else:
            scalars[cls] = general  # IonPy scalars, symbols, datetimes, subclasses
        return scalars[cls](value)

    def field_digest(name: Any, item: Any, depth: int) -> bytes:
        """``h(s(name as symbol) || s(item))``, one field of a struct."""
        cls = item.__class__
        if cls is str:
            rep = item.encode()
            if not _PRINTABLE_NO_ESCAPE(item) and _needs_escape(rep) is not None:
                rep = _escape(rep)
            serialized = _P_STRING + rep + _END
        else:
            handler = scalars.get(cls)
            serialized = handler(item) if handler is not None else one(item, depth)
        data = field_cache.get(name)
        data = (f_name(name) if data is None else data) + serialized
        return sha256(data).digest() if is_sha256 else digest(data)

    def cached_field_digest(name: Any, item: Any, depth: int) -> bytes:
        """:func:`field_digest` of a ``str`` or ``int`` field not in the cache yet: digests of
        such fields are cached by ``(name, item)`` (names of tables, statements, enum-like
        fields and versions repeat)."""
        hashed = field_digest(name, item, depth)
        if item.__class__ is int or len(item) <= _PAIR_CACHE_MAX_TEXT:
            if len(pair_cache) >= _PAIR_CACHE_LIMIT:
                pair_cache.clear()
            pair_cache[(name, item)] = hashed
        return hashed

    def f_multimap(value: Any, depth: int) -> bytes:
        if value.ion_annotations or value.ion_type != _STRUCT:
            raise _Fallback
        hashes: list[bytes] = []
        append = hashes.append
        for name, items in value._IonPyDict__store.items():
            for item in items:
                cls = item.__class__
                if cache_pairs and (cls is str or cls is int):
                    hashed = pair_cache.get((name, item))
                    append(cached_field_digest(name, item, depth) if hashed is None else hashed)
                    continue
                handler = scalars.get(cls)
                if handler is not None:
                    serialized = handler(item)
                else:  # a nested container, as one() takes it, or one() decides
                    container = containers.get(cls)
                    if container is not None and depth < _FAST_MAX_DEPTH:
                        serialized = container(item, depth + 1)
                    else:
                        serialized = one(item, depth)
                prefix = field_cache.get(name)
                data = (f_name(name) if prefix is None else prefix) + serialized
                append(sha256(data).digest() if is_sha256 else digest(data))
        if not hashes:
            return _STRUCT_EMPTY
        hashes.sort()
        return _P_STRUCT + _escape(b"".join(hashes)) + _END

    def f_dict(value: Any, depth: int) -> bytes:
        hashes: list[bytes] = []
        append = hashes.append
        for name, item in value.items():
            cls = item.__class__
            if cache_pairs and (cls is str or cls is int):
                hashed = pair_cache.get((name, item))
                append(cached_field_digest(name, item, depth) if hashed is None else hashed)
                continue
            handler = scalars.get(cls)
            serialized = handler(item) if handler is not None else one(item, depth)
            prefix = field_cache.get(name)
            data = (f_name(name) if prefix is None else prefix) + serialized
            append(sha256(data).digest() if is_sha256 else digest(data))
        if not hashes:
            return _STRUCT_EMPTY
        hashes.sort()
        return _P_STRUCT + _escape(b"".join(hashes)) + _END

    def f_list(value: Any, depth: int) -> bytes:
        get = scalars.get
        return (
            _P_LIST
            + b"".join(
                [
                    handler(item)
                    if (handler := get(item.__class__)) is not None
                    else one(item, depth)
                    for item in value
                ]
            )
            + _END
        )

    taken: dict[type, _Handler] = {
        str: f_str,
        int: f_int,
        bool: _s_bool,
        type(None): lambda _value: _NULL_SERIALIZED,
        float: _s_float,
        Decimal: f_decimal,
        bytes: f_blob,
    }
    scalars.update(taken)
    containers.update({dict: f_dict, list: f_list})

    def top(value: Any) -> bytes:
        try:
            return one(value, 0)
        except Exception:  # noqa: BLE001 - the general serializer decides: same result or error
            return general_top(value)

    return top


def _make_field_name() -> _Handler:
    """Return a caching serializer for field names and annotations (symbol tokens)."""
    cache: dict[object, bytes] = {}

    def field_name(name: Any) -> bytes:
        cached = cache.get(name)
        if cached is None:
            cached = _s_symbol_token(name)
            if len(cache) < _FIELD_CACHE_LIMIT:
                cache[name] = cached
        return cached

    return field_name


def _make_struct_body(
    digest: Digest, pairs: Callable[[Any], Any], ser: _Handler, field_name: _Handler
) -> _Handler:
    """Return the struct serializer: sorted, escaped field digests between markers."""
    if digest is sha256_digest:
        sha256 = hashlib.sha256

        def sha256_struct_body(value: Any) -> bytes:
            hashes = [sha256(field_name(k) + ser(v)).digest() for k, v in pairs(value)]
            if not hashes:
                return _P_STRUCT + _END
            hashes.sort()
            return _P_STRUCT + _escape(b"".join(hashes)) + _END

        return sha256_struct_body

    def struct_body(value: Any) -> bytes:
        hashes = [digest(field_name(k) + ser(v)) for k, v in pairs(value)]
        if not hashes:
            return _P_STRUCT + _END
        hashes.sort()
        return _P_STRUCT + _escape(b"".join(hashes)) + _END

    return struct_body


def _make_ionpy_handler(
    name: str, bodies: dict[int, _Handler], default_type: int, field_name: _Handler
) -> _Handler:
    """Return a handler honouring an IonPy value's ``ion_type`` and ``ion_annotations``."""

    def ionpy(value: Any) -> bytes:
        try:
            ion_type = value.ion_type
        except AttributeError:
            ion_type = default_type
        body_fn = bodies.get(ion_type)
        if body_fn is None:
            msg = f"{name} cannot carry Ion type {ion_type!r}"
            raise IonHashError(msg)
        try:
            annotations = value.ion_annotations
        except AttributeError:
            return body_fn(value)
        if annotations:
            return (
                _P_ANNOTATED
                + b"".join([field_name(a) for a in annotations])
                + body_fn(value)
                + _END
            )
        return body_fn(value)

    return ionpy


_SHA256_HASHER = IonHasher(sha256_digest)
_sha256 = hashlib.sha256
_sha256_serialize = _SHA256_HASHER.serialize


def ion_hash(value: object) -> bytes:
    """Return the SHA-256 Ion Hash of an Ion value.

    Args:
        value: An Ion value: an ``IonPy*`` value as returned by
            ``amazon.ion.simpleion.loads`` (default value model) or a plain Python value
            (see the module docstring for the type mapping; ``str`` is an Ion string).

    Returns:
        The 32-byte digest, identical to ``ionhash``'s ``value.ion_hash("SHA256")`` and
        to the hashes QLDB stores for documents, metadata and ``transactionInfo``.

    Raises:
        IonHashError: If the value cannot be represented in Ion (unsupported Python
            type, non-finite decimal, symbol with unknown text, lone surrogates, ...).
    """
    return _sha256(_sha256_serialize(value)).digest()


def ion_hash_serialize(value: object, digest: Digest = sha256_digest) -> bytes:
    """Return the Ion Hash serialization ``s(value)`` for an arbitrary digest function.

    Useful for spec test vectors (which use an identity "digest") and diagnostics.

    Args:
        value: An Ion value (IonPy or plain Python).
        digest: Digest used for struct fields (the final digest is *not* applied).

    Returns:
        The serialized bytes.

    Raises:
        IonHashError: If the value cannot be represented in Ion.
    """
    if digest is sha256_digest:
        return _sha256_serialize(value)
    return IonHasher(digest).serialize(value)
