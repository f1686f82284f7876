"""The fast Ion hash serializer gives the reference (pre-fast) serializer's bytes and errors.

``tests/support/ionhash_reference.py`` is a frozen copy of the hasher before the fast path; the
production hasher must agree with it on every value: the same digest, or the same error class and
message (the verifier's failure messages quote it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ion_values
from simulation.config import SimulationConfig
from simulation.ledger import generate_blocks
from tests.support import ionhash_reference as reference
from tests.support.ion_strategies import ion_values as any_ion_value
from tests.support.ion_strategies import multimap
from verification import ionhash

Outcome = tuple[str, bytes | str]


def _outcome(fn: Callable[[Any], bytes], value: Any) -> Outcome:
    try:
        return ("ok", fn(value))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def _identity(data: bytes) -> bytes:
    return bytes(data)


# One hasher per digest for the whole run, so the caches carry over between examples.
_FAST = {"md5": ionhash.IonHasher(_md5), "identity": ionhash.IonHasher(_identity)}
_REFERENCE = {"md5": reference.IonHasher(_md5), "identity": reference.IonHasher(_identity)}


def _assert_same(value: Any, *, identity: bool = True) -> None:
    """Same outcome for SHA-256, MD5 and, unless ``identity`` is False, the identity digest
    (whose serialization doubles in size with every level of structs: not for deep values)."""
    assert _outcome(ionhash.ion_hash, value) == _outcome(reference.ion_hash, value)
    assert _outcome(ionhash.ion_hash_serialize, value) == _outcome(
        reference.ion_hash_serialize, value
    )
    for name, fast in _FAST.items():
        if identity or name != "identity":
            assert _outcome(fast.serialize, value) == _outcome(_REFERENCE[name].serialize, value)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(any_ion_value())
def test_fast_serializer_equals_the_reference_on_any_value(value: Any) -> None:
    _assert_same(value, identity=False)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(any_ion_value(unusual=False))
def test_fast_serializer_equals_the_reference_after_an_ion_round_trip(value: Any) -> None:
    # what the replay's decoders give (not every drawn value has an Ion form: lone surrogates,
    # symbols without text in annotations)
    for exact in (True, False):
        try:
            decoded = ion_values.loads(simpleion.dumps(value), exact=exact)
        except Exception:
            return
        _assert_same(decoded)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "State"]), any_ion_value()), max_size=6))
def test_repeated_fields_hash_like_the_reference(pairs: list[tuple[str, Any]]) -> None:
    # the (name, value) digest cache: the same pairs again, in other structs and orders
    for struct in (multimap(pairs), multimap(pairs[::-1]), dict(pairs), multimap(pairs + pairs)):
        _assert_same(struct, identity=False)


def test_simulated_ledger_values_hash_like_the_reference() -> None:
    config = SimulationConfig(documents=30, revisions=400, seed=5, redaction_ratio=0.05)
    count = 0
    for generated in generate_blocks(config):
        for exact in (True, False):
            block = ion_values.loads(simpleion.dumps(generated), exact=exact)
            _assert_same(block)
            for revision in block.get("revisions") or ():
                for field in ("metadata", "data"):
                    if field in revision:
                        _assert_same(revision[field])
                        count += 1
    assert count > 800


@pytest.mark.parametrize("depth", [99, 100, 101, 102, 300, 2000])
def test_deep_values_hash_like_the_reference(depth: int) -> None:
    for as_dict in (False, True):
        value: Any = "leaf"
        for _ in range(depth):
            value = multimap([("n", value)]) if as_dict else [value]
        _assert_same(value, identity=False)


def test_cache_limits_keep_results() -> None:
    # more distinct (name, value) pairs, decimals and fractions than the caches keep
    hasher = ionhash.IonHasher(ionhash.sha256_digest)
    for i in range(ionhash._PAIR_CACHE_LIMIT + 50):
        value = {"k": f"v{i % 20000}", "n": i, "d": simpleion.loads(f"{i}.5d-3")}
        assert hasher.hash(value) == reference.ion_hash(value)


@given(
    st.integers(0, 1),
    st.integers(min_value=0, max_value=10**50),
    st.integers(min_value=-(10**6), max_value=10**6),
)
def test_decimal_text_keys_the_exact_decimal(sign: int, coefficient: int, exponent: int) -> None:
    # the decimal and fraction caches are keyed by str(): it must give sign, digits and exponent
    value = Decimal((sign, tuple(map(int, str(coefficient))), exponent))
    assert Decimal(str(value)).as_tuple() == value.as_tuple()


@given(
    st.integers(0, 1),
    st.integers(min_value=0, max_value=10**40),
    st.integers(min_value=-40, max_value=8),
)
def test_decimals_hash_like_the_reference(sign: int, coefficient: int, exponent: int) -> None:
    # a decimal's serialization is read from its text when that is in plain notation
    value = Decimal((sign, tuple(map(int, str(coefficient))), exponent))
    hasher = ionhash.IonHasher(ionhash.sha256_digest)  # a fresh one: the text is read, not cached
    assert hasher.serialize(value) == reference.ion_hash_serialize(value)
    assert hasher.hash({"d": value}) == reference.ion_hash({"d": value})
