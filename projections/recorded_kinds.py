"""Which field kinds a batch adds to a projection's record (``ledger_field_types``). Pure.

Every projection that builds typed views keeps the union of ``(ledger table, field, Ion
kind)`` over the changes it stored (``projections/base.py`` ``TypedViewProjection``). This
module picks the triples of a batch that are not recorded yet, so each is written once per
process, in the same transaction as the data.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from core.model import Change

KindTriple = tuple[str, str, str]
"""(ledger table, top-level field, :class:`~core.ion_kinds.IonKind` value)."""


def new_kinds(
    changes: Iterable[Change], known: Collection[KindTriple], *, failed: Collection[int] = ()
) -> list[KindTriple]:
    """The triples of ``changes`` not in ``known``, each once, in first-seen order.

    ``failed`` holds the ``id()`` of changes that are not stored (their names may not even be
    storable): they are left out.
    """
    new: dict[KindTriple, None] = {}
    for change in changes:
        kinds = change.field_kinds
        if not kinds or (failed and id(change) in failed):
            continue
        table = change.key.table
        for name, kind in kinds:
            triple = (table, name, kind.value)
            if triple not in known:
                new[triple] = None
    return list(new)
