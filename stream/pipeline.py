"""The stream path shared by the Lambda handler and the KCL processor.

:func:`process_batch` takes Kinesis records in delivery order and makes every projection reflect
the QLDB revisions inside them. Its guarantees:

* Every outer record ends in exactly one of three states: fully applied (or stale, which is
  success), dead-lettered (poison, with raw bytes and reason), or at/after ``retry_from``.
* Poison never blocks the shard: undecodable KPL aggregates, non-Ion or malformed QLDB records,
  revisions whose hash does not recompute (``verify=True``) and changes a projection can never
  store are dead-lettered, counted and skipped.
* Retryable failures (throttling, 5xx, timeouts, a dead letter that could not be written) are
  mapped back to the outer record(s) they came from; ``retry_from`` is the earliest of them in
  delivery order. A failed key is conservative: every outer record holding a revision of that
  key counts as failed, even when coalescing kept only one of them.
* Nothing stops early. Everything from ``retry_from`` on is redelivered by Kinesis (Lambda
  restarts at the lowest reported sequence number; the KCL processor checkpoints before it), and
  records after it that did succeed are simply applied again: every projection write is
  conditioned on the QLDB version, so redelivery and duplicates are harmless (counted stale).
* Redactions: a ``BLOCK_SUMMARY`` whose ``redactionInfo`` names redacted revisions gives one
  REDACTION change per entry (``changes.from_qldb.redaction_notice``), applied with every other
  change and by the same ordering rules. The entry names its table by id; the name comes from
  the batch itself (``tableInfo`` of REVISION_DETAILS, ``transactionInfo.documents``) or else
  from the table lifecycle a projection recorded (``TableLifecycleProjection.ledger_tables``),
  or else from a target that holds the redacted document (``DocumentTableLookup``: DynamoDB,
  S3 and OpenSearch name it from the document id; the SQL targets record the lifecycle).
  An id nothing names is poison (``UnresolvedTableError``, dead-lettered with the record): a
  retry would not make it known, only stall the shard. Reading the lifecycle failing
  retryably retries the record.
* Table lifecycle: the statements of every BLOCK_SUMMARY (``transactionInfo``) and its
  ``documents`` go to the projections that record lifecycle (``TableLifecycleProjection``,
  after the changes); when recording fails retryably, the summaries that carried them are
  retried like changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from changes.from_qldb import redaction_notice, stream_change
from changes.table_lifecycle import BlockLifecycle, block_events, block_identities
from core.errors import (
    CdcError,
    PoisonError,
    RetryableError,
    UnresolvedTableError,
    VerificationError,
)
from core.model import Change, StreamOrigin
from dead_letters.sinks import BatchDeadLetterSink, DeadLetter, DeadLetterSink
from projections.base import (
    DocumentTableLookup,
    Failure,
    Projection,
    TableLifecycleProjection,
)
from schemas.kinesis import StreamRecord
from schemas.kpl import iter_user_records
from schemas.qldb_stream import (
    BlockSummaryRecord,
    ControlRecord,
    RedactedRevision,
    RevisionDetailsRecord,
    decode_stream_record,
)


@dataclass
class BatchCounts:
    """What one batch did. Projection counts are summed over all projections.

    Attributes:
        records: outer Kinesis records received.
        user_records: user records after KPL de-aggregation (undecodable aggregates excluded).
        revisions: REVISION_DETAILS records decoded into changes.
        control: CONTROL records seen.
        block_summaries: BLOCK_SUMMARY records seen.
        applied: current-state writes that took effect.
        stale: changes rejected by the version condition (duplicates, older versions).
        superseded: changes coalesced away by a newer change in the same batch.
        tombstones: applied deletes.
        redactions: applied redactions.
        redaction_notices: ``redactionInfo`` entries turned into REDACTION changes.
        poison: dead letters written (or attempted), one per poison record or per refusing
            target.
        retried: retryable failures (change failures per projection, changes of a projection
            whose whole apply failed, dead letters that could not be written).
        verify_failures: revisions whose hash did not recompute (a subset of ``poison``).
    """

    records: int = 0
    user_records: int = 0
    revisions: int = 0
    control: int = 0
    block_summaries: int = 0
    applied: int = 0
    stale: int = 0
    superseded: int = 0
    tombstones: int = 0
    redactions: int = 0
    redaction_notices: int = 0
    poison: int = 0
    retried: int = 0
    verify_failures: int = 0


@dataclass
class BatchOutcome:
    """Result of :func:`process_batch`.

    Attributes:
        retry_from: the earliest outer record (delivery order) that must be redelivered, or
            ``None`` when every record was applied or dead-lettered.
        counts: what happened.
        failed_indexes: indexes (into the input) of every outer record that failed retryably.
    """

    retry_from: StreamRecord | None
    counts: BatchCounts
    failed_indexes: set[int] = field(default_factory=set)


def process_batch(
    records: Sequence[StreamRecord],
    projections: Sequence[Projection],
    dead_letters: DeadLetterSink,
    *,
    verify: bool = False,
) -> BatchOutcome:
    """De-aggregate, decode, (optionally) verify and apply one batch; see the module docstring.

    Args:
        records: outer records (or KCL user records) in delivery order.
        projections: every target; each receives all changes of the batch and coalesces itself.
        dead_letters: where poison goes; a failed write makes its record retryable.
        verify: recompute every revision hash and dead-letter revisions that do not match.

    Returns:
        The earliest record to redeliver (if any) and the counts.
    """
    counts = BatchCounts(records=len(records))
    letters: list[tuple[int, DeadLetter]] = []
    lifecycle: list[tuple[int, BlockLifecycle]] = []
    notices: list[_Notice] = []
    names: dict[str, str] = {}
    changes = _decode(
        records, counts, letters, lifecycle, notices=notices, names=names, verify=verify
    )
    failed: set[int] = set()
    if notices:
        changes += _redaction_changes(
            notices, names, projections, counts, letters=letters, failed=failed
        )
    for projection in projections:
        if changes:
            _apply(projection, changes, counts, letters, failed)
        if lifecycle and isinstance(projection, TableLifecycleProjection):
            _apply_lifecycle(projection, lifecycle, counts, failed)
    for index in _deliver(dead_letters, letters):
        failed.add(index)
        counts.retried += 1
    retry_from = records[min(failed)] if failed else None
    return BatchOutcome(retry_from=retry_from, counts=counts, failed_indexes=failed)


def _decode(
    records: Sequence[StreamRecord],
    counts: BatchCounts,
    letters: list[tuple[int, DeadLetter]],
    lifecycle: list[tuple[int, BlockLifecycle]],
    *,
    notices: list[_Notice],
    names: dict[str, str],
    verify: bool,
) -> list[Change]:
    """Decode every record; collect redaction entries in ``notices`` and the table names the
    batch shows in ``names`` (table id -> name)."""
    changes: list[Change] = []
    for index, outer in enumerate(records):
        try:
            users = list(iter_user_records(outer))
        except PoisonError as exc:
            letters.append((index, _letter(outer, exc)))
            counts.poison += 1
            continue
        counts.user_records += len(users)
        for user in users:
            try:
                decoded = decode_stream_record(user.data, exact=verify)
                if isinstance(decoded, RevisionDetailsRecord):
                    if verify:
                        _verify(decoded)
                    changes.append(stream_change(decoded, StreamOrigin(index, user)))
                    counts.revisions += 1
                    if decoded.table_id is not None:
                        names.setdefault(decoded.table_id, decoded.table_name)
                elif isinstance(decoded, BlockSummaryRecord):
                    counts.block_summaries += 1
                    for ref in decoded.block.documents.values():
                        if ref.table_id is not None:
                            names.setdefault(ref.table_id, ref.table_name)
                    notices.extend(_Notice(index, user, decoded, r) for r in decoded.redactions)
                    found = _block_lifecycle(decoded)
                    if found:
                        lifecycle.append((index, found))
                elif isinstance(decoded, ControlRecord):
                    counts.control += 1
            except PoisonError as exc:
                letters.append((index, _letter(user, exc)))
                counts.poison += 1
                counts.verify_failures += isinstance(exc, VerificationError)
    return changes


@dataclass(frozen=True, slots=True)
class _Notice:
    """One ``redactionInfo`` entry, and the user record (of outer record ``index``) it came in."""

    index: int
    user: StreamRecord
    record: BlockSummaryRecord
    redacted: RedactedRevision


def _redaction_changes(
    notices: list[_Notice],
    names: dict[str, str],
    projections: Sequence[Projection],
    counts: BatchCounts,
    *,
    letters: list[tuple[int, DeadLetter]],
    failed: set[int],
) -> list[Change]:
    """The REDACTION change of every notice whose table id has a name (see the module
    docstring); the others are dead-lettered or, when the lifecycle could not be read,
    retried."""
    unknown = {n.redacted.table_id for n in notices} - names.keys()
    unread = False
    for projection in projections:
        if not unknown:
            break
        if not isinstance(projection, TableLifecycleProjection):
            continue
        try:
            tables = projection.ledger_tables()
        except RetryableError:
            unread = True
            continue
        for table in tables:
            if table.table_id is not None and table.table_id in unknown:
                names[table.table_id] = table.table_name
                unknown.discard(table.table_id)
    if unknown:
        unread = _look_up_documents(notices, names, unknown, projections) or unread
    out: list[Change] = []
    for notice in notices:
        entry = notice.redacted
        name = names.get(entry.table_id)
        if name is None and unread:
            failed.add(notice.index)
            counts.retried += 1
            continue
        try:
            if name is None:
                msg = (
                    f"redaction of document {entry.document_id} v{entry.version} in table id "
                    f"{entry.table_id}: no revision of this batch, no table lifecycle a "
                    "target recorded and no target holding the document names that table; "
                    "apply it by replaying an export taken after the redaction, or put this "
                    "record back on the stream once a target knows the table"
                )
                raise UnresolvedTableError(msg)
            change = redaction_notice(
                notice.record, entry, name, StreamOrigin(notice.index, notice.user)
            )
        except PoisonError as exc:
            letters.append((notice.index, _letter(notice.user, exc)))
            counts.poison += 1
            continue
        out.append(change)
        counts.redaction_notices += 1
    return out


def _block_lifecycle(record: BlockSummaryRecord) -> BlockLifecycle:
    """The lifecycle events and table identities of one BLOCK_SUMMARY (never raises)."""
    events, unparsed = block_events(record.block)
    return BlockLifecycle(events, block_identities(record.block, {}), unparsed)


def _apply_lifecycle(
    projection: TableLifecycleProjection,
    lifecycle: list[tuple[int, BlockLifecycle]],
    counts: BatchCounts,
    failed: set[int],
) -> None:
    """Record the batch's lifecycle in one call; a retryable failure retries its summaries."""
    merged = BlockLifecycle()
    for _, found in lifecycle:
        merged.events.extend(found.events)
        merged.identities.extend(found.identities)
    try:
        projection.apply_table_lifecycle(merged)
    except RetryableError:
        failed.update(index for index, _ in lifecycle)
        counts.retried += len(lifecycle)


def _verify(record: RevisionDetailsRecord) -> None:
    from verification.verifier import verify_revision

    failures = verify_revision(record.revision.raw, block=record.revision.address)
    if failures:
        msg = "; ".join(str(failure) for failure in failures)
        raise VerificationError(msg)


def _look_up_documents(
    notices: list[_Notice],
    names: dict[str, str],
    unknown: set[str],
    projections: Sequence[Projection],
) -> bool:
    """Name the ``unknown`` table ids from the documents the targets hold
    (``DocumentTableLookup``): one notice per unknown id is enough, since QLDB document ids are
    unique in a ledger. Whether a lookup failed retryably (the notices then retry)."""
    lookups = [p for p in projections if isinstance(p, DocumentTableLookup)]
    unread = False
    for notice in notices:
        entry = notice.redacted
        if entry.table_id not in unknown:
            continue
        for lookup in lookups:
            try:
                name = lookup.table_of_document(entry.document_id, entry.table_id)
            except RetryableError:
                unread = True
                continue
            if name is not None:
                names[entry.table_id] = name
                unknown.discard(entry.table_id)
                break
    return unread


def _apply(
    projection: Projection,
    changes: list[Change],
    counts: BatchCounts,
    letters: list[tuple[int, DeadLetter]],
    failed: set[int],
) -> None:
    try:
        report = projection.apply(changes)
    except RetryableError:
        # Nothing in the call could succeed: every record that carried a change is retried.
        failed.update(_origin(change).index for change in changes)
        counts.retried += len(changes)
        return
    counts.applied += report.applied
    counts.stale += report.stale
    counts.superseded += report.superseded
    counts.tombstones += report.tombstones
    counts.redactions += report.redactions
    failed_keys = set()
    for failure in report.failures:
        origin = _origin(failure.change)
        if failure.retryable:
            failed_keys.add(failure.change.key)
            failed.add(origin.index)
            counts.retried += 1
        else:
            letters.append((origin.index, _change_letter(projection.name, failure)))
            counts.poison += 1
    if failed_keys:
        failed.update(_origin(c).index for c in changes if c.key in failed_keys)


def _deliver(sink: DeadLetterSink, letters: list[tuple[int, DeadLetter]]) -> set[int]:
    """Write every letter; return the outer indexes whose letter could not be written."""
    if not letters:
        return set()
    if isinstance(sink, BatchDeadLetterSink):
        try:
            unstored = sink.put_many([letter for _, letter in letters])
        except RetryableError:
            return {index for index, _ in letters}
        ids = {id(letter) for letter in unstored}
        return {index for index, letter in letters if id(letter) in ids}
    failed: set[int] = set()
    for index, letter in letters:
        try:
            sink.put(letter)
        except RetryableError:
            failed.add(index)
    return failed


def _origin(change: Change) -> StreamOrigin:
    origin = change.origin
    if not isinstance(origin, StreamOrigin):
        msg = f"change {change.key} v{change.version} lost its stream origin"
        raise TypeError(msg)
    return origin


def _letter(record: StreamRecord, exc: CdcError) -> DeadLetter:
    return DeadLetter(
        raw=record.data,
        shard_id=record.shard_id,
        sequence_number=record.sequence_number,
        sub_sequence_number=record.sub_sequence_number,
        reason=str(exc),
        error_class=type(exc).__name__,
    )


def _change_letter(target: str, failure_: Failure) -> DeadLetter:
    change = failure_.change
    record = _origin(change).record
    return DeadLetter(
        raw=record.data,
        shard_id=record.shard_id,
        sequence_number=record.sequence_number,
        sub_sequence_number=record.sub_sequence_number,
        reason=str(failure_.error),
        error_class=type(failure_.error).__name__,
        target=target,
        document_key=f"{change.key.table}/{change.key.doc_id}@{change.version}",
    )
