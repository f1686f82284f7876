"""The one place where Amazon Ion values become plain Python values.

Guarantees of :func:`to_plain` (the form every projection stores):

* Ion ``decimal`` stays :class:`decimal.Decimal` with its exact digits and exponent (``1.50``
  stays ``Decimal('1.50')``); Ion ``int`` is ``int``; Ion ``float`` is ``float``.
* Ion ``timestamp`` becomes an ISO-8601 string that keeps the original precision and offset:
  ``2020T`` -> ``"2020"``, ``2021-02-09T02:16:06.240Z`` -> ``"2021-02-09T02:16:06.240Z"``,
  ``...06.1-08:00`` keeps ``.1`` and ``-08:00``, an unknown offset stays ``-00:00``. The C
  extension keeps at most 9 fractional digits (amazon-ion issue #160).
* Ion ``blob`` and ``clob`` become standard base64 strings.
* Ion ``symbol`` and ``string`` become ``str``; ``list`` and ``sexp`` become ``list``; ``struct``
  becomes ``dict`` (the last of duplicate field names wins); every typed null becomes ``None``.
* Annotations are dropped, at any depth and on any type, in both value models.
* Containers nested more than ``schemas.limits.MAX_NESTING`` levels deep, and symbols whose text
  is unknown, raise :class:`~core.errors.DecodeError` (poison), never a RecursionError.

Everything here is pure except :func:`iter_values`, which reads from a file object it is given.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import io
import warnings
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any, cast

from amazon.ion import simpleion
from amazon.ion.core import IonType, Timestamp, TimestampPrecision
from amazon.ion.exceptions import IonException
from amazon.ion.simple_types import IonPyDict, IonPyNull
from amazon.ion.symbols import SymbolToken

from core.errors import DecodeError
from core.ion_kinds import FieldKinds, IonKind
from schemas.ion_binary_check import ION_BVM, ByteSource, CheckedIonStream, check_ion_binary
from schemas.limits import MAX_INT64, MAX_NESTING

ION_BINARY_MARKER = ION_BVM
"""The Ion 1.0 binary version marker that starts every Ion binary stream."""

# MAY_BE_BARE keeps every distinction Ion hashing needs (symbols stay SymbolToken, typed nulls,
# clobs, sexps and annotated values stay IonPy objects) and decodes about 2.4x faster than the
# default model. Verification needs that exact model.
_EXACT_MODEL = simpleion.IonPyValueModel.MAY_BE_BARE
# Structs as plain dicts decode about 1.8x faster again and make field access cheap; only the
# order of duplicate field names and struct annotations are lost, which projections never keep.
_FAST_MODEL = simpleion.IonPyValueModel.MAY_BE_BARE | simpleion.IonPyValueModel.STRUCT_AS_STD_DICT
_VALUE_MODEL = _EXACT_MODEL
_ION_ERRORS = (IonException, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError)


def c_extension_enabled() -> bool:
    """Return True when amazon-ion decodes with its C extension (about 13x faster)."""
    return bool(simpleion.c_ext)


def warn_if_slow_ion() -> bool:
    """Warn loudly when the amazon-ion C extension is missing; return whether it is present."""
    if c_extension_enabled():
        return True
    warnings.warn(
        "amazon-ion is running WITHOUT its C extension: decoding is about 13x slower and will "
        "not keep up with one Kinesis shard. Install a binary amazon-ion wheel for this platform.",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


def loads(data: bytes | str, *, exact: bool = True) -> Any:
    """Decode exactly one Ion value (binary or text); raise DecodeError on any malformed input.

    ``exact=True`` keeps everything Ion hashing needs; ``exact=False`` returns structs as plain
    dicts (faster, for values that are only projected). Ion binary passes
    :func:`~schemas.ion_binary_check.check_ion_binary` first: the C reader can hang or crash on
    malformed binary.
    """
    if isinstance(data, bytes) and data.startswith(ION_BINARY_MARKER):
        check_ion_binary(data)
    elif isinstance(data, bytes):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"Ion text is not valid UTF-8 at byte {exc.start}"
            raise DecodeError(msg) from exc
    try:
        return simpleion.loads(data, value_model=_EXACT_MODEL if exact else _FAST_MODEL)
    except _ION_ERRORS as exc:
        msg = f"not a valid Ion value: {exc}"
        raise DecodeError(msg) from exc


def iter_values(
    stream: IO[bytes], *, exact: bool = True, check_binary: bool = True
) -> Iterator[Any]:
    """Yield top-level Ion values from a binary or text stream lazily, one at a time.

    Memory stays bounded by the largest single value, not by the stream size. A truncated or
    corrupt stream raises DecodeError at the first value that cannot be read. ``exact`` as in
    :func:`loads`. Ion binary reaches the C reader only through
    :class:`~schemas.ion_binary_check.CheckedIonStream`, one checked top-level value at a time,
    unless ``check_binary`` is False: only for a caller whose process is watched from outside
    (``consumers.ion_watchdog``), since the C reader can hang or crash on malformed binary. Ion
    text is always checked to be UTF-8 (the C reader crashes on invalid UTF-8 in field names).
    """
    head = b""
    while len(head) < len(ION_BINARY_MARKER):
        more = stream.read(len(ION_BINARY_MARKER) - len(head))
        if not more:
            break
        head += more
    checked: CheckedIonStream | _Utf8Stream | _Prefixed
    if head == ION_BINARY_MARKER and not check_binary:
        checked = _Prefixed(head, stream)  # watched from outside: bytes as they are
    elif head == ION_BINARY_MARKER:
        checked = CheckedIonStream(_Prefixed(head, stream))
    else:
        checked = _Utf8Stream(_Prefixed(head, stream))
    source = io.BufferedReader(checked)
    try:
        reader = simpleion.load(
            source,
            single_value=False,
            parse_eagerly=False,
            value_model=_EXACT_MODEL if exact else _FAST_MODEL,
        )
        yield from reader
    except _ION_ERRORS as exc:
        if checked.error is not None:
            raise checked.error from exc
        msg = f"corrupt or truncated Ion data: {exc}"
        raise DecodeError(msg) from exc
    if checked.error is not None:
        raise checked.error


class _Utf8Stream(io.RawIOBase):
    """Ion text that is valid UTF-8, or a clean end and ``error``: amazon-ion's C reader crashes
    the process on invalid UTF-8 in a field name or symbol of Ion text."""

    def __init__(self, raw: ByteSource) -> None:
        super().__init__()
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._offset = 0
        self._pending = b""
        self._carry = b""
        self.error: DecodeError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and self.error is None:
            chunk = self._raw.read(max(len(buffer), 1 << 16)) or b""
            try:
                self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                offset = self._offset - len(self._carry) + exc.start
                self.error = DecodeError(f"Ion text is not valid UTF-8 at byte {offset}")
                return 0
            if not chunk:
                return 0
            self._offset += len(chunk)
            # Bytes of a character not complete yet wait for the next chunk.
            waiting = len(self._decoder.getstate()[0])
            whole = self._carry + chunk
            self._pending, self._carry = (
                whole[: len(whole) - waiting],
                whole[len(whole) - waiting :],
            )
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read) followed by the rest of ``stream``; it checks nothing, so
    ``error`` is always None."""

    error: DecodeError | None = None

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def dumps_pure(value: Any) -> bytes:
    """Ion binary of ``value`` written by amazon-ion's pure-Python writer, never the C writer.

    For untrusted values set aside in dead letters: the C writer can spin forever on some inputs
    (a lone surrogate in a field name). Raises DecodeError when ``value`` has no Ion form.
    """
    buffer = io.BytesIO()
    try:
        simpleion.dump_python(value, buffer, binary=True)
    except (*_ION_ERRORS, RecursionError) as exc:
        msg = f"value has no Ion form: {exc}"
        raise DecodeError(msg) from exc
    return buffer.getvalue()


_PLAIN_SCALARS = frozenset({str, int, bool, Decimal, float, type(None)})


def to_plain(value: Any, depth_left: int = MAX_NESTING) -> Any:  # noqa: PLR0912 - one branch per Ion type, hot path
    """Convert a decoded Ion value (any value model) or a JSON value to the plain form above.

    Both value models give the same result for every Ion value (annotations at any depth are
    dropped). Raises DecodeError for containers nested more than ``depth_left`` levels deep
    (``schemas.limits.MAX_NESTING`` by default; ``value`` itself is level 1) and for values
    with no plain form (a symbol whose text is unknown, an unsupported type).
    """
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind is dict:
        if depth_left < 1:
            raise _too_deep()
        scalars = _PLAIN_SCALARS
        inner = depth_left - 1
        return {k: v if type(v) in scalars else to_plain(v, inner) for k, v in value.items()}
    if kind is list:
        if depth_left < 1:
            raise _too_deep()
        scalars = _PLAIN_SCALARS
        inner = depth_left - 1
        return [v if type(v) in scalars else to_plain(v, inner) for v in value]
    if kind is Timestamp:
        return _format_ion_timestamp(value)
    if kind is IonPyDict:  # the exact model's structs: the same as items() below, faster
        if depth_left < 1:
            raise _too_deep()
        scalars = _PLAIN_SCALARS
        inner = depth_left - 1
        return {
            key if type(key) is str else _field_name(key): (
                item if type(item) in scalars else to_plain(item, inner)
            )
            for key, items in value._IonPyDict__store.items()
            for item in items
        }
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, IonPyNull):
        return None
    if isinstance(value, dict | IonPyDict):  # annotated structs of either model
        if depth_left < 1:
            raise _too_deep()
        inner = depth_left - 1
        return {_field_name(key): to_plain(item, inner) for key, item in value.items()}
    if isinstance(value, list):  # annotated lists, s-expressions
        if depth_left < 1:
            raise _too_deep()
        inner = depth_left - 1
        return [to_plain(item, inner) for item in value]
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, SymbolToken):
        return _symbol_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    ion_type = getattr(value, "ion_type", None)
    if isinstance(value, bool) or ion_type is IonType.BOOL:
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    msg = f"unsupported Ion value of type {kind.__name__}"
    raise DecodeError(msg)


_PLAIN_LEAVES = frozenset({str, int, bool, Decimal, float, type(None), Timestamp, bytes, IonPyNull})


def has_plain_form(value: Any, depth_left: int = MAX_NESTING) -> bool:
    """True only when :func:`to_plain` ``(value, depth_left)`` certainly returns without raising.

    A cheap walk that builds nothing, for callers that only need to know whether a value is
    poison (``qldb-cdc verify``). It accepts just the shapes decoders produce for ordinary
    documents (plain scalars, timestamps, blobs, untyped nulls, plain lists and structs whose
    field names are ``str``, within ``depth_left`` levels); for anything else (annotated or
    other IonPy values, symbols, deep nesting) it answers False and the caller must ask
    :func:`to_plain` itself, which gives the exact result or error.
    """
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return True
    if depth_left < 1:
        return False
    if kind is IonPyDict:
        store: dict[Any, list[Any]] = value._IonPyDict__store
        for key, items in store.items():
            if type(key) is not str or not _all_plain(items, depth_left - 1):
                return False
        return True
    if kind is dict:
        for key in value:
            if type(key) is not str:
                return False
        return _all_plain(value.values(), depth_left - 1)
    if kind is list:
        return _all_plain(value, depth_left - 1)
    return False


def _all_plain(items: Iterable[Any], depth_left: int) -> bool:
    leaves = _PLAIN_LEAVES
    for item in items:
        if type(item) not in leaves and not has_plain_form(item, depth_left):
            return False
    return True


_KIND_OF_TYPE: dict[type, IonKind] = {
    str: IonKind.STRING,
    bool: IonKind.BOOL,
    float: IonKind.FLOAT,
    Decimal: IonKind.DECIMAL,
    type(None): IonKind.NULL,
    SymbolToken: IonKind.SYMBOL,
    bytes: IonKind.BLOB,
    dict: IonKind.STRUCT,
    list: IonKind.LIST,
}
_KIND_OF_ION_TYPE: dict[IonType, IonKind] = {
    IonType.NULL: IonKind.NULL,
    IonType.BOOL: IonKind.BOOL,
    IonType.FLOAT: IonKind.FLOAT,
    IonType.DECIMAL: IonKind.DECIMAL,
    IonType.STRING: IonKind.STRING,
    IonType.SYMBOL: IonKind.SYMBOL,
    IonType.BLOB: IonKind.BLOB,
    IonType.CLOB: IonKind.CLOB,
    IonType.STRUCT: IonKind.STRUCT,
    IonType.LIST: IonKind.LIST,
    IonType.SEXP: IonKind.SEXP,
}
_MIN_INT64 = -MAX_INT64 - 1
_INT, _INT_BIG, _TIMESTAMP_KIND = IonKind.INT, IonKind.INT_BIG, IonKind.TIMESTAMP
_KIND_OF_PRECISION = {
    TimestampPrecision.YEAR: IonKind.TIMESTAMP_COARSE,
    TimestampPrecision.MONTH: IonKind.TIMESTAMP_COARSE,
    TimestampPrecision.DAY: IonKind.DATE,
}
"""Timestamps of these precisions; minute and finer (and none) are ``TIMESTAMP``."""


def field_kinds(value: Any) -> FieldKinds:
    """The :class:`~core.ion_kinds.IonKind` of each top-level field of the struct ``value``
    (a decoded Ion value of either value model, or a JSON value), in document order; ``()``
    for anything that is not a struct.

    Typed nulls are ``NULL`` (they carry no value); annotations are ignored. A field name
    repeated in the struct is listed once per occurrence. Field names are as
    :func:`to_plain` gives them; a symbol field name with unknown text is left out (the
    revision is poison for :func:`to_plain` anyway).
    """
    if not isinstance(value, dict | IonPyDict):
        return ()
    kinds: list[tuple[str, IonKind]] = []
    of_type = _KIND_OF_TYPE
    pairs: Any
    if type(value) is IonPyDict:  # the same pairs as items(), faster
        store: dict[Any, list[Any]] = cast(Any, value)._IonPyDict__store
        pairs = [(key, item) for key, items in store.items() for item in items]
    else:
        pairs = value.items()
    for key, item in pairs:
        kind = of_type.get(type(item))
        if kind is None:  # the common others inline (replay hot path), the rest in _kind
            if type(item) is int:
                kind = _INT if _MIN_INT64 <= item <= MAX_INT64 else _INT_BIG
            elif type(item) is Timestamp:
                kind = _KIND_OF_PRECISION.get(item.precision, _TIMESTAMP_KIND)
            else:
                kind = _kind(item)
        name = key
        if type(name) is not str:
            try:
                name = _field_name(key)
            except DecodeError:
                continue
        kinds.append((name, kind))
    return tuple(kinds)


KINDS_CACHE_SIZE = 4096
"""Most distinct document shapes (field names and kinds) :func:`plain_with_kinds` keeps one
shared ``field_kinds`` tuple for; beyond that each document gets its own (an equal one)."""
KINDS_CACHE_NAME_CHARS = 4096
"""A shape whose field names are longer than this in all is not kept (the cache stays within
``KINDS_CACHE_SIZE * KINDS_CACHE_NAME_CHARS`` characters of names whatever the input)."""
_SHARED_KINDS: dict[tuple[tuple[str, ...], tuple[IonKind, ...]], FieldKinds] = {}


def plain_with_kinds(value: Any) -> tuple[Any, FieldKinds]:
    """``(to_plain(value), field_kinds(value))`` for a document (the replay's hot path); the
    same result, the same errors.

    Documents of one shape (the same field names with the same kinds, in the same order) get
    one shared, equal ``field_kinds`` tuple (up to :data:`KINDS_CACHE_SIZE` shapes per
    process): no per-revision tuples to allocate and for the garbage collector to walk, and
    ``projections.recorded_kinds.KindRecord`` recognises a shape by the tuple's identity.

    Raises:
        DecodeError: as :func:`to_plain`.
    """
    if type(value) is not dict:
        return to_plain(value), field_kinds(value)
    plain: dict[Any, Any] = {}
    kinds: list[IonKind] = []
    of_type, scalars, inner = _KIND_OF_TYPE, _PLAIN_SCALARS, MAX_NESTING - 1
    for key, item in value.items():
        if type(key) is not str:
            return to_plain(value), field_kinds(value)  # symbol field names: the slow path
        item_type = type(item)
        kind = of_type.get(item_type)
        if kind is None:
            if item_type is int:
                kind = _INT if _MIN_INT64 <= item <= MAX_INT64 else _INT_BIG
            elif item_type is Timestamp:
                kind = _KIND_OF_PRECISION.get(item.precision, _TIMESTAMP_KIND)
            else:
                kind = _kind(item)
        plain[key] = item if item_type in scalars else to_plain(item, inner)
        kinds.append(kind)
    shape = (tuple(value), tuple(kinds))
    shared = _SHARED_KINDS.get(shape)
    if shared is None:
        shared = tuple(zip(shape[0], kinds, strict=True))
        names = shape[0]
        if len(_SHARED_KINDS) < KINDS_CACHE_SIZE and (
            sum(map(len, names)) <= KINDS_CACHE_NAME_CHARS
        ):
            _SHARED_KINDS[shape] = shared
    return plain, shared


def _kind(value: Any) -> IonKind:
    """The kind of a value that is not one of the plain types of ``_KIND_OF_TYPE``."""
    if type(value) is int:
        return IonKind.INT if _MIN_INT64 <= value <= MAX_INT64 else IonKind.INT_BIG
    if isinstance(value, Timestamp):
        precision = value.precision
        if precision is None or precision.value >= TimestampPrecision.MINUTE.value:
            return IonKind.TIMESTAMP
        return IonKind.DATE if precision is TimestampPrecision.DAY else IonKind.TIMESTAMP_COARSE
    if isinstance(value, dt.datetime):
        return IonKind.TIMESTAMP
    if isinstance(value, IonPyNull):
        return IonKind.NULL
    ion_type = getattr(value, "ion_type", None)
    if ion_type is IonType.INT or (ion_type is None and isinstance(value, int)):
        if isinstance(value, bool):
            return IonKind.BOOL
        return IonKind.INT if _MIN_INT64 <= int(value) <= MAX_INT64 else IonKind.INT_BIG
    if ion_type is IonType.TIMESTAMP:
        return IonKind.TIMESTAMP
    kind = _KIND_OF_ION_TYPE.get(ion_type) if isinstance(ion_type, IonType) else None
    if kind is not None:
        return kind
    for plain, plain_kind in _KIND_OF_TYPE.items():  # subclasses of the plain types
        if isinstance(value, plain):
            return plain_kind
    return IonKind.NULL


def _too_deep() -> DecodeError:
    return DecodeError(f"document nested more than {MAX_NESTING} levels deep")


def _symbol_text(value: SymbolToken) -> str:
    text = value.text
    if not isinstance(text, str):
        msg = f"symbol with unknown text (symbol id {value.sid})"
        raise DecodeError(msg)
    return str(text)


def _field_name(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, SymbolToken):
        return _symbol_text(key)
    if isinstance(key, str):
        return str(key)
    msg = f"struct field name of type {type(key).__name__}"
    raise DecodeError(msg)


_isoformat = dt.datetime.isoformat
_SECOND = TimestampPrecision.SECOND
_DAY = TimestampPrecision.DAY


def format_timestamp(value: dt.datetime) -> str:
    """Format an Ion timestamp as ISO-8601 keeping its precision, fraction digits and offset."""
    if type(value) is Timestamp:
        return _format_ion_timestamp(cast(Timestamp, value))
    return _format_datetime(value)


_date_isoformat = dt.date.isoformat
# isoformat's timespec for 0, 3 and 6 fraction digits, the usual precisions; None for the others.
_TIMESPECS = ("seconds", None, None, "milliseconds", None, None, "microseconds")


def _format_ion_timestamp(value: Timestamp) -> str:
    """:func:`_format_datetime` for the usual precisions, with fewer lookups (replay hot path).

    Equal to :func:`_format_datetime` for every Ion timestamp (tests/unit/core/test_ion_values).
    """
    precision = value.precision
    if precision is _SECOND:
        digits = value.fractional_precision
        spec = _TIMESPECS[digits] if type(digits) is int and 0 <= digits <= 6 else None
        # Six digits are exact only when the fraction has no more (the C extension keeps 9).
        seconds = value.fractional_seconds
        if spec is not None and (
            digits != 6 or (type(seconds) is Decimal and int(seconds.as_tuple().exponent) == -6)
        ):
            iso = _isoformat(value, "T", spec)
            if value.tzinfo is None:
                return iso + "-00:00"
            # Ion offsets are whole minutes: the text ends with "+HH:MM" or "-HH:MM".
            return iso[:-6] + "Z" if iso.endswith("+00:00") else iso
    if precision is _DAY:
        return _date_isoformat(value)
    if precision is _SECOND:
        iso = _isoformat(value, "T", "seconds")
        offset = iso[19:]
        if not offset:
            offset = "-00:00"
        elif offset == "+00:00":
            offset = "Z"
        seconds = value.fractional_seconds
        if type(seconds) is Decimal:
            places = -int(seconds.as_tuple().exponent)
            if places <= 0:
                return iso[:19] + offset
            if places <= 6:
                return f"{iso[:19]}.{value.microsecond:06d}"[: 20 + places] + offset
        return iso[:19] + _fraction(value) + offset
    return _format_datetime(value)


def _format_datetime(value: dt.datetime) -> str:
    """:func:`format_timestamp` for any datetime (precision read if present)."""
    precision = getattr(value, "precision", None)
    if precision is None or precision is TimestampPrecision.SECOND:
        # The C isoformat gives "YYYY-MM-DDTHH:MM:SS" plus "+HH:MM" when the offset is known.
        iso = _isoformat(value, timespec="seconds")
        offset = iso[19:]
        if not offset:
            offset = "-00:00"
        elif offset == "+00:00":
            offset = "Z"
        return iso[:19] + _fraction(value) + offset
    if precision is TimestampPrecision.YEAR:
        return f"{value.year:04d}"
    if precision is TimestampPrecision.MONTH:
        return f"{value.year:04d}-{value.month:02d}"
    if precision is TimestampPrecision.DAY:
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}"
    return text + _offset(value)


def _fraction(value: dt.datetime) -> str:
    seconds = getattr(value, "fractional_seconds", None)
    if isinstance(seconds, Decimal):
        places = -int(seconds.as_tuple().exponent)
        if places <= 0:
            return ""
        if places <= 6:
            return "." + f"{value.microsecond:06d}"[:places]
        digits = format(seconds, "f")
        return digits[digits.index(".") :]
    precision = getattr(value, "fractional_precision", None)
    digits_kept = (6 if value.microsecond else 0) if precision is None else int(precision)
    if digits_kept == 0:
        return ""
    return "." + f"{value.microsecond:06d}"[:digits_kept]


def _offset(value: dt.datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        return "-00:00"
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def timestamp_from_iso(text: str) -> Timestamp:
    """Parse a timestamp string written by :func:`format_timestamp` back into an Ion Timestamp."""
    try:
        value = simpleion.loads(text if "T" in text else text + "T")
    except IonException as exc:
        msg = f"not an Ion/ISO-8601 timestamp: {text!r}"
        raise DecodeError(msg) from exc
    if not isinstance(value, Timestamp):
        msg = f"not an Ion/ISO-8601 timestamp: {text!r}"
        raise DecodeError(msg)
    return value
