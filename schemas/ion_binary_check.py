"""Structural check of Ion binary before amazon-ion's C reader sees it.

amazon-ion 0.15's C extension (ion-c) loops forever, and sometimes crashes the process, on some
malformed Ion binary: a container whose declared length runs past its parent or past the data, a
reserved type code, a length where the type allows none. A QLDB export or stream record is
untrusted input, so every Ion binary buffer is checked here first, in one pass over the value
headers (it never looks inside strings, blobs or numbers it does not have to). A buffer that
passes has every value inside its container, every container exactly filled, and only type
descriptors the Ion 1.0 binary format allows; a buffer that fails raises ``DecodeError`` naming
the byte offset, and is never handed to the C reader.

Guarantees: linear in the input size, no recursion (an explicit stack, bounded by
``MAX_READ_NESTING``), no I/O. See https://amazon-ion.github.io/ion-docs/docs/binary.html.
"""

from __future__ import annotations

import io
from typing import Any, NoReturn, Protocol

from core.errors import DecodeError
from schemas.limits import MAX_READ_NESTING

ION_BVM = b"\xe0\x01\x00\xea"

# Type codes (high nibble of the type descriptor).
_NULL, _BOOL, _POS_INT, _NEG_INT, _FLOAT, _DECIMAL, _TIMESTAMP = 0, 1, 2, 3, 4, 5, 6
_LIST, _SEXP, _STRUCT, _ANNOTATION, _RESERVED = 11, 12, 13, 14, 15
_VAR_LENGTH, _NULL_LENGTH = 14, 15
_MAX_VARUINT_BYTES = 9  # 63 bits: more than any buffer this process can hold


def _valid_descriptors() -> tuple[bool, ...]:
    """Which of the 256 type descriptors may start a value (inside a container)."""
    valid = [True] * 256
    for low in range(16):
        valid[(_BOOL << 4) | low] = low in (0, 1, _NULL_LENGTH)
        valid[(_FLOAT << 4) | low] = low in (0, 4, 8, _NULL_LENGTH)
        valid[(_RESERVED << 4) | low] = False
        valid[(_ANNOTATION << 4) | low] = 3 <= low <= _VAR_LENGTH
    valid[_NEG_INT << 4] = False  # negative zero
    valid[_TIMESTAMP << 4] = valid[(_TIMESTAMP << 4) | 1] = False  # needs offset and year
    return tuple(valid)


_VALID = _valid_descriptors()
_CONTAINERS = frozenset({_LIST, _SEXP, _STRUCT})


def check_ion_binary(data: bytes | bytearray | memoryview) -> None:
    """Raise ``DecodeError`` unless ``data`` is structurally well-formed Ion 1.0 binary.

    ``data`` holds a whole stream: a version marker, then top-level values (more version markers
    may follow). Symbol ids, UTF-8 and number contents are left to the reader, which reports
    those cleanly.
    """
    buf = bytes(data)
    if not buf.startswith(ION_BVM):
        _fail(0, "Ion binary must start with the version marker E0 01 00 EA")
    _check_values(buf, 0)


def _check_values(buf: bytes, base: int) -> None:
    """Check every value in ``buf`` (top-level values, version markers allowed between them).

    ``base`` is the offset of ``buf`` in the whole stream, for messages.
    """
    try:
        _walk(buf)
    except _Malformed as exc:
        _fail(base + exc.offset, exc.reason)


class _Malformed(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _walk(buf: bytes) -> None:  # noqa: PLR0912, PLR0915 - one pass, hot path
    end = len(buf)
    valid = _VALID
    # Open containers: their ends and whether each is a struct; the top level is not on it.
    ends: list[int] = []
    structs: list[bool] = []
    pos = 0
    limit = end
    struct = False
    wrapped = False  # the next value is the one an annotation wrapper holds: no field name
    while True:
        if pos == limit:
            if not ends:
                return
            ends.pop()
            structs.pop()
            limit = ends[-1] if ends else end
            struct = structs[-1] if structs else False
            continue
        if struct and not wrapped:
            if buf[pos] & 0x80:  # one-byte field name, nearly always
                pos += 1
            else:
                pos = _skip_varuint(buf, pos, limit, "field name")
            if pos == limit:
                _malformed(pos, "struct field has no value")
        wrapped = False
        descriptor = buf[pos]
        if not valid[descriptor]:
            if not ends and buf.startswith(ION_BVM, pos):
                pos += 4
                continue
            _malformed(pos, f"type descriptor 0x{descriptor:02x} is not allowed")
        start = pos
        code = descriptor >> 4
        low = descriptor & 0x0F
        pos += 1
        if low == _NULL_LENGTH:
            continue
        if low == _VAR_LENGTH or (code == _STRUCT and low == 1):
            length = buf[pos] if pos < limit else 0
            if length & 0x80:  # one-byte length
                length &= 0x7F
                pos += 1
            else:
                length, pos = _read_varuint(buf, pos, limit)
            if code == _STRUCT and low == 1 and length == 0:
                _malformed(start, "sorted struct must not be empty")
        elif code == _BOOL:
            length = 0  # the low nibble is the value
        else:
            length = low
        value_end = pos + length
        if value_end > limit:
            _malformed(start, f"a value of {length} bytes runs past its container")
        if code in _CONTAINERS:
            if len(ends) >= MAX_READ_NESTING:
                _malformed(start, f"containers nest deeper than {MAX_READ_NESTING} levels")
            ends.append(value_end)
            struct = code == _STRUCT
            structs.append(struct)
            limit = value_end
            continue
        if code == _ANNOTATION:
            pos = _check_annotation(buf, start, pos, value_end)
            wrapped = True
            continue
        if code in (_DECIMAL, _TIMESTAMP) and length and not buf[pos] & 0x80:
            _skip_varuint(buf, pos, value_end, "number")  # exponent or offset stays inside
        pos = value_end


def _check_annotation(buf: bytes, start: int, pos: int, value_end: int) -> int:
    """Check an annotation wrapper's header; return the offset of the value it wraps."""
    annotations_length, pos = _read_varuint(buf, pos, value_end)
    if annotations_length == 0:
        _malformed(start, "annotation wrapper has no annotations")
    annotations_end = pos + annotations_length
    if annotations_end >= value_end:
        _malformed(start, "annotation wrapper has no value")
    while pos < annotations_end:
        pos = _skip_varuint(buf, pos, annotations_end, "annotation")
    wrapped = buf[pos]
    if wrapped >> 4 == _ANNOTATION or (wrapped >> 4 == _NULL and wrapped & 0x0F != _NULL_LENGTH):
        _malformed(pos, "annotation wrapper must wrap one ordinary value")
    low = wrapped & 0x0F
    if low == _NULL_LENGTH or wrapped >> 4 == _BOOL:  # a bool's low nibble is its value
        inner_end = pos + 1
    elif low == _VAR_LENGTH or (wrapped >> 4 == _STRUCT and low == 1):
        inner_length, after = _read_varuint(buf, pos + 1, value_end)
        inner_end = after + inner_length
    else:
        inner_end = pos + 1 + low
    if inner_end != value_end:
        _malformed(start, "annotation wrapper length does not match the value it wraps")
    return pos


def _read_varuint(buf: bytes, pos: int, limit: int) -> tuple[int, int]:
    value = 0
    for index in range(pos, min(limit, pos + _MAX_VARUINT_BYTES)):
        byte = buf[index]
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            return value, index + 1
    raise _Malformed(pos, "length or id runs past its container")


def _skip_varuint(buf: bytes, pos: int, limit: int, what: str) -> int:
    for index in range(pos, min(limit, pos + _MAX_VARUINT_BYTES)):
        if buf[index] & 0x80:
            return index + 1
    raise _Malformed(pos, f"{what} runs past its container")


def _malformed(offset: int, reason: str) -> NoReturn:
    raise _Malformed(offset, reason)


def _fail(offset: int, reason: str) -> NoReturn:
    msg = f"corrupt Ion binary at byte {offset}: {reason}"
    raise DecodeError(msg)


class ByteSource(Protocol):
    """Anything with ``read(size)``: a file, an S3 body, another wrapper."""

    def read(self, size: int = -1, /) -> bytes | None: ...


MAX_TOP_LEVEL_VALUE = 256 * 1024 * 1024
"""Largest top-level value (one journal block) a stream may hold: bounds one read's memory."""


class CheckedIonStream(io.RawIOBase):
    """A binary stream that lets through only Ion binary :func:`check_ion_binary` accepts.

    It reads the wrapped stream one top-level value at a time (memory stays bounded by the
    largest value), checks it, and only then hands its bytes on. At the first malformed value it
    ends the stream cleanly at the previous value boundary and keeps the error in ``error``; the
    caller raises it after the reader stops, so the C reader never sees a malformed byte.
    """

    def __init__(self, raw: ByteSource) -> None:
        super().__init__()
        self._raw = raw
        self._offset = 0  # offset in the wrapped stream of the next unread byte
        self._pending = memoryview(b"")
        self.error: DecodeError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending and self.error is None:
            try:
                self._pending = memoryview(self._next_value())
            except DecodeError as exc:
                self.error = exc
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _next_value(self) -> bytes:
        """The bytes of the next checked top-level value (or version marker); b"" at the end."""
        start = self._offset
        first = self._read(1)
        if not first:
            return b""
        if start == 0 or first[0] == ION_BVM[0]:
            marker = first + self._read(3)
            if marker != ION_BVM:
                _fail(start, "expected the Ion binary version marker E0 01 00 EA")
            return marker
        descriptor = first[0]
        header = bytearray(first)
        low = descriptor & 0x0F
        code = descriptor >> 4
        if low == _VAR_LENGTH or (code == _STRUCT and low == 1):
            length = 0
            for _ in range(_MAX_VARUINT_BYTES):
                byte = self._read(1)
                if not byte:
                    _fail(self._offset, "the stream ends inside a length")
                header += byte
                length = (length << 7) | (byte[0] & 0x7F)
                if byte[0] & 0x80:
                    break
            else:
                _fail(start + 1, "length runs past its limit")
        elif low == _NULL_LENGTH or code == _BOOL:
            length = 0
        else:
            length = low
        if length > MAX_TOP_LEVEL_VALUE:
            _fail(start, f"a top-level value of {length} bytes is larger than the limit")
        body = self._read(length)
        if len(body) != length:
            _fail(start, f"the stream ends inside a value of {length} bytes (truncated)")
        value = bytes(header) + body
        _check_values(value, start)
        return value

    def _read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        wanted = size
        while wanted:
            chunk = self._raw.read(wanted) or b""
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        data = b"".join(chunks)
        self._offset += len(data)
        return data
