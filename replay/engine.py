"""Replay QLDB journal exports into projections.

Guarantees:

* Every user revision in the export reaches every target, or the run stops with an error and a
  re-run of the same command continues; nothing is skipped silently. Hash-only system revisions
  and revisions whose table is unknown are counted as skipped.
* Writes are version-conditioned, so a re-run, an overlap with another export or with the live
  stream, or several workers at once cannot change the final state.
* Resume: after all changes of a data object are applied to a target, the object is recorded as
  complete in that target; a later run skips it for that target. Consecutive objects share
  batches, so a re-run after an interruption may re-apply up to ``batch_size`` changes (which
  changes nothing: writes are idempotent).
* Blocks are checked against the range promised by the object name and must be contiguous, so a
  truncated object or a missing block is an error, not a silent hole.
* Memory is bounded by ``batch_size`` changes plus one block, whatever the export size.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from changes.from_qldb import block_changes
from core.errors import (
    CdcError,
    DecodeError,
    PoisonError,
    RetryableError,
    StorageError,
    UserInputError,
)
from core.model import Change, ExportOrigin
from core.retry import Backoff, Retry
from dead_letters.sinks import DeadLetter, DeadLetterSink
from exports.object_blocks import iter_object_blocks
from exports.plan import ExportObject, ExportPlan
from exports.store import ExportStore
from projections.base import ApplyReport, Failure, Projection
from replay.progress import Progress
from replay.table_lifecycle import LifecycleQueue
from replay.verify import JSON_NOT_VERIFIABLE
from runtime import interrupts
from schemas.ion_values import dumps_pure
from schemas.journal import JournalBlock, RejectedRevision
from schemas.journal_export import ExportFormat


class BlockVerifier(Protocol):
    """Checks blocks in journal order; returns one message per problem (empty when valid)."""

    def check(self, block: JournalBlock) -> list[str]:
        """Verify ``block`` (and its link to the previous block checked)."""
        ...

    def restart(self) -> None:
        """Forget the previous block (the next block starts a new, unlinked run)."""
        ...


class ReplayError(CdcError):
    """The replay stopped; the message says why."""


class VerificationFailedError(ReplayError, PoisonError):
    """A hash did not recompute; the message names the block and document."""


class TargetUnavailableError(ReplayError, RetryableError):
    """A target kept failing retryably; nothing was lost and a re-run resumes."""


class UnstorableDocumentError(ReplayError, PoisonError):
    """A target can never store a change and no dead-letter sink was given."""


class PoisonRevisionError(ReplayError, PoisonError):
    """A revision of the export breaks the format and no dead-letter sink was given."""


class ChangeDeadLetters:
    """Sends what cannot be projected to a dead-letter sink (file, SQS) as dead letters: changes
    no target can store, and export revisions that break the format.

    Each letter carries the input (see :func:`revision_bytes`), the reason, the error class, the
    target (for changes), ``exportId/objectKey`` as its position and ``table/docId@version``.
    """

    def __init__(self, sink: DeadLetterSink) -> None:
        """Write through ``sink``; a sink that cannot store a letter raises RetryableError."""
        self.sink = sink
        self.count = 0

    def put(self, failure: Failure, target: str) -> None:
        """Store one failed change durably."""
        change = failure.change
        origin = change.origin
        if isinstance(origin, ExportOrigin):
            raw, raw_format, unavailable = revision_bytes(origin.raw, origin.source)
            position = f"{origin.export_id}/{origin.key}"
        else:  # not from an export: no bytes, and the position reads "None/None" as it always has
            raw, raw_format, unavailable = revision_bytes(None, None)
            position = "None/None"
        block = f"{change.block.strand_id}/{change.block.sequence_no}"
        self.sink.put(
            DeadLetter(
                raw=raw,
                shard_id=None,
                sequence_number=position,
                sub_sequence_number=None,
                reason=f"block {block}: {failure.error}{unavailable}",
                error_class=type(failure.error).__name__,
                target=target,
                document_key=f"{change.key.table}/{change.key.doc_id}@{change.version}",
                raw_format=raw_format,
            )
        )
        self.count += 1

    def put_rejected(
        self, rejected: RejectedRevision, block: JournalBlock, obj: ExportObject
    ) -> None:
        """Store one export revision that breaks the format durably."""
        raw, raw_format, unavailable = revision_bytes(rejected.raw, block.source)
        self.sink.put(
            DeadLetter(
                raw=raw,
                shard_id=None,
                sequence_number=f"{obj.export_id}/{obj.key}",
                sub_sequence_number=rejected.index,
                reason=f"{rejected.reason}{unavailable}",
                error_class="InvalidRecordError",
                document_key=_document_key(block, rejected),
                raw_format=raw_format,
            )
        )
        self.count += 1


def revision_bytes(raw: object, source: bytes | None) -> tuple[bytes, str, str]:
    """The bytes a dead letter keeps for an export revision: ``(bytes, format, note)``.

    The block's line as read for JSON Lines exports (exact, whatever it holds); otherwise the
    revision re-encoded as Ion binary by the pure-Python writer (Ion round-trips exactly; the C
    writer is never handed untrusted values). When neither exists the bytes are empty and the
    note says why (the letter's position still names the object and block).
    """
    if source is not None:
        return bytes(source), "json_line", ""
    if raw is None:
        return b"", "none", ""
    try:
        return dumps_pure(raw), "ion_binary", ""
    except DecodeError as exc:
        return b"", "none", f" (raw bytes unavailable: {exc})"


def _document_key(block: JournalBlock, rejected: RejectedRevision) -> str | None:
    if rejected.document_id is None:
        return None
    ref = block.documents.get(rejected.document_id)
    table = ref.table_name if ref is not None else "?"
    version = "?" if rejected.version is None else str(rejected.version)
    return f"{table}/{rejected.document_id}@{version}"


@dataclass
class ReplaySummary:
    """What a replay did; printed at the end of every run."""

    objects_total: int = 0
    objects_replayed: int = 0
    objects_already_done: int = 0
    blocks: int = 0
    blocks_without_documents: int = 0
    revisions_read: int = 0
    skipped_system: int = 0
    skipped_no_table: int = 0
    poison_revisions: int = 0
    verified_blocks: int = 0
    verify_failures: int = 0
    dead_lettered: int = 0
    table_events: int = 0
    unparsed_statements: int = 0
    elapsed_s: float = 0.0
    targets: dict[str, ApplyReport] = field(default_factory=dict)

    def merge(self, other: ReplaySummary) -> None:
        """Add ``other``'s counts (objects, blocks, revisions, per-target reports)."""
        for name in (
            "objects_replayed",
            "objects_already_done",
            "blocks",
            "blocks_without_documents",
            "revisions_read",
            "skipped_system",
            "skipped_no_table",
            "poison_revisions",
            "verified_blocks",
            "verify_failures",
            "dead_lettered",
            "table_events",
            "unparsed_statements",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for target, report in other.targets.items():
            self.targets.setdefault(target, ApplyReport()).merge(report)

    @property
    def rate(self) -> float:
        """Revisions read per second."""
        return self.revisions_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        """Human summary, one fact per line."""
        out = [
            f"objects: {self.objects_replayed} replayed, {self.objects_already_done} already done"
            f" (of {self.objects_total})",
            f"blocks: {self.blocks} read, {self.blocks_without_documents} without documents",
            f"revisions: {self.revisions_read} read, skipped {self.skipped_system} system"
            f" + {self.skipped_no_table} without table"
            + (
                f", {self.poison_revisions} poison (dead-lettered)" if self.poison_revisions else ""
            ),
        ]
        for name, r in self.targets.items():
            out.append(
                f"{name}: applied {r.applied} (tombstones {r.tombstones}, redactions "
                f"{r.redactions} current, {r.history_redactions} in history), stale/duplicate "
                f"{r.stale}, superseded in batch "
                f"{r.superseded}, history rows {r.history_written}"
            )
        if self.table_events or self.unparsed_statements:
            out.append(
                f"table lifecycle: {self.table_events} events"
                + (
                    f", {self.unparsed_statements} unparsed statements ignored"
                    if self.unparsed_statements
                    else ""
                )
            )
        if self.verified_blocks or self.verify_failures:
            out.append(f"verify: {self.verified_blocks} blocks ok, {self.verify_failures} failures")
        if self.dead_lettered:
            out.append(
                f"dead-lettered: {self.dead_lettered} (poison revisions and changes no target "
                "could store)"
            )
        out.append(f"elapsed {self.elapsed_s:.1f}s, {self.rate:,.0f} revisions/s")
        return out


DEFAULT_BATCH_SIZE = 10_000
"""Changes per transaction. Each pending change holds its decoded document: about 3.5 KB for a
300-byte document, so 10,000 keep a replay near 140 MB; lower it for very large documents.
Larger batches coalesce more and commit less often (bench/bench_replay.py)."""


REPLAY_BACKOFF = Backoff(attempts=5, base_seconds=1.0, cap_seconds=30.0)
"""Backoff of a target that fails retryably: 5 tries, waits of 1 s doubling up to 30 s (no
jitter); ``ReplayOptions.max_attempts`` sets the tries."""


@dataclass
class ReplayOptions:
    """Tuning and safety knobs of a replay."""

    batch_size: int = DEFAULT_BATCH_SIZE
    fmt: ExportFormat | None = None
    verifier: BlockVerifier | None = None
    dead_letters: ChangeDeadLetters | None = None
    max_attempts: int = REPLAY_BACKOFF.attempts
    sleep: Callable[[float], None] = interrupts.sleep
    progress: Progress | None = None


@dataclass
class ObjectOutcome:
    """What replaying one data object did, plus its hash-chain ends for cross-object checks."""

    key: str
    summary: ReplaySummary
    first_previous_hash: bytes | None = None
    last_block_hash: bytes | None = None


def tune_gc_for_replay() -> None:
    """Run the cyclic garbage collector less often during a replay.

    A replay allocates millions of short-lived, acyclic containers (decoded blocks, documents);
    with the default thresholds about 10% of the time goes to cyclic collection
    (bench/bench_replay.py). Reference counting still frees all of them promptly.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def replay(
    store: ExportStore,
    plan: ExportPlan,
    targets: Sequence[Projection],
    options: ReplayOptions | None = None,
) -> ReplaySummary:
    """Replay every object of ``plan`` into ``targets``, in order; see the module docstring.

    Changes of consecutive objects share batches (one transaction per ``batch_size`` changes,
    not one per object: exports are often many small objects); each object is recorded complete
    once the batch holding its last change is applied.
    """
    opts = options or ReplayOptions()
    summary = ReplaySummary(objects_total=len(plan.objects))
    summary.targets = {t.name: ApplyReport() for t in targets}
    started = time.monotonic()
    done = completed_by_target(plan, targets)
    batch = _Batch(opts, summary)
    try:
        for obj in plan.objects:
            pending = [t for t in targets if obj.key not in done[(t.name, obj.export_id)]]
            if not pending:
                summary.objects_already_done += 1
                if opts.verifier is not None:
                    opts.verifier.restart()
                _advance(opts, objects=1, nbytes=_size(store, obj.key, opts))
                continue
            if opts.verifier is not None and obj.key in plan.chain_starts:
                opts.verifier.restart()
            batch.use_targets(pending)
            try:
                _replay_object(store, obj, opts, ObjectOutcome(obj.key, summary), batch)
            except (CdcError, OSError) as exc:
                if interrupts.received() is not None:
                    raise KeyboardInterrupt from exc  # a Ctrl-C seen as corrupt Ion: stop now
                # A read error: keep what the objects read before this one did, so a re-run
                # starts here (unless it was writing the batch that failed).
                if not batch.failed:
                    batch.flush()
                raise
            batch.object_read(obj)
            summary.objects_replayed += 1
            _advance(opts, objects=1, nbytes=_size(store, obj.key, opts))
        batch.flush()
    finally:
        summary.elapsed_s = time.monotonic() - started
        if opts.progress is not None:
            opts.progress.finish()
    return summary


class _Batch:
    """Changes read but not applied yet, possibly from several data objects, and the objects
    whose every change is among them or already applied.

    Guarantee: an object is recorded complete in the targets only after the batch holding its
    last change was applied to all of them; an object still being read is never recorded.
    """

    def __init__(
        self, opts: ReplayOptions, summary: ReplaySummary, *, mark_complete: bool = True
    ) -> None:
        """Apply with ``opts``, count into ``summary``; ``mark_complete=False`` leaves recording
        objects complete to the caller."""
        self.opts = opts
        self.summary = summary
        self.mark_complete = mark_complete
        self.failed = False
        self.targets: list[Projection] = []
        self.changes: list[Change] = []
        self.read: list[ExportObject] = []
        self.lifecycle = LifecycleQueue()

    def use_targets(self, targets: list[Projection]) -> None:
        """Send the next changes to ``targets`` (flushing first if they differ)."""
        if [id(t) for t in targets] != [id(t) for t in self.targets]:
            self.flush()
            self.targets = targets

    def add(self, changes: list[Change]) -> None:
        """Queue ``changes``; apply the batch once it holds ``batch_size`` changes."""
        self.changes.extend(changes)
        if len(self.changes) >= self.opts.batch_size:
            self.flush()

    def object_read(self, obj: ExportObject) -> None:
        """Every change of ``obj`` has been queued (or applied)."""
        self.read.append(obj)

    def flush(self) -> None:
        """Apply the queued changes and table lifecycle, then record the fully read objects
        complete.

        When applying fails, :attr:`failed` is set and the changes and objects stay queued:
        nothing whose changes were not all applied is ever recorded complete.
        """
        if self.changes:
            try:
                _apply(self.changes, self.targets, self.opts, self.summary)
            except BaseException:
                self.failed = True
                raise
            self.changes = []
        try:
            backoff = replace(REPLAY_BACKOFF, attempts=self.opts.max_attempts)
            self.lifecycle.apply(self.targets, backoff, self.opts.sleep, TargetUnavailableError)
        except BaseException:
            self.failed = True
            raise
        read, self.read = self.read, []
        if self.mark_complete:
            for obj in read:
                for target in self.targets:
                    target.mark_object_complete(obj.export_id, obj.key)


def completed_by_target(
    plan: ExportPlan, targets: Sequence[Projection]
) -> dict[tuple[str, str], set[str]]:
    """For each (target name, export id), the object keys that target has fully applied."""
    return {
        (target.name, export_id): target.completed_objects(export_id)
        for target in targets
        for export_id in plan.export_ids
    }


def replay_object(
    store: ExportStore,
    obj: ExportObject,
    targets: Sequence[Projection],
    opts: ReplayOptions,
    *,
    mark_complete: bool = True,
) -> ObjectOutcome:
    """Apply every change of one data object to ``targets``, then record it complete in each.

    Safe to run for different objects concurrently (in other processes or Lambdas): writes are
    version-conditioned, so the order in which objects are applied does not matter. With
    ``mark_complete=False`` the caller records completion itself (after checks that need
    several objects, such as hash-chain links between objects).
    """
    return replay_objects(store, [obj], targets, opts, mark_complete=mark_complete)[0]


def replay_objects(
    store: ExportStore,
    objects: Sequence[ExportObject],
    targets: Sequence[Projection],
    opts: ReplayOptions,
    *,
    mark_complete: bool = True,
    linked: Sequence[bool] = (),
    held: Collection[str] = (),
) -> list[ObjectOutcome]:
    """:func:`replay_object` for several objects whose changes share batches.

    Each object is verified as its own chain, except that ``linked[i]`` says object ``i``
    continues object ``i - 1``'s chain: then its first block is verified against that object's
    last block. An object is recorded complete once the batch holding its last change is applied
    and, when the next object is linked to it, that link is verified (at the next object's first
    block). Objects in ``held`` are never recorded here: the caller checks their links to objects
    outside ``objects`` and records them. The target reports and dead letters of the shared
    batches are counted in the last outcome's summary.
    """
    shared = ReplaySummary(targets={t.name: ApplyReport() for t in targets})
    batch = _Batch(opts, shared, mark_complete=mark_complete)
    batch.use_targets(list(targets))
    outcomes = []
    for i, obj in enumerate(objects):
        outcome = ObjectOutcome(
            obj.key, ReplaySummary(targets={t.name: ApplyReport() for t in targets})
        )
        continues = i < len(linked) and linked[i]
        if opts.verifier is not None and not continues:
            opts.verifier.restart()
        previous = objects[i - 1] if continues else None
        release = None
        if previous is not None and previous.key not in held:
            release = partial(batch.object_read, previous)  # its link to this object is verified
        _replay_object(store, obj, opts, outcome, batch, after_first_block=release)
        next_linked = i + 1 < len(linked) and linked[i + 1]
        if not next_linked and obj.key not in held:
            batch.object_read(obj)
        outcome.summary.objects_replayed = 1
        outcomes.append(outcome)
    batch.flush()
    if outcomes:
        outcomes[-1].summary.merge(shared)  # target reports and dead letters of the batches
    return outcomes


def _size(store: ExportStore, key: str, opts: ReplayOptions) -> int:
    if opts.progress is None or not opts.progress.total_bytes:
        return 0
    return store.size(key) or 0


def _advance(opts: ReplayOptions, **counts: int) -> None:
    if opts.progress is not None:
        opts.progress.advance(**counts)


def _replay_object(
    store: ExportStore,
    obj: ExportObject,
    opts: ReplayOptions,
    outcome: ObjectOutcome,
    batch: _Batch,
    *,
    after_first_block: Callable[[], None] | None = None,
) -> None:
    """Read ``obj`` block by block into ``batch``, counting into ``outcome.summary``;
    ``after_first_block`` runs once the first block is read (and verified, when verifying)."""
    summary = outcome.summary
    origin = ExportOrigin(obj.export_id, obj.key)
    keep_raw = opts.dead_letters is not None
    exact = opts.verifier is not None
    for block, fmt in iter_object_blocks(store, obj, opts.fmt, exact=exact):
        interrupts.check()  # amazon-ion's C extension may have swallowed a Ctrl-C
        summary.blocks += 1
        if outcome.first_previous_hash is None:
            outcome.first_previous_hash = block.previous_block_hash
        outcome.last_block_hash = block.block_hash
        if opts.verifier is not None:
            if fmt is ExportFormat.JSON:
                raise UserInputError(JSON_NOT_VERIFIABLE)
            _verify(opts.verifier, block, summary, obj)
        if after_first_block is not None:
            after_first_block()
            after_first_block = None
        if not block.has_documents:
            summary.blocks_without_documents += 1
        found = block_changes(block, origin, keep_raw=keep_raw)
        summary.skipped_system += found.skipped_system
        summary.skipped_no_table += found.skipped_no_table
        read = (
            len(found.changes) + found.skipped_system + found.skipped_no_table + len(found.rejected)
        )
        summary.revisions_read += read
        events, unparsed = batch.lifecycle.read(block)
        if events or unparsed:
            summary.table_events += events
            summary.unparsed_statements += unparsed
        batch.add(found.changes)
        if found.rejected:
            _reject(found.rejected, block, obj, opts, summary)
        _advance(opts, revisions=read)


def _reject(
    rejected: list[RejectedRevision],
    block: JournalBlock,
    obj: ExportObject,
    opts: ReplayOptions,
    s: ReplaySummary,
) -> None:
    """Dead-letter poison revisions, or stop with one line naming the first when there is no
    dead-letter sink (the changes read before it are still written: see :func:`replay`)."""
    if opts.dead_letters is None:
        msg = (
            f"object {obj.key}: {rejected[0].reason} (pass --dead-letter FILE to set such "
            "revisions aside and continue)"
        )
        raise PoisonRevisionError(msg)
    for revision in rejected:
        opts.dead_letters.put_rejected(revision, block, obj)
        s.poison_revisions += 1
        s.dead_lettered += 1


def _verify(
    verifier: BlockVerifier, block: JournalBlock, s: ReplaySummary, obj: ExportObject
) -> None:
    problems = verifier.check(block)
    if problems:
        s.verify_failures += len(problems)
        msg = "verification failed: " + "; ".join(problems[:5]) + f" (object {obj.key})"
        raise VerificationFailedError(msg)
    s.verified_blocks += 1


def _apply(
    changes: list[Change], targets: Sequence[Projection], opts: ReplayOptions, s: ReplaySummary
) -> None:
    """Apply to every target; retry retryable failures with backoff, dead-letter poison ones.

    Only :class:`PoisonError` failures are dead-lettered; every other failure is retried, up to
    ``opts.max_attempts`` tries with waits of 1 s doubling up to 30 s (:data:`REPLAY_BACKOFF`),
    and then stops the replay with :class:`TargetUnavailableError` (nothing recorded as done).
    A :class:`StorageError` raised by ``apply`` stops it at once: waiting does not free space.
    """
    backoff = replace(REPLAY_BACKOFF, attempts=opts.max_attempts)
    for target in targets:
        todo = changes
        for attempt in Retry(backoff, opts.sleep).attempts():
            try:
                report = target.apply(todo)
            except StorageError:
                raise  # a full disk: waiting does not free space, a re-run after freeing does
            except RetryableError as exc:
                error: CdcError = exc
            else:
                retryable = [f for f in report.failures if f.retryable]
                for failure in report.failures:
                    if failure.poison:
                        _dead_letter(failure, target.name, opts, s)
                report.failures = []
                s.targets[target.name].merge(report)
                if not retryable:
                    break
                todo = [f.change for f in retryable]
                error = retryable[0].error
            if attempt == opts.max_attempts:
                msg = (
                    f"target {target.name} keeps failing after {attempt} attempts ({error}); "
                    "nothing was lost: re-run the same command to resume"
                )
                raise TargetUnavailableError(msg) from error


def _dead_letter(failure: Failure, target: str, opts: ReplayOptions, s: ReplaySummary) -> None:
    if opts.dead_letters is None:
        msg = (
            f"target {target} cannot store document {failure.change.key.doc_id} "
            f"v{failure.change.version}: {failure.error} (pass --dead-letter FILE to set such "
            "changes aside and continue)"
        )
        raise UnstorableDocumentError(msg) from failure.error
    opts.dead_letters.put(failure, target)
    s.dead_lettered += 1
