"""``qldb-cdc redrive``: apply the Kinesis batches a Lambda event source mapping gave up on.

The edges of :mod:`stream.redrive`: flags, AWS clients, the targets (the same ``--to`` URIs as
``replay``, or with ``--from-env`` the Lambda handler's environment, read by the same
``consumers.settings``), one line per message and a summary line, the exit code. Every target
URI and the ``--dead-letter`` file are checked before any message is received. Lines of messages
that were applied (or only decoded, ``--dry-run``, or left to another function) go to stdout; a
line per kept message goes to stderr (past retention says which export to replay instead). The
summary line ends stdout.

Exit code (:mod:`consumers.exit_codes`), the first that applies: ``5`` when a message's range
is past the stream's retention, ``3`` when a message is malformed or its range holds poison
records without ``--dead-letter``, ``4`` when a target or Kinesis kept failing (re-run), ``0``
otherwise (every message applied and deleted, or a dry run). Kept messages stay in the queue.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import boto3

from consumers.exit_codes import ExitCode
from consumers.settings import Settings, secret_targets
from core.errors import ConfigError
from dead_letters.sinks import DeadLetterSink, JsonLinesDeadLetterSink, SqsDeadLetterSink
from projections.aws_errors import aws_retry, client_config, configured_client
from projections.base import Projection
from projections.closing import closing_all
from projections.targets import parse_target
from runtime import interrupts
from stream.redrive import (
    DEFAULT_MAX_CALLS,
    MessageReport,
    Outcome,
    ReadLimits,
    RedriveOptions,
    Redriver,
    RedriveSummary,
    SqsQueue,
)

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_sqs import SQSClient

MAX_WAIT_SECONDS = 20
"""SQS long polling waits at most 20 seconds."""
MAX_VISIBILITY_TIMEOUT = 12 * 60 * 60
"""SQS's largest visibility timeout (12 hours)."""
_QUEUE_REGION = re.compile(r"https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


def add_arguments(parser: argparse.ArgumentParser, default_target: str) -> None:
    """The ``redrive`` command's arguments."""
    parser.add_argument(
        "--queue",
        required=True,
        metavar="URL",
        help="the SQS queue URL of the event source mapping's OnFailure destination",
    )
    parser.add_argument(
        "--to",
        dest="targets",
        action="append",
        metavar="URI",
        help=f"projection URI, repeatable (default {default_target}); the Lambda's CDC_TARGETS",
    )
    parser.add_argument(
        "--from-env",
        action="store_true",
        help="take the targets, --verify and the dead-letter queue from the Lambda's "
        "environment (CDC_TARGETS, CDC_TARGETS_SECRET_ARN, CDC_VERIFY_HASHES, "
        "CDC_DEAD_LETTER_QUEUE_URL) instead of --to",
    )
    parser.add_argument(
        "--max-messages",
        type=_bounded(1, 100_000),
        default=100,
        metavar="N",
        help="handle at most N messages in this run (default 100)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="re-read and decode each range, apply nothing, delete nothing",
    )
    parser.add_argument(
        "--dead-letter",
        metavar="FILE",
        help="JSON Lines file for poison records (default: keep the message and exit 3)",
    )
    parser.add_argument(
        "--verify", action="store_true", help="recompute every revision hash before applying"
    )
    parser.add_argument(
        "--wait-seconds",
        type=_bounded(0, MAX_WAIT_SECONDS),
        default=1,
        metavar="S",
        help="SQS long polling per receive, 0 to 20 (default 1); the run ends at the first "
        "receive that returns nothing new",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=_bounded(1, MAX_VISIBILITY_TIMEOUT),
        default=300,
        metavar="S",
        help="seconds a message stays hidden while its range is redriven (default 300)",
    )
    parser.add_argument(
        "--function",
        metavar="NAME_OR_ARN",
        help="handle only the messages this Lambda function's mapping sent (one OnFailure "
        "queue may serve several functions, each with its own targets); others are left alone",
    )
    parser.add_argument(
        "--max-get-records",
        type=_bounded(1, 100_000),
        default=DEFAULT_MAX_CALLS,
        metavar="N",
        help=f"GetRecords calls per message before it is kept (default {DEFAULT_MAX_CALLS})",
    )


def _bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"not a number: {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if not low <= value <= high:
            msg = f"must be from {low} to {high}: {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def run(args: argparse.Namespace, default_target: str) -> int:
    """Run ``redrive`` for parsed ``args``; return the exit code (module docstring)."""
    queue_url = str(args.queue)
    if not queue_url.startswith(("https://", "http://")):
        msg = (
            "--queue must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), "
            f"got {queue_url!r}"
        )
        raise ConfigError(msg)
    retry = aws_retry(sleep=interrupts.sleep)
    uris, verify, sink = _configuration(args, default_target)
    specs = [parse_target(uri) for uri in uris]  # every URI checked before any is opened
    region = _queue_region(queue_url)
    sqs: SQSClient = configured_client(
        lambda: boto3.client("sqs", region_name=region, config=client_config()),
        f"the queue {queue_url}",
    )
    clients: dict[str, KinesisClient] = {}

    def kinesis(stream_region: str) -> KinesisClient:
        if stream_region not in clients:
            clients[stream_region] = configured_client(
                lambda: boto3.client("kinesis", region_name=stream_region, config=client_config()),
                f"Kinesis in {stream_region}",
            )
        return clients[stream_region]

    options = RedriveOptions(
        max_messages=args.max_messages,
        dry_run=args.dry_run,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
        verify=verify,
        limits=ReadLimits(max_calls=args.max_get_records),
        function=args.function,
    )
    targets: list[Projection] = []
    with closing_all(targets):
        if not args.dry_run:
            for spec in specs:
                targets.append(spec.open())
        redriver = Redriver(SqsQueue(sqs, queue_url, retry), kinesis, targets, sink, retry, options)
        summary = redriver.run(_report)
    print(summary.line())
    return exit_code(summary)


def _configuration(
    args: argparse.Namespace, default_target: str
) -> tuple[list[str], bool, DeadLetterSink | None]:
    """Target URIs, hash verification and the dead-letter sink: from the flags, or with
    ``--from-env`` as the Lambda handler reads them (``consumers.settings``); ``--dead-letter``
    wins over ``CDC_DEAD_LETTER_QUEUE_URL``."""
    sink: DeadLetterSink | None = None
    if args.dead_letter is not None:
        letters = JsonLinesDeadLetterSink(args.dead_letter)
        letters.check_writable()
        sink = letters
    if not args.from_env:
        return list(args.targets or [default_target]), bool(args.verify), sink
    if args.targets:
        msg = "give either --to or --from-env, not both"
        raise ConfigError(msg)
    settings = Settings.from_env(os.environ, require_dead_letter_queue=False)
    uris = list(settings.targets)
    if settings.targets_secret_arn is not None:
        secrets = configured_client(
            lambda: boto3.client("secretsmanager", config=client_config()), "Secrets Manager"
        )
        uris += secret_targets(secrets, settings.targets_secret_arn)
    if sink is None and settings.dead_letter_queue_url is not None:
        sqs = configured_client(
            lambda: boto3.client("sqs", config=client_config()), "the dead-letter queue"
        )
        sink = SqsDeadLetterSink(sqs, settings.dead_letter_queue_url)
    return uris, bool(args.verify) or settings.verify_hashes, sink


def _queue_region(url: str) -> str | None:
    """The region of a standard SQS URL; ``None`` (the configured region) for other URLs."""
    match = _QUEUE_REGION.match(url)
    return match.group(1) if match else None


def _report(report: MessageReport) -> None:
    if report.outcome in (Outcome.APPLIED, Outcome.DRY_RUN, Outcome.SKIPPED):
        print(report.line(), flush=True)
    else:
        sys.stderr.write(f"qldb-cdc: {' '.join(report.line().split())}\n")


def exit_code(summary: RedriveSummary) -> ExitCode:
    """The run's exit code: past retention, then poison, then retry, else success."""
    if summary.past_retention:
        return ExitCode.PAST_RETENTION
    if summary.poison:
        return ExitCode.BAD_DATA
    if summary.retry:
        return ExitCode.RETRYABLE
    return ExitCode.OK
