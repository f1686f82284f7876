"""Classification of botocore failures, and the bounded retry loop the AWS projections share.

:func:`classify_client_error` turns any exception raised by a botocore client call into the
project's failure classes (``core.errors``). The rules, in order:

* Throttling codes (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``, S3 ``SlowDown``, HTTP 429...) -> :class:`ThrottledError`.
* HTTP 5xx, timeouts, closed or refused connections -> :class:`RetryableError`.
* A conditional write that collided with another one still in progress (S3 409
  ``ConditionalRequestConflict``) -> :class:`RetryableError`: the retry re-reads the object and
  decides again, so nothing is assumed about which writer won.
* A missing table, bucket or queue, denied access, expired or missing credentials ->
  :class:`RetryableError`. These are environmental: never dead-letter a whole stream because a
  table is missing.
* Codes that say the request itself can never succeed (``ValidationException``,
  ``SerializationException``, ``EntityTooLarge``, a client-side parameter validation error) ->
  :class:`PoisonError`.
* Anything else (an unknown 4xx code) -> :class:`RetryableError`: when in doubt keep the input,
  never dead-letter it.

Expected negative outcomes (``ConditionalCheckFailedException``, S3 ``412 PreconditionFailed``)
are not failures at all; :func:`checked_call` raises them as :class:`ConditionFailedError` (not a
``CdcError``) and callers decide what losing the condition means.

:func:`configured_client` builds a boto3 client and turns botocore's configuration errors (no
region, an unknown profile, partial credentials...) into one-line :class:`ConfigError`.

:class:`RetryPolicy` retries an operation that raises :class:`RetryableError` with exponential
backoff and full jitter, a bounded number of times, with an injectable ``sleep`` for tests.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from core.errors import CdcError, ConfigError, PoisonError, RetryableError, ThrottledError

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
        "KMSThrottlingException",
        "TransactionInProgressException",
        "BandwidthLimitExceeded",
    }
)
"""Error codes meaning "slow down" across DynamoDB, S3, Kinesis and SQS."""

ENVIRONMENT_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceInUseException",
        "TableNotFoundException",
        "NoSuchBucket",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "MissingAuthenticationToken",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
        "ExpiredIteratorException",
    }
)
"""Error codes caused by the environment (missing resources, credentials): retry later."""

POISON_CODES = frozenset(
    {
        "ValidationException",
        "SerializationException",
        "EntityTooLarge",
        "InvalidArgument",
        "KeyTooLongError",
        "MetadataTooLarge",
        "ItemCollectionSizeLimitExceededException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidMessageContents",
    }
)
"""Error codes meaning the request itself can never succeed: the input is poison."""

CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "PreconditionFailed"})
"""Codes of a conditional write that lost (callers treat this as stale or re-read)."""

CONFLICT_CODES = frozenset({"ConditionalRequestConflict"})
"""Codes of a conditional write that collided with a concurrent one (S3 HTTP 409): retried,
never read as a lost condition, because the other writer may still fail."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError`` (``"ValidationException"``...), else ``None``."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientError``, else ``None``."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def is_condition_failure(exc: BaseException) -> bool:
    """True when ``exc`` is a lost conditional write (DynamoDB condition or S3 HTTP 412)."""
    code = error_code(exc)
    if code in CONDITION_CODES:
        return True
    return code is not None and http_status(exc) == 412


def classify_client_error(exc: BaseException) -> CdcError:
    """Map an exception from a botocore call to Throttled, Retryable or Poison (module rules).

    Args:
        exc: what the client call raised (``ClientError`` or any ``BotoCoreError``); a
            ``CdcError`` is returned unchanged.

    Returns:
        A new :class:`CdcError` whose message names the AWS code and operation; the original
        exception is attached as ``__cause__``.
    """
    if isinstance(exc, CdcError):
        return exc
    error = _classify(exc)
    error.__cause__ = exc
    return error


def _classify(exc: BaseException) -> CdcError:
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        status = http_status(exc) or 0
        operation = getattr(exc, "operation_name", "call")
        message = exc.response.get("Error", {}).get("Message", "")
        text = f"{operation} failed: {code} (HTTP {status}) {message}".rstrip()
        if code in THROTTLING_CODES or status == 429:
            return ThrottledError(text)
        if status >= 500:
            return RetryableError(text)
        if code in CONFLICT_CODES:
            return RetryableError(f"{text} (concurrent conditional write, retried)")
        if code in ENVIRONMENT_CODES:
            return RetryableError(text)
        if code in POISON_CODES:
            return PoisonError(text)
        return RetryableError(f"{text} (unclassified code, retried to be safe)")
    if isinstance(exc, ParamValidationError):
        return PoisonError(f"request rejected before sending: {exc}")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return RetryableError(f"AWS endpoint unreachable or timed out: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return RetryableError(f"AWS credentials unavailable: {exc}")
    if isinstance(exc, BotoCoreError):
        return RetryableError(f"AWS client error: {exc}")
    return RetryableError(f"unexpected {type(exc).__name__} from an AWS call: {exc}")


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Attempt ``n`` (0-based) that fails with :class:`RetryableError` sleeps
    ``uniform(0, min(max_delay, base_delay * 2**n))`` before the next one; after ``attempts``
    tries the last error is raised. :class:`PoisonError` is raised at once.

    Attributes:
        attempts: total tries, at least 1.
        base_delay: seconds of the first backoff ceiling.
        max_delay: cap of any single backoff, in seconds.
        sleep: called with the delay (inject a no-op in tests).
        rng: jitter source (seed it in tests).
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def run(self, operation: Callable[[], T]) -> T:
        """Call ``operation`` until it returns, retrying only on :class:`RetryableError`."""
        attempt = 0
        while True:
            try:
                return operation()
            except RetryableError:
                attempt += 1
                if attempt >= max(1, self.attempts):
                    raise
                ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
                self.sleep(self.rng.uniform(0.0, ceiling))


class ConditionFailedError(Exception):
    """A conditional write lost (DynamoDB condition, S3 HTTP 412): an outcome, not a failure."""


def checked_call(method: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call a botocore client method, turning every failure into a classified outcome.

    Raises:
        ConditionFailedError: the request's condition did not hold (callers decide: stale
            change, or re-read and try again).
        ThrottledError / RetryableError / PoisonError: see :func:`classify_client_error`.
    """
    try:
        return method(**kwargs)
    except ClientError as exc:
        if is_condition_failure(exc):
            raise ConditionFailedError(str(exc)) from exc
        raise classify_client_error(exc) from exc
    except BotoCoreError as exc:
        raise classify_client_error(exc) from exc


def client_config(max_pool_connections: int = 20) -> Config:
    """botocore ``Config`` for clients driven by :class:`RetryPolicy`.

    botocore's own retries are switched off (one attempt) so backoff happens in exactly one
    place; timeouts are bounded so a hung endpoint becomes a :class:`RetryableError`.
    """
    return Config(
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
    )


def configured_client(factory: Callable[[], T], what: str) -> T:
    """Call ``factory`` (which builds a boto3 client); configuration errors become ConfigError.

    Building a client resolves the region, the profile and the credential chain but sends no
    request, so any ``BotoCoreError`` raised here (``NoRegionError``, ``ProfileNotFound``,
    ``PartialCredentialsError``, ``InvalidRegionError``...) is a configuration mistake.

    Args:
        factory: builds the client, e.g. ``lambda: boto3.client("s3", config=...)``.
        what: what the client is for, for the message (``"the DynamoDB target dynamodb://T"``).

    Raises:
        ConfigError: one sentence naming ``what`` and botocore's reason.
    """
    try:
        return factory()
    except BotoCoreError as exc:
        hint = " (set AWS_REGION or AWS_DEFAULT_REGION)" if isinstance(exc, NoRegionError) else ""
        msg = f"cannot create the AWS client for {what}: {str(exc).rstrip('.')}{hint}"
        raise ConfigError(msg) from exc
