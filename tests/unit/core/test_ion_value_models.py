"""Every Ion value a QLDB document can hold converts the same way in the fast and the exact value
model, with or without annotations, at any depth (hypothesis over generated Ion text)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import json_codec
from core.errors import DecodeError
from schemas import ion_values
from schemas.limits import MAX_NESTING

# A generated value is a tree of (kind, payload, annotations); render() writes it as Ion text.
Node = tuple[str, Any, tuple[str, ...]]

_names = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC_", min_size=1, max_size=6),
    st.sampled_from(["true", "null", "nan", "a b", "é€𝄞", "$ion", "x'y"]),
)
_annotations = st.lists(_names, max_size=2).map(tuple)
_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_NULLS = [
    "null", "null.null", "null.bool", "null.int", "null.float", "null.decimal",
    "null.timestamp", "null.string", "null.symbol", "null.blob", "null.clob", "null.list",
    "null.sexp", "null.struct",
]  # fmt: skip


def _timestamp() -> st.SearchStrategy[str]:
    year = st.integers(1, 9999).map(lambda y: f"{y:04d}")
    month = st.integers(1, 12).map(lambda m: f"{m:02d}")
    day = st.integers(1, 28).map(lambda d: f"{d:02d}")
    hour = st.integers(0, 23).map(lambda h: f"{h:02d}")
    minute = st.integers(0, 59).map(lambda m: f"{m:02d}")
    offset = st.sampled_from(["Z", "-00:00", "+05:30", "-08:00", "+14:00", "-23:59"])
    fraction = st.integers(0, 9).flatmap(
        lambda n: (
            st.just("")
            if n == 0
            else st.text(alphabet="0123456789", min_size=n, max_size=n).map(lambda d: "." + d)
        )
    )
    return st.one_of(
        year.map(lambda y: f"{y}T"),
        st.tuples(year, month).map(lambda t: f"{t[0]}-{t[1]}T"),
        st.tuples(year, month, day).map("-".join),
        st.tuples(year, month, day, hour, minute, offset).map(
            lambda t: f"{t[0]}-{t[1]}-{t[2]}T{t[3]}:{t[4]}{t[5]}"
        ),
        st.tuples(year, month, day, hour, minute, minute, fraction, offset).map(
            lambda t: f"{t[0]}-{t[1]}-{t[2]}T{t[3]}:{t[4]}:{t[5]}{t[6]}{t[7]}"
        ),
    )


def _quote(text: str, mark: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in (mark, "\\") or code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return mark + "".join(out) + mark


_scalars = st.one_of(
    st.sampled_from(_NULLS).map(lambda t: ("raw", t)),
    st.booleans().map(lambda b: ("raw", "true" if b else "false")),
    st.integers(-(2**80), 2**80).map(lambda i: ("raw", str(i))),
    st.floats(allow_nan=False, allow_infinity=False).map(
        lambda f: ("raw", repr(f) if "e" in repr(f) else repr(f) + "e0")
    ),
    st.sampled_from(["nan", "+inf", "-inf", "-0e0", "0e0"]).map(lambda t: ("raw", t)),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
        lambda d: ("raw", str(d).replace("E", "d") if "E" in str(d) else str(d) + "d0")
    ),
    st.sampled_from(["1.50", "-0.0", "0.000", "1d5", "-1.2d-3", "123456789012345678901234.5"]).map(
        lambda t: ("raw", t)
    ),
    _timestamp().map(lambda t: ("raw", t)),
    _text.map(lambda t: ("raw", _quote(t, '"'))),
    _text.map(lambda t: ("raw", _quote(t, "'"))),
    st.binary(max_size=12).map(lambda b: ("raw", "{{" + base64.b64encode(b).decode() + "}}")),
    st.text(alphabet="abc XYZ 019", max_size=8).map(lambda t: ("raw", '{{"' + t + '"}}')),
)


def _nodes() -> st.SearchStrategy[Node]:
    leaf = st.tuples(_scalars, _annotations).map(lambda t: (t[0][0], t[0][1], t[1]))

    def containers(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        items = st.lists(children, max_size=4)
        fields = st.lists(st.tuples(_names, children), max_size=4)
        return st.one_of(
            st.tuples(items, _annotations).map(lambda t: ("list", t[0], t[1])),
            st.tuples(items, _annotations).map(lambda t: ("sexp", t[0], t[1])),
            st.tuples(fields, _annotations).map(lambda t: ("struct", t[0], t[1])),
        )

    return st.recursive(leaf, containers, max_leaves=25)


def render(node: Node, *, annotate: bool) -> str:
    kind, payload, annotations = node
    prefix = "".join(f"{_quote(a, chr(39))}::" for a in annotations) if annotate else ""
    if kind == "raw":
        raw: str = payload
        return prefix + raw
    if kind == "list":
        return prefix + "[" + ", ".join(render(n, annotate=annotate) for n in payload) + "]"
    if kind == "sexp":
        return prefix + "(" + " ".join(render(n, annotate=annotate) for n in payload) + ")"
    fields = ", ".join(
        f"{_quote(name, chr(39))}: {render(n, annotate=annotate)}" for name, n in payload
    )
    return prefix + "{" + fields + "}"


def plain_json(text: str, *, exact: bool) -> str:
    return json_codec.dumps(ion_values.to_plain(ion_values.loads(text, exact=exact)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _nodes()), max_size=5))
def test_fast_and_exact_models_agree_and_annotations_change_nothing(
    fields: list[tuple[str, Node]],
) -> None:
    document: Node = ("struct", fields, ())
    annotated = render(document, annotate=True)
    bare = render(document, annotate=False)
    expected = plain_json(bare, exact=True)
    assert plain_json(annotated, exact=True) == expected
    assert plain_json(annotated, exact=False) == expected
    assert plain_json(bare, exact=False) == expected


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("container", ["{a: %s}", "[%s]", "(%s)", "x::{a: %s}", "y::[%s]"])
def test_nesting_beyond_the_limit_is_a_decode_error_in_both_models(
    exact: bool, container: str
) -> None:
    def nest(levels: int) -> str:
        """``levels`` containers deep, the outermost a struct (a document)."""
        inner = levels if container.startswith("{") else levels - 1
        text = "1"
        for _ in range(inner):
            text = container % text
        return text if container.startswith("{") else "{top: " + text + "}"

    ok = ion_values.loads(nest(MAX_NESTING), exact=exact)
    assert ion_values.to_plain(ok) is not None
    deep = ion_values.loads(nest(MAX_NESTING + 1), exact=exact)
    with pytest.raises(DecodeError, match=f"more than {MAX_NESTING} levels"):
        ion_values.to_plain(deep)


def test_a_symbol_with_unknown_text_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="unknown text"):
        ion_values.to_plain(ion_values.loads("{a: $0}"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _nodes()), max_size=6), st.booleans(), st.booleans())
def test_plain_with_kinds_is_to_plain_and_field_kinds_in_one_pass(
    fields: list[tuple[str, Node]], exact: bool, annotate: bool
) -> None:
    value = ion_values.loads(render(("struct", fields, ()), annotate=annotate), exact=exact)
    plain, kinds = ion_values.plain_with_kinds(value)
    assert json_codec.dumps(plain) == json_codec.dumps(ion_values.to_plain(value))
    assert kinds == ion_values.field_kinds(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_names, _nodes()), max_size=6), st.booleans())
def test_documents_of_one_shape_share_one_field_kinds_tuple_equal_to_the_uncached_kinds(
    fields: list[tuple[str, Node]], annotate: bool
) -> None:
    """The shared tuple (``plain_with_kinds``' cache) is what ``field_kinds`` computes anew,
    on the first call, a repeated one, and with the cache full."""
    text = render(("struct", fields, ()), annotate=annotate)
    value = ion_values.loads(text, exact=False)
    expected = ion_values.field_kinds(value)
    first = ion_values.plain_with_kinds(value)[1]
    again = ion_values.plain_with_kinds(ion_values.loads(text, exact=False))[1]
    assert first == expected and again == expected
    if type(value) is dict and all(type(k) is str for k in value):
        assert again is first  # one tuple per shape
    full = ion_values.KINDS_CACHE_SIZE
    try:
        ion_values.KINDS_CACHE_SIZE = 0  # nothing new is cached: a fresh, equal tuple
        renamed = {f"{k}~": v for k, v in value.items()} if type(value) is dict else value
        assert ion_values.plain_with_kinds(renamed)[1] == ion_values.field_kinds(renamed)
    finally:
        ion_values.KINDS_CACHE_SIZE = full


_FIELD_VALUES = [
    "1", "-7", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "2020T", "2020-01T", "2020-01-02", "2020-01-02T03:04Z", "2020-01-02T03:04:05.123-08:00",
    "1.50", "1e0", '"s"', "sym", "null", "null.int", "true", "{{aGk=}}", "[1]", "{x: 1}",
    "a::1", "b::2020-01-02", "a::\"t\"",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_FIELD_VALUES), min_size=3, max_size=3), max_size=12),
    st.sampled_from([("a", "b", "c"), ("c", "b", "a")]),
)
def test_documents_of_known_names_and_types_get_the_kinds_of_their_own_values(
    documents: list[list[str]], names: tuple[str, ...]
) -> None:
    """Documents with the same field names, of the same or other value types, ints within 64
    bits or not, timestamps of any precision, annotated values: ``plain_with_kinds`` (its
    caches by names and types) gives each the kinds ``field_kinds`` computes anew."""
    for document in documents:
        fields = ", ".join(f"{name}: {text}" for name, text in zip(names, document, strict=True))
        value = ion_values.loads("{" + fields + "}", exact=False)
        plain, kinds = ion_values.plain_with_kinds(value)
        assert kinds == ion_values.field_kinds(value)
        assert json_codec.dumps(plain) == json_codec.dumps(ion_values.to_plain(value))
