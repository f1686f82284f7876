"""The fast clean-block proof (verification.clean_block) never passes a block the full verifier
would fail, and it is the path ordinary export blocks take."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.simple_types import IonPyDict, IonPyNull
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.ion_values import loads
from simulation.config import SimulationConfig
from simulation.ledger import generate_blocks
from verification.clean_block import block_verifies
from verification.qldb_hashes import DeletedRevisionRule
from verification.verifier import (
    ALL_DELETED_RULES,
    _verify_block_in_full,
    verify_block,
)

CONFIG = SimulationConfig(
    documents=30, revisions=300, seed=5, redaction_ratio=0.05, delete_ratio=0.05
)


ENCODED = [simpleion.dumps(block, binary=True) for block in generate_blocks(CONFIG)]
BLOCKS = [loads(data) for data in ENCODED]
"""Simulated blocks as ``qldb-cdc verify`` reads them (Ion binary, the exact value model)."""


def _full(block: Any, rules: Any = ALL_DELETED_RULES) -> list[Any]:
    return _verify_block_in_full(block, (), rules)


def test_ordinary_blocks_take_the_fast_path() -> None:
    user_blocks = [b for b in BLOCKS if b.get("revisions") and "transactionInfo" in b]
    assert len(user_blocks) > 100
    fast = [b for b in BLOCKS if block_verifies(b, ALL_DELETED_RULES)]
    assert len(fast) == len(BLOCKS)  # every block has the usual shape and verifies
    assert all(_full(b) == [] for b in BLOCKS)
    kinds = {
        ("data" in r, "dataHash" in r, "metadata" in r)
        for b in fast
        for r in b.get("revisions") or ()
    }
    assert (True, False, True) in kinds  # user revisions
    assert (False, True, True) in kinds  # redacted
    assert (False, False, True) in kinds  # deleted
    assert (False, False, False) in kinds  # system (hash only)


def test_deleted_rules_are_honoured() -> None:
    deleted = [
        b
        for b in BLOCKS
        if any("metadata" in r and "data" not in r and "dataHash" not in r for r in b["revisions"])
    ]
    assert deleted
    for rules in ([DeletedRevisionRule.METADATA_ONLY], [DeletedRevisionRule.EMPTY_DIGEST], []):
        for block in deleted:
            assert block_verifies(block, rules) == (_full(block, rules) == [])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (field names and list indexes) to a value inside ``value``."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, IonPyDict):
        for key in value:
            out.append((*prefix, key))
            out.extend(_paths(value[key], (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*prefix, index))
            out.extend(_paths(item, (*prefix, index)))
    return out


_REPLACEMENTS = st.one_of(
    st.none(),
    st.just(IonPyNull()),
    st.booleans(),
    st.integers(-3, 3),
    st.text(max_size=3),
    st.binary(min_size=31, max_size=33),
    st.builds(Decimal, st.sampled_from(["0", "1.5", "-0"])),
    st.just([]),
    st.just({}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    block_index=st.integers(0, len(BLOCKS) - 1),
    path_choice=st.integers(0, 10**6),
    action=st.sampled_from(["replace", "delete", "duplicate", "flip", "bump"]),
    replacement=_REPLACEMENTS,
)
def test_a_mutated_block_passes_only_if_the_full_verifier_passes_it(
    block_index: int, path_choice: int, action: str, replacement: Any
) -> None:
    block = loads(ENCODED[block_index])  # a fresh copy
    paths = _paths(block)
    path = paths[path_choice % len(paths)]
    parent = block
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, IonPyDict):
        parent.add_item(last, replacement)  # a repeated field name: the last one is read
    elif action == "flip" and isinstance(parent[last], bytes) and parent[last]:
        raw = parent[last]
        parent[last] = bytes((raw[0] ^ 1,)) + raw[1:]
    elif action == "bump" and type(parent[last]) in (int, str):
        parent[last] = parent[last] + (1 if type(parent[last]) is int else "x")
    else:
        parent[last] = replacement
    full = _full(block)
    if block_verifies(block, ALL_DELETED_RULES):
        assert full == []
    assert verify_block(block) == full


@pytest.mark.parametrize("shape", ["dict", "not a struct", "stream summary"])
def test_unusual_blocks_go_to_the_full_verifier(shape: str) -> None:
    block = loads(ENCODED[5])
    value: Any
    if shape == "dict":
        value = dict(block)
    elif shape == "not a struct":
        value = [block]
    else:
        block["revisionSummaries"] = []
        value = block
    assert block_verifies(value, ALL_DELETED_RULES) == (shape == "dict")
    assert verify_block(value) == _full(value)
