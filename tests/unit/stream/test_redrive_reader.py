"""The range reader of ``qldb-cdc redrive`` against a scripted shard: the Kinesis answers moto
cannot give (throttling, expired iterators, ``TrimmedDataAccessException``, endless empty pages)
and the loop's bounds. The moto end-to-end tests are in ``tests/functional/test_redrive.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from core.errors import AccessDeniedError
from core.retry import Backoff, Retry
from schemas.kinesis_failure import KinesisBatchFailure
from stream.redrive import Outcome, ReadLimits, read_range, replay_hint, same_function

ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/ledger"


def batch(start: int, end: int, **extra: Any) -> KinesisBatchFailure:
    return KinesisBatchFailure(
        stream_arn=ARN,
        region="eu-west-1",
        stream_name="ledger",
        shard_id="shardId-000000000003",
        start_sequence_number=str(start),
        end_sequence_number=str(end),
        **extra,
    )


def error(code: str, operation: str, status: int = 400) -> ClientError:
    response: Any = {  # botocore's stubs require every ResponseMetadata key
        "Error": {"Code": code, "Message": f"{code} here"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class ScriptedShard:
    """A shard holding ``sequences``; ``page`` records per GetRecords; ``faults`` are raised, in
    order, by the calls of the operation they name; ``behind`` keeps reporting records behind
    on empty pages (MillisBehindLatest > 0)."""

    def __init__(
        self,
        sequences: Sequence[int],
        *,
        page: int = 2,
        faults: Sequence[tuple[str, ClientError]] = (),
        behind: bool = False,
        empty_pages: int = 0,
    ) -> None:
        self.sequences = list(sequences)
        self.page = page
        self.faults = list(faults)
        self.behind = behind
        self.empty_pages = empty_pages
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _fault(self, operation: str) -> None:
        for index, (name, exc) in enumerate(self.faults):
            if name == operation:
                del self.faults[index]
                raise exc

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GetShardIterator", kwargs))
        self._fault("GetShardIterator")
        number = int(kwargs["StartingSequenceNumber"])
        last = number - 1 if kwargs["ShardIteratorType"] == "AT_SEQUENCE_NUMBER" else number
        return {"ShardIterator": f"after:{last}"}

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GetRecords", kwargs))
        self._fault("GetRecords")
        last = int(kwargs["ShardIterator"].split(":")[1])
        if self.empty_pages > 0 or self.behind:
            self.empty_pages -= 1
            return {"Records": [], "NextShardIterator": f"after:{last}", "MillisBehindLatest": 5}
        found = [s for s in self.sequences if s > last][: self.page]
        rest = [s for s in self.sequences if s > (found[-1] if found else last)]
        return {
            "Records": [
                {
                    "SequenceNumber": str(s),
                    "Data": f"record {s}".encode(),
                    "PartitionKey": "pk",
                    "ApproximateArrivalTimestamp": datetime(2024, 5, 1, tzinfo=UTC),
                }
                for s in found
            ],
            "NextShardIterator": f"after:{found[-1] if found else last}",
            "MillisBehindLatest": 1000 if rest else 0,
        }


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def read(shard: ScriptedShard, target: KinesisBatchFailure, **limits: int) -> Any:
    retry = Retry(Backoff(attempts=3, base_seconds=0.5, cap_seconds=1.0), Sleeps())
    return read_range(cast(Any, shard), target, retry, ReadLimits(**limits))


def test_reads_from_start_to_end_inclusive_and_stops_there() -> None:
    shard = ScriptedShard([10, 11, 12, 13, 14, 15], page=4)
    result = read(shard, batch(11, 13))
    assert result.outcome is None
    assert [r.sequence_number for r in result.records] == ["11", "12", "13"]
    assert result.records[0].data == b"record 11"
    assert result.records[0].shard_id == "shardId-000000000003"
    assert result.records[0].arrival == datetime(2024, 5, 1, tzinfo=UTC).timestamp()
    first = shard.calls[0][1]
    assert first["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
    assert first["StartingSequenceNumber"] == "11"
    assert first["StreamARN"] == ARN


def test_throttling_is_retried_with_backoff() -> None:
    throttled = error("ProvisionedThroughputExceededException", "GetRecords")
    shard = ScriptedShard([1, 2, 3], faults=[("GetRecords", throttled), ("GetRecords", throttled)])
    retry = Retry(Backoff(attempts=3, base_seconds=0.5, cap_seconds=1.0), sleeps := Sleeps())
    result = read_range(cast(Any, shard), batch(1, 3), retry, ReadLimits())
    assert result.outcome is None
    assert len(result.records) == 3
    assert sleeps.waits == [0.5, 1.0]


def test_throttling_that_never_ends_keeps_the_message_for_a_retry() -> None:
    throttled = error("ProvisionedThroughputExceededException", "GetRecords")
    shard = ScriptedShard([1, 2, 3], faults=[("GetRecords", throttled)] * 3)
    result = read(shard, batch(1, 3))
    assert result.outcome is Outcome.RETRY
    assert "kept failing" in result.reason


def test_an_expired_iterator_is_renewed_after_the_last_record_read() -> None:
    expired = error("ExpiredIteratorException", "GetRecords")
    shard = ScriptedShard([1, 2, 3, 4, 5], page=2)
    original = shard.get_records
    state = {"n": 0}

    def expire_second(**kwargs: Any) -> dict[str, Any]:
        state["n"] += 1
        if state["n"] == 2:
            raise expired
        return original(**kwargs)

    shard.get_records = expire_second  # type: ignore[method-assign]
    result = read(shard, batch(1, 5))
    assert result.outcome is None
    assert [r.sequence_number for r in result.records] == ["1", "2", "3", "4", "5"]
    renewals = [c for name, c in shard.calls if name == "GetShardIterator"]
    assert [c["ShardIteratorType"] for c in renewals] == [
        "AT_SEQUENCE_NUMBER",
        "AFTER_SEQUENCE_NUMBER",
    ]
    assert renewals[1]["StartingSequenceNumber"] == "2"


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("GetRecords", "TrimmedDataAccessException"),
        ("GetShardIterator", "InvalidArgumentException"),
    ],
)
def test_kinesis_saying_the_data_is_gone_is_past_retention(operation: str, code: str) -> None:
    shard = ScriptedShard([1, 2, 3], faults=[(operation, error(code, operation))])
    result = read(shard, batch(1, 3))
    assert result.outcome is Outcome.PAST_RETENTION
    assert code in result.reason
    assert result.records == []


def test_a_first_record_after_the_start_means_the_start_was_trimmed() -> None:
    result = read(ScriptedShard([7, 8, 9]), batch(5, 8))
    assert result.outcome is Outcome.PAST_RETENTION
    assert "start of the range was trimmed" in result.reason
    assert result.records == []


def test_a_shard_with_nothing_from_the_start_on_is_past_retention() -> None:
    result = read(ScriptedShard([]), batch(5, 8))
    assert result.outcome is Outcome.PAST_RETENTION
    assert "holds no record from 5 on" in result.reason


def test_a_shard_that_ends_before_the_end_sequence_number_is_poison() -> None:
    result = read(ScriptedShard([5, 6]), batch(5, 8))
    assert result.outcome is Outcome.POISON
    assert "does not match this shard" in result.reason
    assert len(result.records) == 2


def test_empty_pages_that_stay_behind_are_bounded() -> None:
    shard = ScriptedShard([1, 2], behind=True)
    result = read(shard, batch(1, 2), max_empty_reads=3, max_calls=50)
    assert result.outcome is Outcome.RETRY
    assert "empty GetRecords pages" in result.reason
    assert sum(1 for name, _ in shard.calls if name == "GetRecords") == 4


def test_a_few_empty_pages_behind_are_read_through() -> None:
    shard = ScriptedShard([1, 2], empty_pages=2)
    result = read(shard, batch(1, 2))
    assert result.outcome is None
    assert len(result.records) == 2


def test_get_records_calls_are_bounded() -> None:
    shard = ScriptedShard(list(range(1, 101)), page=1)
    result = read(shard, batch(1, 100), max_calls=10)
    assert result.outcome is Outcome.RETRY
    assert result.calls == 10
    assert len(result.records) == 10


def test_denied_access_stops_the_run() -> None:
    shard = ScriptedShard(
        [1], faults=[("GetShardIterator", error("AccessDeniedException", "GetShardIterator"))]
    )
    with pytest.raises(AccessDeniedError):
        read(shard, batch(1, 1))


def test_a_request_kinesis_can_never_accept_is_poison() -> None:
    shard = ScriptedShard([1], faults=[("GetRecords", error("ValidationException", "GetRecords"))])
    result = read(shard, batch(1, 1))
    assert result.outcome is Outcome.POISON
    assert "ValidationException" in result.reason


def test_the_replay_hint_covers_the_arrivals_with_a_margin() -> None:
    hint = replay_hint(
        batch(1, 2, first_arrival="2024-05-01T10:00:00.000Z", last_arrival="2024-05-01T10:05:00Z")
    )
    assert "txTime 2024-05-01T09:00:00.000Z .. 2024-05-01T10:05:00.000Z" in hint
    only_timestamp = replay_hint(batch(1, 2, timestamp="2024-05-02T00:00:00Z"))
    assert "2024-05-01T23:00:00.000Z .. 2024-05-02T00:00:00.000Z" in only_timestamp
    assert "gives no arrival time" in replay_hint(batch(1, 2, last_arrival="yesterday"))


def test_functions_are_matched_by_name_or_arn_without_qualifier() -> None:
    arn = "arn:aws:lambda:us-east-2:123456789012:function:myfunction"
    assert same_function("myfunction", arn)
    assert same_function("myfunction", f"{arn}:$LATEST")
    assert same_function(arn, f"{arn}:7")
    assert same_function(f"{arn}:prod", arn)
    assert not same_function("myfunc", arn)
    assert not same_function("arn:aws:lambda:us-east-2:123456789012:function:other", arn)
    assert not same_function("myfunction", None)
