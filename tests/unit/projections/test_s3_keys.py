"""The S3 key encoding: injective, always under the prefix, never the project's own records."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.errors import UnstorableChangeError
from core.model import DocKey
from projections import s3_keys

PREFIX = "cdc/p"

# Every code point but lone surrogates (not UTF-8; poison, tested in the contract suite), and
# the characters that matter most here, drawn often.
names = st.text(
    st.one_of(
        st.sampled_from("./%_~-#:2EF5"),
        st.characters(blacklist_categories=["Cs"]),
    ),
    min_size=1,
    max_size=12,
)
keys = st.builds(DocKey, names, names)


def layout_keys(key: DocKey) -> list[str]:
    return [s3_keys.current_key(PREFIX, key), s3_keys.revision_key(PREFIX, key, 7)]


def assert_safe(object_key: str) -> None:
    assert object_key.startswith(PREFIX + "/")
    segments = object_key[len(PREFIX) + 1 :].split("/")
    assert all(segment not in ("", ".", "..") for segment in segments), object_key
    assert segments[0] != s3_keys.CHECKPOINT_DIR
    assert not segments[0].startswith("_")
    assert len(object_key.encode("utf-8")) <= s3_keys.MAX_KEY_BYTES


@given(keys, keys)
@example(DocKey("..", "a"), DocKey("%2E%2E", "a"))
@example(DocKey("_checkpoints", "a"), DocKey("%5Fcheckpoints", "a"))
@example(DocKey("a/b", "c"), DocKey("a%2Fb", "c"))
@example(DocKey("T", "a/revisions/b"), DocKey("T", "a%2Frevisions%2Fb"))
def test_keys_are_injective_and_stay_under_the_prefix(a: DocKey, b: DocKey) -> None:
    for object_key in layout_keys(a) + layout_keys(b):
        assert_safe(object_key)
    if a != b:
        assert set(layout_keys(a)).isdisjoint(layout_keys(b))
    current, revision = layout_keys(a)
    assert current != revision
    assert s3_keys.parse_object_key(current, PREFIX) == ("current", a, None)
    assert s3_keys.parse_object_key(revision, PREFIX) == ("revisions", a, 7)


@given(keys, names)
def test_no_document_key_is_under_a_checkpoint_folder(key: DocKey, export_id: str) -> None:
    folder = s3_keys.checkpoint_prefix(PREFIX, export_id)
    assert folder.startswith(f"{PREFIX}/{s3_keys.CHECKPOINT_DIR}/")
    assert all(not k.startswith(folder) for k in layout_keys(key))
    assert all(not k.startswith(f"{PREFIX}/{s3_keys.CHECKPOINT_DIR}/") for k in layout_keys(key))


@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_checkpoint_names_round_trip(object_key: str) -> None:
    name = s3_keys.checkpoint_name(object_key)
    assert "/" not in name
    assert s3_keys.object_key_of(name) == object_key


def test_plain_qldb_names_read_as_they_are() -> None:
    key = DocKey("Person", "8F0TPCmdNQ6JTRpiLj2TmW")
    assert s3_keys.current_key("p", key) == "p/Person/current/8F0TPCmdNQ6JTRpiLj2TmW.json"
    assert s3_keys.current_key("", DocKey("..", ".")) == "%2E%2E/current/%2E.json"
    assert s3_keys.revision_key("p", DocKey("_T", "a b"), 3) == (
        "p/%5FT/revisions/a%20b/00000000000000000003.json"
    )


@pytest.mark.parametrize("key", [DocKey("", "a"), DocKey("T", ""), DocKey("T", "\ud800")])
def test_empty_or_non_utf8_names_have_no_key(key: DocKey) -> None:
    with pytest.raises(UnstorableChangeError):
        s3_keys.current_key(PREFIX, key)


# ------------------------------------------------------------------ field types records

field_names = st.text(
    st.one_of(st.sampled_from("./%_=#~"), st.characters(blacklist_categories=["Cs"])),
    max_size=12,
)


@given(names, field_names, st.sampled_from(["string", "int", "timestamp_coarse"]))
@example("Person", "", "string")
@example("..", "..", "int")
@example("_checkpoints", "a/b", "int")
def test_field_type_keys_round_trip_and_stay_in_their_folder(
    table: str, field: str, kind: str
) -> None:
    key = s3_keys.field_type_key(PREFIX, table, field, kind)
    assert key.startswith(f"{PREFIX}/{s3_keys.FIELD_TYPES_DIR}/")
    segments = key[len(PREFIX) + 1 :].split("/")
    assert len(segments) == 4
    assert all(segment not in ("", ".", "..") for segment in segments), key
    assert s3_keys.parse_field_type_key(key, PREFIX) == s3_keys.FieldTypeKey(table, field, kind)
    assert s3_keys.parse_object_key(key, PREFIX) is None  # never a document
    body = s3_keys.field_type_body(table, field, kind)
    assert s3_keys.parse_field_type_body(body) == (table, field, kind)


@given(names, names)
def test_field_type_keys_are_injective(a: str, b: str) -> None:
    if a != b:
        assert s3_keys.field_type_key(PREFIX, a, "f", "int") != s3_keys.field_type_key(
            PREFIX, b, "f", "int"
        )
        assert s3_keys.field_type_key(PREFIX, "t", a, "int") != s3_keys.field_type_key(
            PREFIX, "t", b, "int"
        )


def test_no_table_folder_is_the_field_types_folder() -> None:
    assert s3_keys.table_segment("_field_types") == "%5Ffield_types"
    assert s3_keys.current_key("", DocKey("_field_types", "d")).split("/")[0] != "_field_types"


def test_long_names_are_hashed_and_the_body_names_them() -> None:
    long_field, long_table = "f" * 1000, "t" * 600
    key = s3_keys.field_type_key(PREFIX, "Person", long_field, "string")
    assert len(key.encode("utf-8")) <= s3_keys.MAX_KEY_BYTES
    assert s3_keys.parse_field_type_key(key, PREFIX) == s3_keys.FieldTypeKey(
        "Person", None, "string"
    )
    both = s3_keys.field_type_key("p" * 500, long_table, long_field, "timestamp_coarse")
    assert len(both.encode("utf-8")) <= s3_keys.MAX_KEY_BYTES
    assert s3_keys.parse_field_type_key(both, "p" * 500) == s3_keys.FieldTypeKey(
        None, None, "timestamp_coarse"
    )
    other = s3_keys.field_type_key(PREFIX, "Person", long_field + "x", "string")
    assert other != key


@pytest.mark.parametrize(
    "key",
    [
        f"{PREFIX}/_field_types/=T/=f",
        f"{PREFIX}/_field_types/=T/=f/int/x",
        f"{PREFIX}/_field_types/T/=f/int",
        f"{PREFIX}/_field_types/=T//int",
        f"{PREFIX}/_field_types/=T/=f/",
        f"{PREFIX}/Person/current/d.json",
        "_field_types/=T/=f/int",
    ],
)
def test_other_keys_are_not_field_type_records(key: str) -> None:
    assert s3_keys.parse_field_type_key(key, PREFIX) is None


@pytest.mark.parametrize("body", [b"[]", b'{"ledgerTable": "T", "field": 1, "ionKind": "int"}'])
def test_bodies_that_are_not_records_are_value_errors(body: bytes) -> None:
    with pytest.raises(ValueError):
        s3_keys.parse_field_type_body(body)
