"""The one classifier of AWS failures, and the retry the AWS projections share.

:func:`classify_client_error` turns any exception raised by a botocore client call into the
project's failure classes (``core.errors``), one answer per code, whoever made the call (the
projections, the export reader in ``exports/store.py``). The rules, in order:

* Throttling codes (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``, S3 ``SlowDown``, HTTP 429...) -> :class:`ThrottledError`.
* HTTP 5xx, timeouts, closed or refused connections -> :class:`RetryableError`.
* A conditional write that collided with another one still in progress (S3 409
  ``ConditionalRequestConflict``) -> :class:`RetryableError`: the retry re-reads the object and
  decides again, so nothing is assumed about which writer won.
* Denied access, invalid, expired or missing credentials (:data:`ACCESS_CODES`) ->
  :class:`AccessDeniedError`; a missing bucket, object, table or queue, or one in another region
  (:data:`MISSING_CODES`) -> :class:`MissingResourceError`. Both are retryable: never
  dead-letter a whole stream because a table is missing or a policy is wrong. A command stops on
  them with exit 2 (``consumers/exit_codes.py``); the message says what to change.
* Other environmental codes (a table being created, a disabled KMS key, an expired shard
  iterator: :data:`ENVIRONMENT_CODES`) -> :class:`RetryableError`.
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

:func:`aws_retry` is the backoff of the AWS projections: :class:`core.retry.Retry` with full
jitter, 6 tries, waits of at most 0.05 s doubling up to 2 s, retrying :class:`RetryableError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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

from core.errors import (
    AccessDeniedError,
    CdcError,
    ConfigError,
    MissingResourceError,
    PoisonError,
    RetryableError,
    ThrottledError,
)
from core.retry import Backoff, Retry

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

ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "403",
        "AllAccessDisabled",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "MissingAuthenticationToken",
        "KMSAccessDeniedException",
    }
)
"""Codes of a caller that may not do this (permissions, credentials): :class:`AccessDeniedError`.
``403`` is what S3 ``HeadObject`` reports, having no body to name the code."""

MISSING_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "TableNotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFound",
        "404",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "KMSNotFoundException",
        "PermanentRedirect",
        "301",
        "AuthorizationHeaderMalformed",
    }
)
"""Codes of a resource that is not where the client looks (a wrong name, or a bucket in another
region: ``PermanentRedirect``, ``301``, ``AuthorizationHeaderMalformed``):
:class:`MissingResourceError`."""

ENVIRONMENT_CODES = frozenset(
    {
        "ResourceInUseException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "ExpiredIteratorException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
"""Other codes of a transient or environmental failure (a resource in transition, a disabled
key, a timed-out request): :class:`RetryableError`."""

_ACCESS_HINT = "give these credentials access (IAM or resource policy) or use other ones"
_MISSING_HINT = "check the name and the region"

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
    """Map an exception from a botocore call to its failure class (the module's rules).

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
        if code in ACCESS_CODES:
            return AccessDeniedError(f"{text}; {_ACCESS_HINT}")
        if code in MISSING_CODES:
            return MissingResourceError(f"{text}; {_MISSING_HINT}")
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
        return AccessDeniedError(
            f"AWS credentials unavailable: {exc} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, BotoCoreError):
        return RetryableError(f"AWS client error: {exc}")
    return RetryableError(f"unexpected {type(exc).__name__} from an AWS call: {exc}")


AWS_BACKOFF = Backoff(attempts=6, base_seconds=0.05, cap_seconds=2.0)
"""The AWS projections' schedule: 6 tries, full-jitter waits below 0.05 s doubling up to 2 s."""


def aws_retry(
    *,
    attempts: int = AWS_BACKOFF.attempts,
    base_seconds: float = AWS_BACKOFF.base_seconds,
    cap_seconds: float = AWS_BACKOFF.cap_seconds,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Retry:
    """The retry of the AWS projections: :data:`AWS_BACKOFF` (or the given numbers) with full
    jitter from ``rng`` (a fresh ``random.Random`` when not given) and ``sleep``.

    ``Retry.run`` retries only :class:`RetryableError`; :class:`PoisonError` is raised at once.
    """
    backoff = Backoff(attempts, base_seconds, cap_seconds)
    return Retry(backoff, sleep, rng if rng is not None else random.Random())


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
    """botocore ``Config`` for clients driven by :func:`aws_retry`.

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
