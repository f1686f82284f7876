"""``to_plain`` and ``field_kinds`` read the exact model's ``IonPyDict`` through its field lists;
the result must be the one of the generic ``Mapping`` path (``items()``, every repeated field)."""

from __future__ import annotations

from typing import Any

from amazon.ion.simple_types import IonPyDict, IonPyList
from hypothesis import HealthCheck, given, settings

from core.errors import DecodeError
from schemas.ion_values import field_kinds, to_plain
from tests.support.ion_strategies import ion_values as any_ion_value


class _GenericDict(IonPyDict):  # type: ignore[misc]  # amazon.ion has no type hints
    """An IonPyDict that is not exactly one: it takes the generic path."""


def _generic(value: Any) -> Any:
    """``value`` with every IonPyDict replaced by an equal ``_GenericDict``, at any depth."""
    if type(value) is IonPyDict:
        copy = _GenericDict()
        for key, item in value.items():
            copy.add_item(key, _generic(item))
        copy.ion_annotations = value.ion_annotations
        return copy
    if type(value) is list:
        return [_generic(item) for item in value]
    if type(value) is IonPyList:
        return IonPyList.from_value(
            value.ion_type, [_generic(i) for i in value], value.ion_annotations
        )
    if type(value) is dict:
        return {key: _generic(item) for key, item in value.items()}
    return value


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return ("ok", fn(value))
    except DecodeError as exc:
        return ("error", str(exc))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(any_ion_value())
def test_exact_structs_convert_like_any_other_mapping(value: Any) -> None:
    generic = _generic(value)
    # compared as text: NaN is not equal to itself
    assert repr(_outcome(to_plain, value)) == repr(_outcome(to_plain, generic))
    assert field_kinds(value) == field_kinds(generic)
