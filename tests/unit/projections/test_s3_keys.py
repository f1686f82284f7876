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
