"""Faster construction of frozen, slotted dataclasses that are built once per revision.

A frozen dataclass stores each field in ``__init__`` with ``object.__setattr__`` (its own
``__setattr__`` refuses). :func:`fast_init` gives such a class an ``__init__`` that stores each
field through its slot descriptor instead, about twice as fast; a replay builds several of these
objects per revision. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Replace the generated ``__init__`` of the frozen, slotted dataclass ``cls``.

    Guarantees: the same parameters, in the same order, with the same defaults; instances are
    equal, hash, order, pickle and stay frozen exactly as with the generated ``__init__``
    (assigning a field still raises ``FrozenInstanceError``). Classes it cannot serve this way
    (not a frozen slotted dataclass, keyword-only or ``init=False`` fields, default factories,
    ``__post_init__``) raise TypeError at import time instead of behaving differently.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        msg = f"{cls.__name__}: fast_init needs @dataclass(frozen=True, slots=True)"
        raise TypeError(msg)
    if hasattr(cls, "__post_init__"):
        msg = f"{cls.__name__}: fast_init does not run __post_init__"
        raise TypeError(msg)
    namespace: dict[str, Any] = {}
    parameters: list[str] = []
    body: list[str] = []
    for number, f in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            msg = f"{cls.__name__}.{f.name}: fast_init takes only plain positional fields"
            raise TypeError(msg)
        namespace[f"_set_{number}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            parameters.append(f.name)
        else:
            namespace[f"_default_{number}"] = f.default
            parameters.append(f"{f.name}=_default_{number}")
        body.append(f"    _set_{number}(self, {f.name})")
    # Built from the dataclass's own field names (identifiers) only.
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    generated = cls.__init__
    init.__qualname__ = generated.__qualname__
    init.__module__ = generated.__module__
    init.__annotations__ = dict(generated.__annotations__)
    init.__doc__ = generated.__doc__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning to a method
    return cls
