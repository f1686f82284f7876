"""The MultiLangDaemon JSON-line protocol over in-memory streams."""

from __future__ import annotations

import io
import json

import pytest

from consumers.kcl_protocol import (
    CheckpointError,
    CheckpointOutcome,
    CheckpointReply,
    DaemonChannel,
    Initialize,
    LeaseLost,
    ProcessRecords,
    ProtocolError,
    ShardEnded,
    ShutdownRequested,
    checkpoint_with_retry,
    parse_message,
)
from core.retry import Backoff


def lines_of(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def reply(error: str | None, seq: str | None = "1", sub: int | None = 0) -> str:
    return json.dumps(
        {"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": sub, "error": error}
    )


def test_parses_every_daemon_action() -> None:
    record = {
        "data": "AAE=",
        "partitionKey": "pk",
        "sequenceNumber": "4960",
        "subSequenceNumber": 2,
        "approximateArrivalTimestamp": 1_700_000_000_123,
    }
    init = parse_message(
        '{"action":"initialize","shardId":"shardId-000000000001",'
        '"sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}'
    )
    assert init == Initialize("shardId-000000000001", "TRIM_HORIZON", 0)
    batch = parse_message(
        json.dumps({"action": "processRecords", "records": [record], "millisBehindLatest": 7})
    )
    assert batch == ProcessRecords((record,), 7)
    assert parse_message('{"action":"leaseLost"}') == LeaseLost()
    assert parse_message('{"action":"shardEnded"}') == ShardEnded()
    assert parse_message('{"action":"shutdownRequested"}') == ShutdownRequested()
    assert parse_message(reply("ThrottlingException", "9", 3)) == CheckpointReply(
        "9", 3, "ThrottlingException"
    )


def test_kcl1_shutdown_reasons_map_to_v3_semantics_and_keep_their_action() -> None:
    zombie = parse_message('{"action":"shutdown","reason":"ZOMBIE"}')
    terminate = parse_message('{"action":"shutdown","reason":"TERMINATE"}')
    assert isinstance(zombie, LeaseLost)
    assert zombie.action == "shutdown"
    assert isinstance(terminate, ShardEnded)
    assert terminate.action == "shutdown"


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"shardId": "x"}',
        '{"action": "dance"}',
        '{"action": "processRecords", "records": "nope", "millisBehindLatest": 0}',
        '{"action": "initialize"}',
        '{"action": "shutdown", "reason": "BORED"}',
    ],
)
def test_anything_else_is_a_protocol_error(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_message(line)


def test_reader_skips_blank_lines_and_stops_at_eof() -> None:
    stream = io.StringIO('\n\n{"action":"leaseLost"}\n   \n\n{"action":"shardEnded"}\n\n')
    channel = DaemonChannel(stream, io.StringIO())
    assert list(channel.messages()) == [LeaseLost(), ShardEnded()]
    assert channel.read_message() is None


def test_status_and_checkpoint_lines_are_framed_by_newlines() -> None:
    out = io.StringIO()
    channel = DaemonChannel(io.StringIO(reply(None, "123", 4) + "\n"), out)
    channel.send_status("initialize")
    channel.checkpoint("123", 4)
    text = out.getvalue()
    assert text.startswith("\n{")
    assert text.endswith("}\n")
    assert lines_of(out) == [
        {"action": "status", "responseFor": "initialize"},
        {"action": "checkpoint", "sequenceNumber": "123", "subSequenceNumber": 4},
    ]


def test_checkpoint_error_reply_raises_with_java_name() -> None:
    channel = DaemonChannel(io.StringIO(reply("ShutdownException") + "\n"), io.StringIO())
    with pytest.raises(CheckpointError) as info:
        channel.checkpoint("1", 0)
    assert info.value.name == "ShutdownException"


def test_non_checkpoint_reply_is_a_protocol_error_not_a_retryable_checkpoint_error() -> None:
    channel = DaemonChannel(io.StringIO('{"action":"leaseLost"}\n'), io.StringIO())
    with pytest.raises(ProtocolError, match="'leaseLost' while a checkpoint was pending"):
        channel.checkpoint("1", 0)


def test_eof_while_checkpoint_pending_is_a_protocol_error() -> None:
    channel = DaemonChannel(io.StringIO(""), io.StringIO())
    with pytest.raises(ProtocolError):
        channel.checkpoint(None, None)


def test_throttling_is_retried_with_growing_delays_then_succeeds() -> None:
    script = "\n".join([reply("ThrottlingException")] * 2 + [reply(None)]) + "\n"
    out = io.StringIO()
    sleeps: list[float] = []
    outcome = checkpoint_with_retry(
        DaemonChannel(io.StringIO(script), out),
        "1",
        0,
        Backoff(attempts=5, base_seconds=0.5, cap_seconds=0.75),
        sleep=sleeps.append,
    )
    assert outcome is CheckpointOutcome.DONE
    assert sleeps == [0.5, 0.75]
    assert len(lines_of(out)) == 3


def test_throttling_gives_up_after_bounded_attempts() -> None:
    script = "\n".join([reply("ThrottlingException")] * 3) + "\n"
    out = io.StringIO()
    sleeps: list[float] = []
    outcome = checkpoint_with_retry(
        DaemonChannel(io.StringIO(script), out), "1", 0, Backoff(attempts=3), sleep=sleeps.append
    )
    assert outcome is CheckpointOutcome.GAVE_UP
    assert len(lines_of(out)) == 3
    assert len(sleeps) == 2


def test_shutdown_exception_means_the_lease_is_gone_without_retry() -> None:
    out = io.StringIO()
    outcome = checkpoint_with_retry(
        DaemonChannel(io.StringIO(reply("ShutdownException") + "\n" + reply(None) + "\n"), out),
        "1",
        0,
        Backoff(attempts=5),
        sleep=lambda _s: None,
    )
    assert outcome is CheckpointOutcome.LEASE_GONE
    assert len(lines_of(out)) == 1


def test_invalid_state_is_retried_like_the_reference_sample() -> None:
    script = reply("InvalidStateException") + "\n" + reply(None) + "\n"
    out = io.StringIO()
    sleeps: list[float] = []
    outcome = checkpoint_with_retry(
        DaemonChannel(io.StringIO(script), out), "1", 0, Backoff(attempts=5), sleep=sleeps.append
    )
    assert outcome is CheckpointOutcome.DONE
    assert len(lines_of(out)) == 2
    assert len(sleeps) == 1


def test_invalid_state_that_persists_gives_up_for_now() -> None:
    script = "\n".join([reply("InvalidStateException")] * 2) + "\n"
    outcome = checkpoint_with_retry(
        DaemonChannel(io.StringIO(script), io.StringIO()),
        "1",
        0,
        Backoff(attempts=2),
        sleep=lambda _s: None,
    )
    assert outcome is CheckpointOutcome.GAVE_UP


def test_unknown_checkpoint_error_is_raised() -> None:
    channel = DaemonChannel(io.StringIO(reply("IllegalArgumentException") + "\n"), io.StringIO())
    with pytest.raises(CheckpointError) as info:
        checkpoint_with_retry(channel, "1", 0, Backoff(), sleep=lambda _s: None)
    assert info.value.name == "IllegalArgumentException"


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        Backoff(attempts=0)
    assert Backoff(base_seconds=1, cap_seconds=3).delay(5) == 3
