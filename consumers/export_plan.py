"""Find the exports at a location and order their data objects into one contiguous journal.

Guarantees: every completed manifest at the location is used; objects are returned in journal
order; the block ranges promised by object names must be contiguous within an export and
between exports (a gap is an error: history would be missing). Overlapping exports are allowed
and reported, because applying a block twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from consumers.export_source import ExportStore
from schemas.errors import CdcError, UserInputError
from schemas.journal_export import (
    COMPLETED_MANIFEST,
    ObjectRange,
    parse_completed_manifest,
    parse_object_key,
)


@dataclass(frozen=True, slots=True)
class ExportObject:
    """One data object to replay."""

    export_id: str
    key: str
    range: ObjectRange


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """All objects to replay, in journal order, and what planning noticed."""

    objects: tuple[ExportObject, ...]
    export_ids: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    chain_starts: frozenset[str] = field(default=frozenset())
    """Keys of objects that do not continue the previous object's block range (the first
    object, and the first object of an overlapping export): a hash-chain check restarts there."""

    @property
    def block_count(self) -> int:
        """Blocks promised by the object names (overlaps counted twice)."""
        return sum(o.range.last - o.range.first + 1 for o in self.objects)


def plan_exports(store: ExportStore) -> ExportPlan:
    """Read every completed manifest at ``store`` and order the objects (see module docstring)."""
    manifests = store.manifest_keys()
    if not manifests:
        msg = (
            f"no *.completed.manifest found in {store.describe()}: is this a finished QLDB "
            "journal export? (an export that is still running has only a .started.manifest)"
        )
        raise UserInputError(msg)
    exports: list[tuple[str, list[ExportObject]]] = []
    for manifest in manifests:
        match = COMPLETED_MANIFEST.search(manifest)
        if match is None:  # pragma: no cover - manifest_keys filters with the same pattern
            continue
        export_id = match["export_id"]
        try:
            keys = parse_completed_manifest(store.read_bytes(manifest))
            objects = [ExportObject(export_id, key, parse_object_key(key)) for key in keys]
        except CdcError as exc:
            if isinstance(exc, UserInputError):
                raise
            msg = f"manifest {manifest}: {exc}"
            raise UserInputError(msg) from exc
        if not objects:
            continue
        _check_contiguous(objects, f"export {export_id}")
        exports.append((export_id, objects))
    exports.sort(key=lambda e: (e[1][0].range.first, e[1][-1].range.last))
    warnings: list[str] = []
    ordered: list[ExportObject] = []
    starts: set[str] = set()
    covered = -1  # highest block number any earlier export holds
    previous_id = ""
    for export_id, objects in exports:
        first, last = objects[0].range.first, objects[-1].range.last
        if ordered and first > covered + 1:
            msg = (
                f"exports {previous_id} and {export_id} leave a gap: blocks "
                f"{covered + 1}-{first - 1} are in no export at {store.describe()}"
            )
            raise UserInputError(msg)
        if ordered and first <= covered:
            warnings.append(
                f"exports {previous_id} and {export_id} overlap on blocks "
                f"{first}-{min(covered, last)}; they are applied twice, which is harmless"
            )
        if not ordered or first != ordered[-1].range.last + 1:
            starts.add(objects[0].key)
        ordered.extend(objects)
        if last > covered:
            covered, previous_id = last, export_id
    return ExportPlan(
        tuple(ordered), tuple(e for e, _ in exports), tuple(warnings), frozenset(starts)
    )


def _check_contiguous(objects: list[ExportObject], where: str) -> None:
    for prev, nxt in pairwise(objects):
        if nxt.range.strand_id != prev.range.strand_id:
            msg = f"{where}: objects of two strands ({prev.key}, {nxt.key}) in one manifest"
            raise UserInputError(msg)
        if nxt.range.first != prev.range.last + 1:
            msg = (
                f"{where}: object {nxt.key} starts at block {nxt.range.first} but the previous "
                f"object ends at {prev.range.last}"
            )
            raise UserInputError(msg)
