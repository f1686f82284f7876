"""One contract, every projection: the final state equals in-order application, always.

Each test GIVEN a set of revisions (in some order, maybe duplicated), WHEN applied to the
projection (in one or several batches), THEN the stored current state (and history, where the
projection keeps one) equals the reference computed by applying them once, in version order.
Every batch applied through :func:`apply_checked` is also applied to a
:class:`~projections.memory.MemoryProjection` fed the same batches, and the projection's counts
must equal the reference's (``history_written`` only for projections with history) and balance:
``applied + stale + superseded + len(failures) == received``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UnstorableChangeError
from core.model import Change, ChangeKind, DocKey
from projections.base import ApplyReport
from projections.memory import MemoryProjection
from tests.support.builders import history, make_change, make_notice
from tests.support.projection_harness import Harness, expected_state


def assert_balanced(report: ApplyReport, batch: Sequence[Change]) -> None:
    """Every change of ``batch`` is counted exactly once."""
    assert report.received == len(batch)
    counted = report.applied + report.stale + report.superseded + len(report.failures)
    assert counted == report.received, report


def apply_checked(h: Harness, reference: MemoryProjection, batch: list[Change]) -> ApplyReport:
    """Apply ``batch`` to the projection and the reference; the counts must agree."""
    report = h.projection.apply(batch)
    want = reference.apply(batch)
    assert report.failures == [], report.failures
    assert_balanced(report, batch)
    got_counts = (report.applied, report.stale, report.superseded)
    assert got_counts == (want.applied, want.stale, want.superseded), (report, want)
    assert (report.tombstones, report.redactions) == (want.tombstones, want.redactions)
    if h.read_history is not None:
        assert report.history_written == want.history_written, (report, want)
        assert report.history_redactions == want.history_redactions, (report, want)
    return report


def apply_in_batches(
    h: Harness,
    changes: list[Change],
    batch_size: int,
    reference: MemoryProjection | None = None,
) -> MemoryProjection:
    """Apply ``changes`` in slices of ``batch_size`` with :func:`apply_checked`."""
    reference = MemoryProjection() if reference is None else reference
    for start in range(0, len(changes), batch_size):
        apply_checked(h, reference, changes[start : start + batch_size])
    return reference


def assert_converged(h: Harness, changes: list[Change]) -> None:
    want_current, want_history = expected_state(changes)
    assert h.read_current() == want_current
    if h.read_history is not None:
        assert h.read_history() == want_history


def test_in_order_history_with_delete(harness: Harness) -> None:
    changes = history("a", 4, delete_last=True) + history("b", 2)
    apply_in_batches(harness, changes, 100)
    current = harness.read_current()
    assert current[DocKey("Person", "a")].deleted is True
    assert current[DocKey("Person", "a")].data is None
    assert current[DocKey("Person", "b")].version == 1
    assert_converged(harness, changes)


def test_duplicates_count_as_stale_and_change_nothing(harness: Harness) -> None:
    changes = history("a", 3)
    reference = apply_in_batches(harness, changes, 100)
    report = apply_checked(harness, reference, changes)
    assert report.applied == 0
    assert report.stale + report.superseded == len(changes)
    assert_converged(harness, changes)


def test_out_of_order_older_version_never_overwrites(harness: Harness) -> None:
    v0, v1, v2 = history("a", 3)
    reference = apply_in_batches(harness, [v2], 1)
    report = apply_checked(harness, reference, [v0, v1])
    assert report.applied == 0
    assert harness.read_current()[DocKey("Person", "a")].version == 2
    assert_converged(harness, [v0, v1, v2])


def test_delete_then_late_update_does_not_resurrect(harness: Harness) -> None:
    changes = history("a", 3, delete_last=True)
    reference = apply_in_batches(harness, [changes[0], changes[2]], 2)
    apply_checked(harness, reference, [changes[1]])
    row = harness.read_current()[DocKey("Person", "a")]
    assert (row.deleted, row.version, row.data) == (True, 2, None)
    assert_converged(harness, changes)


def test_redaction_of_current_version_purges_data(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    red = make_change("a", 1, kind=ChangeKind.REDACTION)
    reference = apply_in_batches(harness, [v0, v1], 2)
    report = apply_checked(harness, reference, [red])
    assert report.redactions == 1
    row = harness.read_current()[DocKey("Person", "a")]
    assert (row.redacted, row.deleted, row.data, row.version) == (True, False, None, 1)
    assert_converged(harness, [v0, v1, red])


def test_redaction_before_original_stays_redacted(harness: Harness) -> None:
    v0 = make_change("a", 0)
    red = make_change("a", 0, kind=ChangeKind.REDACTION)
    reference = apply_in_batches(harness, [red], 1)
    apply_checked(harness, reference, [v0])
    assert harness.read_current()[DocKey("Person", "a")].redacted is True
    assert_converged(harness, [v0, red])


def test_redaction_of_old_version_keeps_current_data(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    red0 = make_change("a", 0, kind=ChangeKind.REDACTION)
    reference = apply_in_batches(harness, [v0, v1], 2)
    report = apply_checked(harness, reference, [red0])
    assert report.redactions == 0  # the current state is v1, unredacted
    if harness.read_history is not None:
        assert (report.history_written, report.history_redactions) == (1, 1)
    assert apply_checked(harness, reference, [red0]).history_redactions == 0  # already redacted
    row = harness.read_current()[DocKey("Person", "a")]
    assert (row.version, row.redacted) == (1, False)
    assert row.data is not None
    assert_converged(harness, [v0, v1, red0])


def test_redaction_notice_after_the_original_keeps_its_metadata(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    notice = make_notice("a", 0)
    reference = apply_in_batches(harness, [v0, v1], 2)
    report = apply_checked(harness, reference, [notice])
    assert report.redactions == 0  # the current state is v1
    if harness.read_history is not None:
        assert (report.history_written, report.history_redactions) == (1, 1)
        row = harness.read_history()[(DocKey("Person", "a"), 0)]
        assert (row.redacted, row.data) == (True, None)
        assert (row.tx_id, row.tx_time, row.revision_hash) == (
            v0.tx_id,
            v0.tx_time,
            v0.revision_hash,
        )
    assert apply_checked(harness, reference, [notice]).history_written == 0  # duplicate
    assert harness.read_current()[DocKey("Person", "a")].data is not None
    assert_converged(harness, [v0, v1, notice])


def test_redaction_notice_before_the_original_takes_its_metadata(harness: Harness) -> None:
    v0, v1, v2 = history("a", 3)
    notice = make_notice("a", 1)
    reference = apply_in_batches(harness, [notice, notice], 1)
    assert harness.read_current()[DocKey("Person", "a")].redacted is True
    report = apply_checked(harness, reference, [v1])
    assert report.applied == 0  # the notice won at v1
    if harness.read_history is not None:
        assert (report.history_written, report.history_redactions) == (1, 0)
        row = harness.read_history()[(DocKey("Person", "a"), 1)]
        assert (row.redacted, row.data, row.revision_hash) == (True, None, v1.revision_hash)
    assert apply_checked(harness, reference, [v1]).history_written == 0  # filled already
    apply_checked(harness, reference, [v2, v0])
    row_now = harness.read_current()[DocKey("Person", "a")]
    assert (row_now.version, row_now.redacted) == (2, False)
    assert_converged(harness, [v0, v1, v2, notice])


def test_redaction_notice_and_its_original_in_one_batch(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    notice = make_notice("a", 0)
    reference = apply_in_batches(harness, [notice, v1, v0, notice], 4)
    if harness.read_history is not None:
        assert harness.read_history()[(DocKey("Person", "a"), 0)].revision_hash == v0.revision_hash
    assert_converged(harness, [v0, v1, notice])
    assert reference.revisions[(DocKey("Person", "a"), 0)].is_redacted


def test_redaction_notice_then_export_redaction_takes_the_data_hash(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    notice = make_notice("a", 0)
    red0 = make_change("a", 0, kind=ChangeKind.REDACTION)
    reference = apply_in_batches(harness, [notice, v1], 2)
    report = apply_checked(harness, reference, [red0])
    if harness.read_history is not None:
        assert (report.history_written, report.history_redactions) == (1, 1)
    assert apply_checked(harness, reference, [v0, notice, red0]).history_written == 0
    assert_converged(harness, [v0, v1, notice, red0])


def test_notice_then_original_then_export_redaction_keeps_every_part(harness: Harness) -> None:
    v0, v1 = history("a", 2)
    notice = make_notice("a", 0)
    red0 = make_change("a", 0, kind=ChangeKind.REDACTION)
    reference = apply_in_batches(harness, [notice, v1], 2)
    apply_checked(harness, reference, [v0])
    report = apply_checked(harness, reference, [red0])
    if harness.read_history is not None:
        assert (report.history_written, report.history_redactions) == (1, 1)
        row = harness.read_history()[(DocKey("Person", "a"), 0)]
        assert (row.revision_hash, row.data_hash) == (v0.revision_hash, red0.data_hash)
    assert_converged(harness, [v0, v1, notice, red0])


def test_ion_type_fidelity(harness: Harness) -> None:
    data = {
        "price": Decimal("1.50"),
        "negzero": Decimal("-0.000"),
        "long": Decimal("1234567890123456789012345678.901234"),
        "exp": Decimal("1.2E+5"),
        "big": 2**62,
        "neg": -7,
        "flag": True,
        "off": False,
        "missing": None,
        "when": "2020-07-10T15:14:13.793+01:30",
        "day": "2020-07-10",
        "blob": "aGVsbG8gd29ybGQ=",
        "nested": {"list": [1, "two", [Decimal("3.0")], {"deep": {"x": []}}], "empty": {}},
        "unicode": 'Łódź ✓ \u2028 "quoted" \\ back',
    }
    change = make_change("typed", 0, data=data)
    apply_in_batches(harness, [change], 1)
    row = harness.read_current()[DocKey("Person", "typed")]
    assert row.data == data
    assert str(row.data["price"]) == "1.50"
    assert str(row.data["negzero"]) == "-0.000"
    assert_converged(harness, [change])


def test_big_document(harness: Harness) -> None:
    big = {"payload": "x" * 450_000, "n": 1}
    changes = [make_change("big", 0, data=big), make_change("big", 1, data={**big, "n": 2})]
    apply_in_batches(harness, list(reversed(changes)), 2)
    row = harness.read_current()[DocKey("Person", "big")]
    assert row.version == 1
    assert row.data == {**big, "n": 2}
    assert_converged(harness, changes)


def test_many_documents_in_one_batch(harness: Harness) -> None:
    changes = [c for i in range(60) for c in history(f"d{i}", 3, table=f"T{i % 3}")]
    random.Random(7).shuffle(changes)
    apply_in_batches(harness, changes, 50)
    assert len(harness.read_current()) == 60
    assert_converged(harness, changes)


LONE_SURROGATE = "\ud800"
"""Valid in a Python ``str`` (JSON ``\\ud800`` escapes, Ion escapes), invalid in UTF-8."""


def unencodable_change(where: str) -> Change:
    """A change whose data value, data key, document id or table name holds a lone surrogate."""
    if where == "data value":
        return make_change("bad", 0, data={"k": [LONE_SURROGATE]})
    if where == "data key":
        return make_change("bad", 0, data={LONE_SURROGATE: 1})
    if where == "document id":
        return make_change("bad" + LONE_SURROGATE, 0)
    return make_change("bad", 0, table="Bad" + LONE_SURROGATE)


@pytest.mark.parametrize("where", ["data value", "data key", "document id", "table name"])
def test_text_that_is_not_utf8_poisons_only_its_change(harness: Harness, where: str) -> None:
    bad, good = unencodable_change(where), make_change("good", 0)
    report = harness.projection.apply([bad, good])
    assert_balanced(report, [bad, good])
    if not harness.utf8_only:  # the in-memory reference stores Python strings as they are
        assert (report.applied, report.failures) == (2, [])
        assert_converged(harness, [bad, good])
        return
    assert report.applied == 1
    assert [failure.change for failure in report.failures] == [bad]
    assert report.failures[0].poison
    assert isinstance(report.failures[0].error, UnstorableChangeError)
    assert_converged(harness, [good])


def test_unencodable_older_revision_is_counted_once(harness: Harness) -> None:
    bad = make_change("a", 0, data={"k": LONE_SURROGATE})
    v1 = make_change("a", 1)
    report = harness.projection.apply([bad, v1])
    assert_balanced(report, [bad, v1])
    assert report.applied == 1
    assert harness.read_current()[DocKey("Person", "a")].version == 1
    if harness.read_history is None or not harness.utf8_only:
        # Current state only (or the reference): the old revision is superseded, never written.
        assert (report.superseded, report.failures) == (1, [])
        return
    # History keeps every revision: the old one cannot be stored, so it fails (poison) instead
    # of being counted as superseded.
    assert report.superseded == 0
    assert [failure.change for failure in report.failures] == [bad]
    assert report.failures[0].poison
    assert set(harness.read_history()) == {(DocKey("Person", "a"), 1)}


HOSTILE_NAMES: list[tuple[str, str]] = [
    # DynamoDB once kept checkpoints in the documents table under this id.
    ("Person", "#checkpoint#exp#hidden.ion"),
    ("Person", "#checkpoint#exp#"),
    # S3 keys: dot segments, slashes and percent signs, the checkpoint folder.
    ("..", "dotdot-table"),
    (".", "dot-table"),
    ("Person", ".."),
    ("Person", "."),
    ("Per/son", "a/b"),
    ("Per%2Fson", "a%2Fb"),
    ("_checkpoints", "exp"),
    ("_checkpoints", "hidden"),
    ("%5Fcheckpoints", "pct-underscore"),
    ("%2E%2E", "pct-dots"),
    # OpenSearch index names: characters a cluster refuses, case, length, the checkpoint index.
    ("a,b", "os-comma"),
    ("x\ny", "os-newline"),
    ("a b#c:d*e?f", "os-punctuation"),
    ('\\/"<>|', "os-forbidden"),
    ("_x", "os-underscore"),
    ("-x", "os-dash"),
    ("+x", "os-plus"),
    ("PERSON", "os-upper"),
    ("person", "os-lower"),
    (".person", "os-dot-lower"),
    ("Łódź", "os-unicode"),
    ("T" * 304, "os-long"),
    ("T" * 303 + "U", "os-long-2"),
    ("qldb-cdc-checkpoints", "os-old-checkpoints"),
    ("~checkpoints", "os-tilde-checkpoints"),
    ("Checkpoints", "os-checkpoints"),
]
"""(table, document id) pairs crafted to collide with a target's own records or layout.

Document ids are distinct: DynamoDB keys documents by id alone (ids are unique per ledger).
"""


def test_hostile_names_are_documents_and_never_checkpoints(harness: Harness) -> None:
    changes = [make_change(doc_id, 0, table=table) for table, doc_id in HOSTILE_NAMES]
    harness.projection.mark_object_complete("exp", "real.ion")
    apply_in_batches(harness, changes, len(changes))
    assert_converged(harness, changes)
    assert harness.projection.completed_objects("exp") == {"real.ion"}
    for export_id in ("current", "revisions", "hidden", "Person"):
        assert harness.projection.completed_objects(export_id) == set()


def test_checkpoints_round_trip(harness: Harness) -> None:
    projection = harness.projection
    assert projection.completed_objects("exp") == set()
    for key in ("a.ion", "dir/b.ion", "a.ion", "../c.ion", "#d.ion"):
        projection.mark_object_complete("exp", key)
    projection.mark_object_complete("other", "e.ion")
    assert projection.completed_objects("exp") == {"a.ion", "dir/b.ion", "../c.ion", "#d.ion"}
    assert projection.completed_objects("other") == {"e.ion"}
    assert harness.read_current() == {}


@st.composite
def shuffled_histories(draw: st.DrawFn) -> tuple[list[Change], list[Change], int]:
    """A random multi-document history plus a permutation of it with duplicates."""
    changes: list[Change] = []
    for i in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 5))
        ending = draw(st.sampled_from(["live", "deleted"]))
        changes += history(
            f"d{i}",
            n,
            table=draw(st.sampled_from(["A", "B"])),
            delete_last=ending == "deleted" and n > 1,
        )
    for change in draw(st.lists(st.sampled_from(changes), max_size=3)):
        if change.kind is not ChangeKind.DELETE:
            changes.append(
                make_change(
                    change.key.doc_id,
                    change.version,
                    table=change.key.table,
                    kind=ChangeKind.REDACTION,
                )
            )
    latest = {c.key: c.version for c in changes}
    older = [c for c in changes if c.kind is not ChangeKind.DELETE and c.version < latest[c.key]]
    if older:
        # stream redaction notices (QLDB redacts superseded revisions only)
        for change in draw(st.lists(st.sampled_from(older), max_size=3)):
            changes.append(make_notice(change.key.doc_id, change.version, table=change.key.table))
    delivered = draw(st.permutations(changes))
    delivered = delivered + draw(st.lists(st.sampled_from(changes), max_size=len(changes)))
    delivered = draw(st.permutations(delivered))
    return changes, delivered, draw(st.integers(1, 8))


def test_any_permutation_with_duplicates_converges(harness: Harness) -> None:
    @settings(
        max_examples=harness.max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(case=shuffled_histories())
    def run(case: tuple[list[Change], list[Change], int]) -> None:
        changes, delivered, batch_size = case
        harness.reset()
        apply_in_batches(harness, delivered, batch_size)
        assert_converged(harness, changes)

    run()
