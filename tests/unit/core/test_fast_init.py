"""core.fast_init: same constructor, same values, still frozen; refuses what it cannot serve."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from core.fast_init import fast_init
from core.model import BlockAddress, Change, ChangeKind, DocKey, ExportOrigin
from schemas.journal import JournalBlock, JournalRevision, RevisionMetadata


def twins() -> tuple[type[Any], type[Any]]:
    """The same frozen slotted dataclass twice: with the generated and with the fast init."""

    def make() -> type[Any]:
        @dataclasses.dataclass(frozen=True, slots=True, order=True)
        class Sample:
            a: int
            b: str
            c: Any = None
            d: Any = dataclasses.field(default="x", compare=False)

        return Sample

    return make(), fast_init(make())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, "b"), {}), ((1, "b", (3,)), {}), ((1,), {"b": "k", "d": 4}), ((), {"a": 2, "b": "y"})],
)
def test_fast_init_builds_what_the_generated_init_builds(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, fast = twins()
    a, b = plain(*args, **kwargs), fast(*args, **kwargs)
    assert dataclasses.astuple(a) == dataclasses.astuple(b)
    assert repr(a).replace("Sample", "") == repr(b).replace("Sample", "")
    assert hash(b) == hash(fast(*args, **kwargs))
    assert b == fast(*args, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.a = 5


def test_fast_init_keeps_the_signature_and_its_errors() -> None:
    plain, fast = twins()
    assert str(inspect.signature(fast)) == str(inspect.signature(plain))
    assert [p.name for p in inspect.signature(fast).parameters.values()] == ["a", "b", "c", "d"]
    with pytest.raises(TypeError):
        fast(1)
    with pytest.raises(TypeError):
        fast(1, "b", 3, 4, 5)
    with pytest.raises(TypeError):
        fast(1, "b", e=1)


def test_the_hot_value_types_use_it_and_still_compare_by_value() -> None:
    for cls in (Change, DocKey, BlockAddress, RevisionMetadata, JournalRevision, JournalBlock):
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
        assert "_set_0" in cls.__init__.__code__.co_names
    key = DocKey("Person", "A")
    block = BlockAddress("S", 3)
    one = Change(
        key,
        1,
        ChangeKind.UPDATE,
        {"x": 1},
        "tx",
        "2021T",
        block,
        "h",
        origin=ExportOrigin("e", "o"),
    )
    two = Change(DocKey("Person", "A"), 1, ChangeKind.UPDATE, {"x": 1}, "tx", "2021T", block, "h")
    assert one == two and hash(key) == hash(DocKey("Person", "A"))
    assert one.data_hash is None and one.table_id is None and one.origin == ExportOrigin("e", "o")
    assert pickle.loads(pickle.dumps(one)) == one
    assert DocKey("a", "b") < DocKey("a", "c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.version = 2  # type: ignore[misc]


def test_classes_it_cannot_serve_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (NoSlots, NotFrozen, Factory, KeywordOnly, PostInit):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)
