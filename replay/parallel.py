"""Replay data objects in several worker processes (``qldb-cdc replay --workers N``).

Guarantees:

* The final state equals a single-worker replay: data objects are independent because every
  projection write is version-conditioned, so the order in which objects (and their changes)
  land does not matter.
* Each worker opens its own source and target connections (from the picklable target specs of
  its :class:`WorkerConfig`, parsed once by the caller) and holds at most one batch and one
  block in memory, so memory per worker is bounded as in a single-worker replay. Workers take
  runs of consecutive objects (see :func:`_chunks`) whose changes share batches.
* An object is recorded complete in a target only after all its changes are applied there, so a
  killed run resumes where it stopped and converges.
* With ``--verify`` every block is verified inside its worker, and so is each link between
  consecutive objects of one chunk (the worker's verifier runs across them); the links between
  chunks (an object's first ``previousBlockHash`` against the previous object's last
  ``blockHash``) are checked here as soon as both chunks report. An object is recorded complete
  as soon as its changes are applied and its links to both neighbours are verified, so an
  interrupted verified replay keeps its progress, and a broken link is found again by a re-run.
* Ctrl-C or SIGTERM (to the whole process group or to this process alone) stops every worker
  at its next block: the workers only record the signal (:mod:`runtime.interrupts`) and the
  parent also tells them through an event; nothing queued is started afterwards.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.errors import ConfigError, RetryableError
from dead_letters.sinks import JsonLinesDeadLetterSink
from exports.plan import ExportObject, ExportPlan
from exports.store import ExportStore, open_store
from projections.base import ApplyReport, Projection
from projections.closing import closing_all
from projections.targets import TargetSpec
from replay.engine import (
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
from replay.verify import ChainBlockVerifier
from runtime import interrupts
from schemas.journal_export import ExportFormat


class WorkerDiedError(ReplayError, RetryableError):
    """A worker process ended abnormally; a re-run resumes from the completed objects."""


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs to rebuild its source and targets (picklable).

    Attributes:
        source: the export folder or ``s3://bucket/prefix``.
        targets: the target specs; each worker opens every one of them once.
        batch_size: as :attr:`ReplayOptions.batch_size`.
        fmt: as :attr:`ReplayOptions.fmt`.
        verify: each worker verifies with its own :class:`ChainBlockVerifier`.
        dead_letter: the JSON Lines dead-letter file every worker appends to, or ``None``.
    """

    source: str
    targets: tuple[TargetSpec, ...]
    batch_size: int
    fmt: ExportFormat | None
    verify: bool
    dead_letter: Path | None

    @classmethod
    def from_options(
        cls, source: str, targets: Sequence[TargetSpec], options: ReplayOptions
    ) -> WorkerConfig:
        """The worker configuration of a replay of ``source`` into ``targets`` with ``options``.

        ``options.verifier`` only says whether to verify (workers cannot share one verifier);
        ``options.progress`` stays with the caller (see ``on_object`` of
        :func:`replay_parallel`).

        Raises:
            ConfigError: ``options.dead_letters`` writes to a sink other than a JSON Lines file,
                which worker processes cannot share.
        """
        dead_letter = None
        if options.dead_letters is not None:
            sink = options.dead_letters.sink
            if not isinstance(sink, JsonLinesDeadLetterSink):
                msg = "a replay with workers sends dead letters to a JSON Lines file only"
                raise ConfigError(msg)
            dead_letter = sink.path
        return cls(
            source=source,
            targets=tuple(targets),
            batch_size=options.batch_size,
            fmt=options.fmt,
            verify=options.verifier is not None,
            dead_letter=dead_letter,
        )


@dataclass
class _Worker:
    config: WorkerConfig
    store: ExportStore
    targets: dict[TargetSpec, Projection]
    dead_letters: ChangeDeadLetters | None


@dataclass(frozen=True)
class _Chunk:
    """A run of consecutive pending objects for one worker (picklable).

    ``linked[i]``: object ``i`` continues object ``i - 1``'s chain, so the worker verifies that
    link. ``held``: objects linked to an object of another chunk; the parent records them once
    it has checked that link.
    """

    objects: list[ExportObject]
    targets: tuple[TargetSpec, ...]
    linked: tuple[bool, ...] = ()
    held: frozenset[str] = frozenset()


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that starts with SIGINT/SIGTERM blocked until its initializer installs
    the handlers (``interrupts.deferred``): Ctrl-C while it imports is no traceback."""

    def start(self) -> None:
        with interrupts.deferred():
            super().start()


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


# One worker process = one source and one set of targets, built by the pool initializer.
_WORKER: dict[str, _Worker] = {}


def _init_worker(config: WorkerConfig, stop: EventLike) -> None:
    # Signals only set a flag here (never an exception inside amazon-ion's C code); the replay
    # loop stops at its next block. The parent's stop event does the same for a signal that only
    # the parent received.
    interrupts.install(raise_interrupt=False)
    threading.Thread(target=_stop_when_set, args=(stop,), daemon=True).start()
    tune_gc_for_replay()
    _WORKER["current"] = _Worker(
        config=config,
        store=open_store(config.source),
        targets={spec: spec.open() for spec in config.targets},
        dead_letters=(
            None
            if config.dead_letter is None
            else ChangeDeadLetters(JsonLinesDeadLetterSink(config.dead_letter))
        ),
    )


class EventLike(Protocol):
    """``multiprocessing.Event`` as used here."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set."""
        ...

    def set(self) -> None:
        """Wake every waiter."""
        ...


def _stop_when_set(stop: EventLike) -> None:
    stop.wait()
    interrupts.record(signal.SIGTERM)


def _work(chunk: _Chunk) -> list[ObjectOutcome]:
    worker = _WORKER["current"]
    options = ReplayOptions(
        batch_size=worker.config.batch_size,
        fmt=worker.config.fmt,
        verifier=ChainBlockVerifier() if worker.config.verify else None,
        dead_letters=worker.dead_letters,
    )
    targets = [worker.targets[spec] for spec in chunk.targets]
    return replay_objects(
        worker.store, chunk.objects, targets, options, linked=chunk.linked, held=chunk.held
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
    links = _required_links(plan, todo) if config.verify else {}
    chunks = _chunks(todo, workers, links)
    held = _HeldObjects(plan, chunks, links)
    outcomes: dict[str, ObjectOutcome] = {}
    context = _WorkerContext()
    stop = context.Event()
    recorder: dict[TargetSpec, Projection] = {}
    opened: list[Projection] = []
    with (
        closing_all(opened),
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(config, stop),
        ) as pool,
    ):
        try:
            pending = {pool.submit(_work, chunk) for chunk in chunks}
            while pending:
                interrupts.check()
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    for outcome in future.result():
                        outcomes[outcome.key] = outcome
                        summary.merge(outcome.summary)
                        if on_object is not None:
                            on_object(outcome)
                for obj, specs in held.ready(outcomes):
                    for spec in specs:
                        if spec not in recorder:
                            recorder[spec] = spec.open()
                            opened.append(recorder[spec])
                        recorder[spec].mark_object_complete(obj.export_id, obj.key)
        except BrokenProcessPool as exc:
            stop.set()
            msg = (
                "a replay worker process died (killed or out of memory); completed objects are "
                "kept: re-run the same command to resume"
            )
            raise WorkerDiedError(msg) from exc
        except BaseException:
            stop.set()  # every worker stops at its next block; nothing queued starts
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    summary.elapsed_s = time.monotonic() - started
    return summary


Pending = list[tuple[ExportObject, tuple[TargetSpec, ...]]]

CHUNKS_PER_WORKER = 4
"""Work is handed out in about this many chunks per worker (for balance); a chunk is a run of
consecutive objects missing from the same targets, and its changes share batches."""
MAX_CHUNK_OBJECTS = 16


def _chunks(todo: Pending, workers: int, links: Mapping[str, str]) -> list[_Chunk]:
    """Split ``todo`` into runs of consecutive objects missing from the same targets.

    ``links`` maps an object key to the key of the previous object whose chain it continues
    (only with ``--verify``); see :class:`_Chunk` for what the chunks say about them.
    """
    size = max(1, min(MAX_CHUNK_OBJECTS, len(todo) // (workers * CHUNKS_PER_WORKER)))
    runs: list[tuple[list[ExportObject], tuple[TargetSpec, ...]]] = []
    for obj, specs in todo:
        if runs and runs[-1][1] == specs and len(runs[-1][0]) < size:
            runs[-1][0].append(obj)
        else:
            runs.append(([obj], specs))
    continued = set(links.values())
    chunks = []
    for objects, specs in runs:
        linked = tuple(
            i > 0 and links.get(obj.key) == objects[i - 1].key for i, obj in enumerate(objects)
        )
        held = set()
        if objects[0].key in links:
            held.add(objects[0].key)  # continues the last object of the previous chunk
        if objects[-1].key in continued:
            held.add(objects[-1].key)  # continued by the first object of the next chunk
        chunks.append(_Chunk(objects, specs, linked, frozenset(held)))
    return chunks


def _required_links(plan: ExportPlan, todo: Pending) -> dict[str, str]:
    """For each pending object whose chain continues the previous pending object in the plan,
    that object's key. (When the previous object was done in an earlier run, that run checked
    the link before recording it, so it is not checked again.)"""
    keys = {obj.key for obj, _ in todo}
    return {
        nxt.key: prev.key
        for prev, nxt in zip(plan.objects, plan.objects[1:], strict=False)
        if prev.key in keys and nxt.key in keys and nxt.range.first == prev.range.last + 1
    }


class _HeldObjects:
    """Objects whose links to another chunk the parent checks before recording them."""

    def __init__(self, plan: ExportPlan, chunks: list[_Chunk], links: Mapping[str, str]) -> None:
        self.objects = {obj.key: obj for obj in plan.objects}
        self.previous = dict(links)
        self.next = {prev: nxt for nxt, prev in links.items()}
        self.waiting = {
            obj.key: chunk.targets
            for chunk in chunks
            for obj in chunk.objects
            if obj.key in chunk.held
        }

    def ready(
        self, outcomes: Mapping[str, ObjectOutcome]
    ) -> list[tuple[ExportObject, tuple[TargetSpec, ...]]]:
        """Held objects whose neighbours have all been read, their links checked.

        Raises:
            VerificationFailedError: a link between two objects does not hold.
        """
        out = []
        for key, specs in list(self.waiting.items()):
            pairs = [(self.previous.get(key), key), (key, self.next.get(key))]
            links = [(p, n) for p, n in pairs if p is not None and n is not None]
            if not all(p in outcomes and n in outcomes for p, n in links):
                continue
            for p, n in links:
                _check_link(self.objects[p], self.objects[n], outcomes)
            del self.waiting[key]
            out.append((self.objects[key], specs))
        return out


def _pending_objects(
    plan: ExportPlan,
    config: WorkerConfig,
    summary: ReplaySummary,
    on_object: Callable[[ObjectOutcome], None] | None,
) -> Pending:
    """Each object still missing from at least one target, with the specs of those targets."""
    targets: list[Projection] = []
    with closing_all(targets):
        targets.extend(spec.open() for spec in config.targets)
        done = completed_by_target(plan, targets)
        names = {spec: target.name for spec, target in zip(config.targets, targets, strict=True)}
        summary.targets = {t.name: ApplyReport() for t in targets}
    todo: Pending = []
    for obj in plan.objects:
        specs = tuple(s for s in config.targets if obj.key not in done[(names[s], obj.export_id)])
        if specs:
            todo.append((obj, specs))
        else:
            summary.objects_already_done += 1
            if on_object is not None:  # progress counts objects done in an earlier run too
                on_object(ObjectOutcome(obj.key, ReplaySummary()))
    return todo


def _check_link(
    prev: ExportObject, nxt: ExportObject, outcomes: Mapping[str, ObjectOutcome]
) -> None:
    """``nxt``'s first block must link to ``prev``'s last block."""
    if outcomes[nxt.key].first_previous_hash != outcomes[prev.key].last_block_hash:
        msg = (
            f"verification failed: block {nxt.range.strand_id}/{nxt.range.first}: "
            "previousBlockHash does not match "
            f"blockHash of block {prev.range.strand_id}/{prev.range.last} (object {nxt.key})"
        )
        raise VerificationFailedError(msg)
