"""Find the exports at a location and order their data objects into one contiguous journal.

Guarantees: every completed manifest at the location is used; objects are returned in journal
order; the block ranges promised by object names must be contiguous within an export and
between exports (a gap is an error: history would be missing). Overlapping exports are allowed
and reported, because applying a block twice is harmless.

Exports of different strands (different ledgers) at one location are a mistake, refused before
anything is read, naming every strand and its exports; ``strand`` picks one. Data objects that
no completed manifest lists are reported (a truncated manifest, or an export without its
completed manifest); when no manifest lists any object but objects are there, planning refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from core.errors import CdcError, RetryableError, UserInputError
from exports.store import ExportStore
from schemas.journal_export import (
    COMPLETED_MANIFEST,
    OBJECT_NAME,
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


def plan_exports(store: ExportStore, strand: str | None = None) -> ExportPlan:
    """Read every completed manifest at ``store`` and order the objects (see module docstring).

    ``strand`` keeps only the exports of that strand (required when there are several).
    """
    manifests = store.manifest_keys()
    if not manifests:
        msg = (
            f"no *.completed.manifest found in {store.describe()}: is this a finished QLDB "
            "journal export? (an export that is still running has only a .started.manifest)"
        )
        raise UserInputError(msg)
    manifests = _one_strand(manifests, strand, store)
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
            if isinstance(exc, UserInputError | RetryableError):  # keep its class (exit 2 or 4)
                raise
            msg = f"manifest {manifest}: {exc}"
            raise UserInputError(msg) from exc
        if not objects:
            continue
        _check_strand(objects, match["strand"], f"export {export_id}")
        _check_contiguous(objects, f"export {export_id}")
        exports.append((export_id, objects))
    exports.sort(key=lambda e: (e[1][0].range.first, e[1][-1].range.last))
    warnings = _unreferenced(store, [o for _, objects in exports for o in objects], strand)
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


def _one_strand(manifests: list[str], strand: str | None, store: ExportStore) -> list[str]:
    """The manifests of one strand; refuse several strands unless ``strand`` picks one."""
    by_strand: dict[str, list[str]] = {}
    for manifest in manifests:
        match = COMPLETED_MANIFEST.search(manifest)
        if match is not None:
            by_strand.setdefault(match["strand"], []).append(match["export_id"])
    if strand is not None:
        if strand not in by_strand:
            msg = (
                f"--strand {strand}: no completed manifest of that strand in {store.describe()} "
                f"(strands there: {', '.join(sorted(by_strand))})"
            )
            raise UserInputError(msg)
        return [m for m in manifests if _strand_of(m) == strand]
    if len(by_strand) > 1:
        listed = "; ".join(
            f"strand {name}: export{'s' if len(ids) > 1 else ''} {', '.join(sorted(ids))}"
            for name, ids in sorted(by_strand.items())
        )
        msg = (
            f"{store.describe()} holds exports of {len(by_strand)} strands (different ledgers "
            f"or journals), which must not be merged into one projection: {listed}; pass "
            "--strand ID to replay one of them"
        )
        raise UserInputError(msg)
    return manifests


def _strand_of(manifest: str) -> str | None:
    match = COMPLETED_MANIFEST.search(manifest)
    return None if match is None else match["strand"]


def _check_strand(objects: list[ExportObject], strand: str, where: str) -> None:
    for obj in objects:
        if obj.range.strand_id != strand:
            msg = (
                f"{where}: object {obj.key} is of strand {obj.range.strand_id}, but the manifest "
                f"is of strand {strand}"
            )
            raise UserInputError(msg)


_MAX_LISTED = 5


def _unreferenced(store: ExportStore, planned: list[ExportObject], strand: str | None) -> list[str]:
    """Warnings for data objects no manifest lists; refuse when no manifest lists any."""
    referenced = {store.same_object(o.key) for o in planned}
    stray = [
        key
        for key in store.object_keys()
        if key not in referenced and (strand is None or parse_object_key(key).strand_id == strand)
    ]
    if not stray:
        return []
    shown = ", ".join(stray[:_MAX_LISTED]) + (", ..." if len(stray) > _MAX_LISTED else "")
    if not planned:
        msg = (
            f"the completed manifests in {store.describe()} list no data objects, but "
            f"{len(stray)} data object(s) are there ({shown}): the manifests may be truncated "
            "or belong to another export; nothing was replayed"
        )
        raise UserInputError(msg)
    return [
        f"{len(stray)} data object(s) in {store.describe()} are listed by no completed "
        f"manifest and are not replayed ({shown}): an export without its completed manifest, "
        "or a truncated manifest?"
    ]


def _object_strand(key: str) -> str | None:
    match = OBJECT_NAME.search(key)
    return None if match is None else match["strand"]


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
