"""The structural check that keeps malformed Ion binary away from amazon-ion's C reader.

amazon-ion 0.15's C reader loops forever on the inputs below (found by tests/fuzz); the check
must reject them, must accept everything amazon-ion itself writes, and its streaming form must
give the same values as reading the bytes whole.
"""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import IO, cast

import pytest
from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from schemas import ion_values
from schemas.ion_binary_check import ION_BVM, CheckedIonStream, check_ion_binary
from schemas.limits import MAX_READ_NESTING

HANG_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "ion-c-hangs"
C_READER_HANGS = sorted(p.name for p in HANG_DIR.glob("*.10n"))


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``chunk`` bytes per read, as a slow S3 body may."""

    def __init__(self, rest: bytes, chunk: int) -> None:
        super().__init__()
        self.rest = rest
        self.chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(self.chunk, len(buffer), len(self.rest))
        buffer[:size] = self.rest[:size]
        self.rest = self.rest[size:]
        return size


def trickling(rest: bytes, chunk: int) -> IO[bytes]:
    """A :class:`Trickle` typed as the ``IO[bytes]`` readers take (``RawIOBase`` is not ``IO``)."""
    return cast(IO[bytes], Trickle(rest, chunk))


def _ion(value: object) -> bytes:
    data: bytes = simpleion.dumps(value, binary=True)
    return data


def test_the_hang_fixtures_are_there() -> None:
    assert len(C_READER_HANGS) == 2


@pytest.mark.parametrize("name", C_READER_HANGS)
def test_the_c_reader_still_hangs_on_the_fixtures(name: str) -> None:
    """Why the check exists: when amazon-ion fixes its reader this fails, and the note can go."""
    code = (
        "import sys\nfrom amazon.ion import simpleion\n"
        "try:\n    simpleion.loads(sys.stdin.buffer.read(), single_value=False)\n"
        "except Exception:\n    pass\n"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-c", code],
            input=(HANG_DIR / name).read_bytes(),
            timeout=3,
            capture_output=True,
            check=False,
        )


@pytest.mark.parametrize("name", C_READER_HANGS)
def test_inputs_that_hang_the_c_reader_are_rejected_with_an_offset(name: str) -> None:
    data = (HANG_DIR / name).read_bytes()
    with pytest.raises(DecodeError, match=r"corrupt Ion binary at byte \d+"):
        check_ion_binary(data)
    with pytest.raises(DecodeError, match=r"corrupt Ion binary at byte \d+"):
        ion_values.loads(data)
    with pytest.raises(DecodeError, match=r"corrupt Ion binary at byte \d+"):
        list(ion_values.iter_values(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("e00100eaf0", "type descriptor 0xf0"),  # reserved type 15
        ("e00100ea30", "type descriptor 0x30"),  # negative zero
        ("e00100ea43", "type descriptor 0x43"),  # a 3-byte float
        ("e00100ea12", "type descriptor 0x12"),  # bool with a length
        ("e00100eae3818321", "annotation wrapper"),  # wraps a value longer than itself
        ("e00100eae58183210a00", "annotation wrapper length"),  # wrapper longer than its value
        ("e00100eae3808321", "no annotations"),
        ("e00100eab2d0", "runs past its container"),  # list holds a struct it cannot fit
        ("e00100ead180", "sorted struct must not be empty"),
        ("e00100eade", "runs past its container"),  # length missing
        ("e00100ead2", "runs past its container"),  # struct declares 2 bytes, has none
        ("0001", "version marker"),
    ],
)
def test_malformed_headers_are_named(hex_data: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        check_ion_binary(bytes.fromhex(hex_data))


def _nested_lists(levels: int) -> bytes:
    """Ion binary of ``levels`` lists around an int, written by hand (writers refuse it)."""
    value = b"\x21\x01"
    for _ in range(levels):
        if len(value) < 14:
            value = bytes([0xB0 | len(value)]) + value
            continue
        length, digits = len(value), [0x80 | (len(value) & 0x7F)]
        length >>= 7
        while length:
            digits.append(length & 0x7F)
            length >>= 7
        value = b"\xbe" + bytes(reversed(digits)) + value
    return ION_BVM + value


def test_nesting_beyond_the_limit_is_rejected_before_decoding() -> None:
    with pytest.raises(DecodeError, match="nest deeper"):
        check_ion_binary(_nested_lists(MAX_READ_NESTING + 1))
    check_ion_binary(_nested_lists(MAX_READ_NESTING))


def test_a_journal_like_stream_with_symbol_tables_and_markers_passes() -> None:
    block = simpleion.loads(
        '{blockAddress:{strandId:"s",sequenceNo:5},transactionInfo:{statements:[{statement:'
        '"INSERT"}]},revisions:[{data:{a:1.50,t:2021-02-09T02:16:06.240Z,b:{{aGVsbG8=}},'
        "n:null.int,s:tag::sym,x:[1,(a b),{}],f:1e0,z:true}}]}"
    )
    data = _ion(block) + _ion(block) + b"\x00" + b"\x0e\x81" + b"\x00"  # NOP pads too
    check_ion_binary(data)
    assert [ion_values.to_plain(v) for v in ion_values.iter_values(io.BytesIO(data))] == [
        ion_values.to_plain(v) for v in simpleion.loads(data, single_value=False)
    ]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.text(max_size=20),
    st.binary(max_size=20),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_VALUES, min_size=1, max_size=4), chunk=st.integers(1, 64))
def test_everything_amazon_ion_writes_passes_and_streams_the_same(
    values: list[object], chunk: int
) -> None:
    """Valid input is never refused, and reading it in odd-sized chunks changes nothing."""
    data = b"".join(_ion(v) for v in values)
    check_ion_binary(data)

    streamed = [ion_values.to_plain(v) for v in ion_values.iter_values(trickling(data, chunk))]
    whole = [ion_values.to_plain(v) for v in simpleion.loads(data, single_value=False)]
    assert streamed == whole


@settings(max_examples=300, deadline=None)
@given(
    value=_VALUES,
    position=st.integers(min_value=0),
    byte=st.integers(0, 255),
    cut=st.booleans(),
)
def test_a_mutated_stream_either_passes_both_ways_or_fails_cleanly(
    value: object, position: int, byte: int, cut: bool
) -> None:
    """Whole-buffer check and streaming check agree: same verdict on every mutation."""
    data = bytearray(_ion([value]))
    index = len(ION_BVM) + position % max(1, len(data) - len(ION_BVM))
    if index < len(data):
        data[index] = byte
    if cut:
        data = data[: max(len(ION_BVM), index)]
    whole_error = None
    try:
        check_ion_binary(bytes(data))
    except DecodeError as exc:
        whole_error = exc
    stream = CheckedIonStream(io.BytesIO(bytes(data)))
    passed = stream.read()
    if whole_error is None:
        assert stream.error is None
        assert passed == bytes(data)
    else:
        assert stream.error is not None
        assert bytes(data).startswith(passed)


def test_checked_stream_keeps_decimal_digits_exact() -> None:
    data = _ion({"a": Decimal("1.500")})
    (value,) = list(ion_values.iter_values(io.BytesIO(data)))
    assert str(ion_values.to_plain(value)["a"]) == "1.500"


# amazon-ion's C reader crashes the process (SIGSEGV) on invalid UTF-8 in a field name or symbol
# of Ion text read from a stream (tests/fuzz found it in a JSON object read as Ion text).
TEXT_CRASHES = [b'{"a\xff":1}', b"{'\xff':0}", b"'\xc3'", b'{"s\xff\xff\xffe":0}']
_LAZY_READ = (
    "import sys\nfrom amazon.ion import simpleion\ntry:\n"
    "    list(simpleion.load(sys.stdin.buffer, single_value=False, parse_eagerly=False))\n"
    "except Exception:\n    pass\n"
)


@pytest.mark.parametrize("data", TEXT_CRASHES)
def test_the_c_reader_still_crashes_on_invalid_utf8_text(data: bytes) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LAZY_READ], input=data, capture_output=True, timeout=30, check=False
    )
    assert done.returncode < 0  # killed by a signal


@pytest.mark.parametrize("data", TEXT_CRASHES)
def test_invalid_utf8_ion_text_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="not valid UTF-8 at byte"):
        list(ion_values.iter_values(io.BytesIO(data)))
    with pytest.raises(DecodeError, match="not valid UTF-8 at byte"):
        ion_values.loads(data)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), max_size=40),
    cut=st.integers(0, 40),
    chunk=st.integers(1, 7),
)
def test_utf8_split_across_reads_is_not_an_error(text: str, cut: int, chunk: int) -> None:
    """Multi-byte characters split across reads pass; a character cut at the end does not."""
    data = ('{"k":' + '"' + text.replace("\\", "").replace('"', "") + '"}').encode("utf-8")

    assert [ion_values.to_plain(v) for v in ion_values.iter_values(trickling(data, chunk))] == [
        ion_values.to_plain(simpleion.loads(data))
    ]
    truncated = data[: min(cut, len(data))]
    try:
        truncated.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(DecodeError):
            list(ion_values.iter_values(trickling(truncated, chunk)))


def test_annotated_values_of_every_type_pass() -> None:
    """``a::true`` is E3 81 8A 11: a bool's low nibble is its value, not a length."""
    text = (
        "a::true a::false a::null.bool a::null a::0 a::-7 a::1.5e0 a::1.50 a::2021-02-09T "
        'a::sym a::"s" a::{{AAH/}} a::{{"c"}} a::[a::true] a::(a::false) a::{x: a::true}'
    )
    data = simpleion.dumps(
        simpleion.loads(text, single_value=False), binary=True, sequence_as_stream=True
    )
    check_ion_binary(data)
    assert b"\x8a\x11" in data  # the annotated true is really there
    decoded = list(ion_values.iter_values(io.BytesIO(data)))
    assert [ion_values.to_plain(v) for v in decoded][:2] == [True, False]
