"""OpenSearch index names: valid for any table name, injective, never the checkpoint index.

Validity is judged by the rules of a real cluster as ``tests/support/opensearch_index_names.py``
states them (the fake server enforces them).
"""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from projections.opensearch_names import (
    MAX_INDEX_BYTES,
    checkpoint_index,
    index_name,
    invalid_prefix_reason,
    legacy_checkpoint_index,
    table_suffix,
)
from tests.support.opensearch_index_names import invalid_index_name

PREFIXES = ["cdc", "qldb-cdc.prod_1", "p" * 128]

# Any text (lone surrogates included: the name must still be valid; the document itself is
# poison elsewhere), with the characters that matter here drawn often.
tables = st.text(
    st.one_of(
        st.sampled_from('AaZz09_.-~,#:*?"<>|\\/ +\n'),
        st.characters(),
    ),
    max_size=40,
) | st.text(st.sampled_from("Aa~-."), min_size=180, max_size=320)


@pytest.mark.parametrize("prefix", PREFIXES)
@given(a=tables, b=tables)
@example(a="Person", b="person")
@example(a="Person", b=".person")
@example(a="a-b", b="a~2d~b")
@example(a="qldb-cdc-checkpoints", b="~checkpoints")
@example(a="T" * 304, b="T" * 303 + "U")
@example(a="a" * 300, b="a" * 190)
def test_index_names_are_valid_injective_and_never_the_checkpoint_index(
    prefix: str, a: str, b: str
) -> None:
    names = {table: index_name(prefix, table) for table in (a, b)}
    for table, name in names.items():
        assert invalid_index_name(name) is None, (table, name)
        assert len(name.encode("utf-8")) <= MAX_INDEX_BYTES
        assert name.startswith(prefix + "-")
        assert fnmatch.fnmatchcase(name, f"{prefix}-*")  # the index template's pattern
        assert name not in (checkpoint_index(prefix), legacy_checkpoint_index(prefix))
    if a != b:
        assert names[a] != names[b]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_checkpoint_index_is_valid_and_outside_the_table_pattern(prefix: str) -> None:
    assert invalid_index_name(checkpoint_index(prefix)) is None
    assert not fnmatch.fnmatchcase(checkpoint_index(prefix), f"{prefix}-*")


def test_plain_qldb_names_stay_readable() -> None:
    assert index_name("cdc", "VehicleRegistration") == "cdc-.vehicle.registration"
    assert index_name("cdc", "person_2") == "cdc-person_2"
    assert table_suffix("a,b") == "a~2c~b"
    assert table_suffix("x\ny") == "x~a~y"
    assert table_suffix("-.~") == "~2d~~2e~~7e~"
    assert checkpoint_index("cdc") == "cdc~checkpoints"
    assert legacy_checkpoint_index("cdc") == "cdc-~checkpoints"


def test_long_names_are_cut_to_255_bytes_with_a_hash() -> None:
    name = index_name("cdc", "T" * 304)
    assert len(name) == MAX_INDEX_BYTES
    assert name.startswith("cdc-.t.t")
    assert name[-65] == "-"
    assert int(name[-64:], 16) >= 0
    assert index_name("cdc", "t" * 251) == "cdc-" + "t" * 251  # exactly 255: not cut


@pytest.mark.parametrize(
    ("prefix", "ok"),
    [
        ("cdc", True),
        ("qldb-cdc.prod_1", True),
        ("a~b+c", True),
        ("p" * 128, True),
        ("p" * 129, False),
        ("", False),
        ("CDC", False),
        ("_cdc", False),
        ("-cdc", False),
        ("+cdc", False),
        (".cdc", False),
        (".", False),
        ("..", False),
        ("a*b", False),
        ("a b", False),
        ("a:b", False),
        ("a,b", False),
        ("a#b", False),
        ("a\nb", False),
        ("a%b", False),
        ("łódź", False),
    ],
)
def test_invalid_prefix_reason(prefix: str, ok: bool) -> None:
    reason = invalid_prefix_reason(prefix)
    assert (reason is None) == ok
    if reason is not None:
        assert "\n" not in reason
