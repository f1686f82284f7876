"""Stream-consumer configuration from environment variables, validated once at start-up.

Every problem is reported as a :class:`~core.errors.ConfigError` with one sentence naming the
variable and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import ConfigError
from projections.targets import scheme_of

ENV_TARGETS = "CDC_TARGETS"
"""Comma-separated projection URIs (see ``projections.targets``); required."""
ENV_DEAD_LETTER_QUEUE_URL = "CDC_DEAD_LETTER_QUEUE_URL"
"""SQS queue URL for poison records; required for the Lambda handler."""
ENV_VERIFY_HASHES = "CDC_VERIFY_HASHES"
"""``true``/``false`` (default ``false``): recompute every revision hash before applying it."""
ENV_LOG_LEVEL = "CDC_LOG_LEVEL"
"""Logging level name (default ``INFO``)."""
ENV_TARGETS_SECRET_ARN = "CDC_TARGETS_SECRET_ARN"
"""Optional Secrets Manager ARN whose value adds target URIs (kept out of the environment
because they hold passwords); see :func:`secret_targets`."""
ENV_WORK_BUCKET = "CDC_REPLAY_WORK_BUCKET"
"""Bucket where the distributed replay writes its plans (``consumers.replay_lambda``)."""

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated consumer settings.

    Attributes:
        targets: projection URIs, each with a known scheme, in the order given.
        dead_letter_queue_url: SQS URL for dead letters (``None`` only when not required).
        verify_hashes: recompute revision hashes and dead-letter mismatches.
        log_level: an upper-case logging level name.
        targets_secret_arn: a Secrets Manager secret holding more target URIs, or ``None``.
        work_bucket: the distributed replay's plan bucket, or ``None`` when not set.
    """

    targets: tuple[str, ...]
    dead_letter_queue_url: str | None
    verify_hashes: bool = False
    log_level: str = "INFO"
    targets_secret_arn: str | None = None
    work_bucket: str | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        require_dead_letter_queue: bool = True,
        require_targets: bool = True,
    ) -> Settings:
        """Read and validate the ``CDC_*`` variables from ``env``.

        ``require_targets=False`` accepts neither ``CDC_TARGETS`` nor
        ``CDC_TARGETS_SECRET_ARN`` (the distributed replay may name its targets in the
        execution input).

        Raises:
            ConfigError: a required variable is missing or a value is invalid.
        """
        raw_targets = env.get(ENV_TARGETS, "").strip()
        secret_arn = env.get(ENV_TARGETS_SECRET_ARN, "").strip() or None
        if not raw_targets and secret_arn is None and require_targets:
            msg = f"{ENV_TARGETS} is required: set it to one or more comma-separated target URIs"
            raise ConfigError(msg)
        targets = parse_targets(raw_targets, ENV_TARGETS) if raw_targets else ()
        queue = env.get(ENV_DEAD_LETTER_QUEUE_URL, "").strip() or None
        if queue is None and require_dead_letter_queue:
            msg = (
                f"{ENV_DEAD_LETTER_QUEUE_URL} is required: set it to the SQS dead-letter queue URL"
            )
            raise ConfigError(msg)
        if queue is not None and not queue.startswith(("https://", "http://")):
            msg = f"{ENV_DEAD_LETTER_QUEUE_URL} must be an SQS queue URL, got {queue!r}"
            raise ConfigError(msg)
        verify_text = env.get(ENV_VERIFY_HASHES, "false").strip().lower()
        if verify_text not in _TRUE | _FALSE:
            msg = f"{ENV_VERIFY_HASHES} must be true or false, got {verify_text!r}"
            raise ConfigError(msg)
        level = env.get(ENV_LOG_LEVEL, "INFO").strip().upper() or "INFO"
        if level not in _LEVELS:
            msg = f"{ENV_LOG_LEVEL} must be one of {', '.join(sorted(_LEVELS))}, got {level!r}"
            raise ConfigError(msg)
        return cls(
            targets=targets,
            dead_letter_queue_url=queue,
            verify_hashes=verify_text in _TRUE,
            log_level=level,
            targets_secret_arn=secret_arn,
            work_bucket=env.get(ENV_WORK_BUCKET, "").strip() or None,
        )


def parse_targets(text: str, source: str) -> tuple[str, ...]:
    """Split comma-separated target URIs and check each scheme.

    Raises:
        ConfigError: an empty entry or an unknown scheme, naming ``source``.
    """
    targets = tuple(t.strip() for t in text.split(","))
    if any(not t for t in targets):
        msg = f"{source} contains an empty entry"
        raise ConfigError(msg)
    for target in targets:
        try:
            scheme_of(target)
        except ConfigError as exc:
            msg = f"{source}: {exc}"
            raise ConfigError(msg) from exc
    return targets


class SecretsClient(Protocol):
    """The part of a boto3 Secrets Manager client used here (boto3-stubs has no
    ``secretsmanager`` extra among the dev dependencies)."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        """``GetSecretValue``."""
        ...


def secret_targets(client: SecretsClient, secret_arn: str) -> tuple[str, ...]:
    """Target URIs stored in a Secrets Manager secret (they carry passwords).

    The ``SecretString`` is either comma-separated target URIs, a JSON object with a ``uri``
    (or ``uris``) field, or an RDS-style JSON object (``username``, ``password``, ``host``,
    ``port``, ``dbname``), which becomes a ``postgresql://`` URI. Error messages never contain
    the secret's value.

    Raises:
        ConfigError: the secret cannot be read or holds no valid target.
    """
    try:
        text = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        msg = f"{ENV_TARGETS_SECRET_ARN}: cannot read secret {secret_arn}: {type(exc).__name__}"
        raise ConfigError(msg) from exc
    value: Any = text
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{ENV_TARGETS_SECRET_ARN}: secret {secret_arn} is not valid JSON"
            raise ConfigError(msg) from exc
    if isinstance(value, dict):
        if "uri" in value or "uris" in value:
            value = str(value.get("uri") or value.get("uris"))
        elif {"username", "password", "host"} <= value.keys():
            value = (
                f"postgresql://{quote(str(value['username']), safe='')}:"
                f"{quote(str(value['password']), safe='')}@{value['host']}:"
                f"{value.get('port', 5432)}/{quote(str(value.get('dbname', 'postgres')), safe='')}"
            )
        else:
            msg = f"{ENV_TARGETS_SECRET_ARN}: secret {secret_arn} has no uri or RDS fields"
            raise ConfigError(msg)
    try:
        return parse_targets(str(value), f"secret {secret_arn}")
    except ConfigError:
        msg = f"{ENV_TARGETS_SECRET_ARN}: secret {secret_arn} holds an invalid target URI"
        raise ConfigError(msg) from None  # the URI may hold a password: never chain it
