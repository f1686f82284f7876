"""``rejected_revisions`` (what ``verify`` lists as poison) equals ``block_changes(...).rejected``.

``has_plain_form`` may only answer True when ``to_plain`` cannot raise; it may answer False for
anything (the caller then asks ``to_plain`` itself).
"""

from __future__ import annotations

from typing import Any

from amazon.ion import simpleion
from amazon.ion.symbols import SymbolToken
from hypothesis import HealthCheck, given, settings

from changes.from_qldb import block_changes, rejected_revisions
from core.errors import DecodeError
from schemas import ion_values
from schemas.ion_values import has_plain_form, to_plain
from schemas.journal import parse_block
from schemas.limits import MAX_NESTING
from simulation.config import SimulationConfig
from simulation.ledger import generate_blocks
from tests.support.export_builder import Rev, block
from tests.support.ion_strategies import ion_values as any_ion_value
from tests.support.ion_strategies import multimap


def _converts(value: Any) -> bool:
    try:
        to_plain(value)
    except DecodeError:
        return False
    return True


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(any_ion_value())
def test_a_plain_form_is_only_promised_when_to_plain_converts(value: Any) -> None:
    if has_plain_form(value):
        assert _converts(value)


def test_ordinary_documents_have_a_plain_form_without_asking_to_plain() -> None:
    value = ion_values.loads(
        simpleion.dumps({"a": [1, "x", None, {"b": b"\x00"}], "t": simpleion.loads("2020T")}),
        exact=True,
    )
    assert has_plain_form(value)
    assert has_plain_form(multimap([("a", 1), ("a", 2)]))


def _poison_block(data: Any) -> Any:
    value = block(
        7,
        [Rev("Person", "A" * 22, 0, {"fine": 1}), Rev("Person", "B" * 22, 1, {"x": 1})],
    )
    value["revisions"][1]["data"] = data
    value["revisions"][0]["metadata"]["version"] = -1  # rejected while parsing
    return parse_block(value)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = multimap([("n", value)])
    return value


def test_rejected_revisions_equals_block_changes_on_poison_blocks() -> None:
    datas = [
        _nested(MAX_NESTING + 1),
        _nested(MAX_NESTING),
        [[1]] * 3,
        multimap([(SymbolToken(None, 10), 1)]),
        multimap([("s", SymbolToken(None, 0))]),
        {"s": SymbolToken("text", 12)},
        {"x": 1},
    ]
    for data in datas:
        parsed = _poison_block(data)
        assert rejected_revisions(parsed) == block_changes(parsed).rejected
    assert [r.reason for r in rejected_revisions(_poison_block(datas[0]))][1].endswith(
        f"document {'B' * 22} v1: document nested more than {MAX_NESTING} levels deep"
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(any_ion_value())
def test_rejected_revisions_equals_block_changes_for_any_data(data: Any) -> None:
    parsed = _poison_block(multimap([("d", data)]))
    assert rejected_revisions(parsed) == block_changes(parsed).rejected


def test_rejected_revisions_equals_block_changes_on_simulated_blocks() -> None:
    config = SimulationConfig(documents=20, revisions=200, seed=4, redaction_ratio=0.05)
    for generated in generate_blocks(config):
        parsed = parse_block(ion_values.loads(simpleion.dumps(generated), exact=True))
        assert rejected_revisions(parsed) == block_changes(parsed).rejected == []
