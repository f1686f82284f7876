"""Replay data objects in several worker processes (``qldb-cdc replay --workers N``).

Guarantees:

* The final state equals a single-worker replay: data objects are independent because every
  projection write is version-conditioned, so the order in which objects (and their changes)
  land does not matter.
* Each worker opens its own source and target connections and holds at most one batch and one
  block in memory, so memory per worker is bounded as in a single-worker replay. Workers take
  runs of consecutive objects (see :func:`_chunks`) whose changes share batches.
* An object is recorded complete in a target only after all its changes are applied there, so a
  killed run resumes where it stopped and converges.
* With ``--verify`` every block is verified inside its worker and the links between objects
  (each object's first ``previousBlockHash`` against the previous object's last ``blockHash``)
  are checked here, after the workers report, so the whole chain is still verified.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from consumers.dead_letter import JsonLinesDeadLetterSink
from consumers.export_plan import ExportObject, ExportPlan
from consumers.export_source import ExportStore, open_store
from consumers.replay import (
    ChangeDeadLetters,
    ObjectOutcome,
    ReplayError,
    ReplayOptions,
    ReplaySummary,
    VerificationFailedError,
    completed_by_target,
    replay_objects,
    tune_gc_for_replay,
)
from consumers.targets import open_projection
from consumers.verify import ChainBlockVerifier
from projections.base import ApplyReport, Projection
from projections.closing import closing_all
from schemas.errors import RetryableError
from schemas.journal_export import ExportFormat


class WorkerDiedError(ReplayError, RetryableError):
    """A worker process ended abnormally; a re-run resumes from the completed objects."""


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs to rebuild its source and targets (picklable)."""

    source: str
    target_uris: tuple[str, ...]
    batch_size: int
    fmt: ExportFormat | None
    verify: bool
    dead_letter: Path | None


@dataclass
class _Worker:
    config: WorkerConfig
    store: ExportStore
    targets: dict[str, Projection]
    dead_letters: ChangeDeadLetters | None


# One worker process = one source and one set of targets, built by the pool initializer.
_WORKER: dict[str, _Worker] = {}


def _init_worker(config: WorkerConfig) -> None:
    tune_gc_for_replay()
    _WORKER["current"] = _Worker(
        config=config,
        store=open_store(config.source),
        targets={uri: open_projection(uri) for uri in config.target_uris},
        dead_letters=(
            None
            if config.dead_letter is None
            else ChangeDeadLetters(JsonLinesDeadLetterSink(config.dead_letter))
        ),
    )


def _work(objects: list[ExportObject], uris: tuple[str, ...]) -> list[ObjectOutcome]:
    worker = _WORKER["current"]
    options = ReplayOptions(
        batch_size=worker.config.batch_size,
        fmt=worker.config.fmt,
        verifier=ChainBlockVerifier() if worker.config.verify else None,
        dead_letters=worker.dead_letters,
    )
    targets = [worker.targets[uri] for uri in uris]
    # With --verify the parent records completion after checking links between objects, so a
    # broken link is found again by a re-run instead of hidden behind completed objects.
    return replay_objects(
        worker.store, objects, targets, options, mark_complete=not worker.config.verify
    )


def replay_parallel(
    store: ExportStore,
    plan: ExportPlan,
    config: WorkerConfig,
    workers: int,
    *,
    on_object: Callable[[ObjectOutcome], None] | None = None,
) -> ReplaySummary:
    """Replay ``plan`` with ``workers`` processes; see the module docstring."""
    started = time.monotonic()
    summary = ReplaySummary(objects_total=len(plan.objects))
    todo = _pending_objects(plan, config, summary, on_object)
    outcomes: dict[str, ObjectOutcome] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(config,)
    ) as pool:
        futures: list[Future[list[ObjectOutcome]]] = [
            pool.submit(_work, objects, uris) for objects, uris in _chunks(todo, workers)
        ]
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in finished:
                    for outcome in future.result():
                        outcomes[outcome.key] = outcome
                        summary.merge(outcome.summary)
                        if on_object is not None:
                            on_object(outcome)
        except BrokenProcessPool as exc:
            msg = (
                "a replay worker process died (killed or out of memory); completed objects are "
                "kept: re-run the same command to resume"
            )
            raise WorkerDiedError(msg) from exc
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if config.verify:
        _check_links(plan, outcomes, {obj.key for obj, _ in todo})
        _mark_complete(config, todo)
    summary.elapsed_s = time.monotonic() - started
    return summary


Pending = list[tuple[ExportObject, tuple[str, ...]]]

CHUNKS_PER_WORKER = 4
"""Work is handed out in about this many chunks per worker (for balance); a chunk is a run of
consecutive objects missing from the same targets, and its changes share batches."""
MAX_CHUNK_OBJECTS = 16


def _chunks(todo: Pending, workers: int) -> list[tuple[list[ExportObject], tuple[str, ...]]]:
    """Split ``todo`` into runs of consecutive objects with the same target URIs."""
    size = max(1, min(MAX_CHUNK_OBJECTS, len(todo) // (workers * CHUNKS_PER_WORKER)))
    chunks: list[tuple[list[ExportObject], tuple[str, ...]]] = []
    for obj, uris in todo:
        if chunks and chunks[-1][1] == uris and len(chunks[-1][0]) < size:
            chunks[-1][0].append(obj)
        else:
            chunks.append(([obj], uris))
    return chunks


def _pending_objects(
    plan: ExportPlan,
    config: WorkerConfig,
    summary: ReplaySummary,
    on_object: Callable[[ObjectOutcome], None] | None,
) -> Pending:
    """Each object still missing from at least one target, with the target URIs missing it."""
    targets: list[Projection] = []
    with closing_all(targets):
        targets.extend(open_projection(uri) for uri in config.target_uris)
        done = completed_by_target(plan, targets)
        names = {uri: target.name for uri, target in zip(config.target_uris, targets, strict=True)}
        summary.targets = {t.name: ApplyReport() for t in targets}
    todo: Pending = []
    for obj in plan.objects:
        uris = tuple(
            u for u in config.target_uris if obj.key not in done[(names[u], obj.export_id)]
        )
        if uris:
            todo.append((obj, uris))
        else:
            summary.objects_already_done += 1
            if on_object is not None:  # progress counts objects done in an earlier run too
                on_object(ObjectOutcome(obj.key, ReplaySummary()))
    return todo


def _mark_complete(config: WorkerConfig, todo: Pending) -> None:
    """Record verified objects complete in the targets that replayed them."""
    targets = {uri: open_projection(uri) for uri in config.target_uris}
    try:
        for obj, uris in todo:
            for uri in uris:
                targets[uri].mark_object_complete(obj.export_id, obj.key)
    finally:
        for target in targets.values():
            target.close()


def _check_links(plan: ExportPlan, outcomes: dict[str, ObjectOutcome], replayed: set[str]) -> None:
    """Each replayed object's first block must link to the previous object's last block."""
    for prev, nxt in zip(plan.objects, plan.objects[1:], strict=False):
        if nxt.key not in replayed or prev.key not in outcomes:
            continue  # the previous object was already done: its hashes were not read
        if nxt.range.first != prev.range.last + 1:
            continue  # overlapping exports: not a link
        first_prev = outcomes[nxt.key].first_previous_hash
        if first_prev != outcomes[prev.key].last_block_hash:
            msg = (
                f"verification failed: block {nxt.range.strand_id}/{nxt.range.first}: "
                "previousBlockHash does not match "
                f"blockHash of block {prev.range.strand_id}/{prev.range.last} (object {nxt.key})"
            )
            raise VerificationFailedError(msg)
