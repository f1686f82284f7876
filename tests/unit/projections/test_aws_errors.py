"""Classification of botocore failures and the bounded backoff loop (pure, no server)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from core.errors import (
    AccessDeniedError,
    ConfigError,
    MissingResourceError,
    PoisonError,
    RetryableError,
    ThrottledError,
)
from projections.aws_errors import (
    ConditionFailedError,
    aws_retry,
    checked_call,
    classify_client_error,
    configured_client,
    is_condition_failure,
)


def client_error(code: str, status: int, operation: str = "PutItem") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 400, ThrottledError),
        ("ThrottlingException", 400, ThrottledError),
        ("RequestLimitExceeded", 400, ThrottledError),
        ("SlowDown", 503, ThrottledError),
        ("Whatever", 429, ThrottledError),
        ("InternalServerError", 500, RetryableError),
        ("ServiceUnavailable", 503, RetryableError),
        ("ResourceNotFoundException", 400, MissingResourceError),
        ("NoSuchBucket", 404, MissingResourceError),
        ("AccessDeniedException", 400, AccessDeniedError),
        ("AccessDenied", 403, AccessDeniedError),
        ("ExpiredTokenException", 400, AccessDeniedError),
        ("ValidationException", 400, PoisonError),
        ("SerializationException", 400, PoisonError),
        ("EntityTooLarge", 400, PoisonError),
        ("SomethingNew", 400, RetryableError),
    ],
)
def test_client_errors_are_classified_by_code_and_status(
    code: str, status: int, expected: type[Exception]
) -> None:
    exc = client_error(code, status)
    error = classify_client_error(exc)
    assert type(error) is expected
    assert code in str(error)
    assert error.__cause__ is exc


def test_missing_table_is_never_poison() -> None:
    error = classify_client_error(client_error("ResourceNotFoundException", 400))
    assert not isinstance(error, PoisonError)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        NoCredentialsError(),
    ],
)
def test_transport_and_credential_errors_are_retryable(exc: Exception) -> None:
    error = classify_client_error(exc)
    assert isinstance(error, RetryableError)
    assert not isinstance(error, ThrottledError)


def test_client_side_parameter_validation_is_poison() -> None:
    assert isinstance(classify_client_error(ParamValidationError(report="bad")), PoisonError)


def test_condition_failures_are_recognised_not_classified() -> None:
    assert is_condition_failure(client_error("ConditionalCheckFailedException", 400))
    assert is_condition_failure(client_error("PreconditionFailed", 412))
    assert not is_condition_failure(client_error("ValidationException", 400))

    def lose() -> None:
        raise client_error("ConditionalCheckFailedException", 400)

    with pytest.raises(ConditionFailedError):
        checked_call(lose)


def test_checked_call_classifies_other_failures() -> None:
    def throttle() -> None:
        raise client_error("ThrottlingException", 400)

    with pytest.raises(ThrottledError):
        checked_call(throttle)


def test_retry_policy_retries_retryable_with_bounded_full_jitter() -> None:
    sleeps: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ThrottledError("slow down")
        return "done"

    policy = aws_retry(
        attempts=6, base_seconds=0.1, cap_seconds=0.25, sleep=sleeps.append, rng=random.Random(3)
    )
    assert policy.run(flaky) == "done"
    assert calls == 4
    assert len(sleeps) == 3
    ceilings = [0.1, 0.2, 0.25]
    assert all(0.0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))


def test_retry_policy_gives_up_after_attempts() -> None:
    calls = 0

    def always() -> None:
        nonlocal calls
        calls += 1
        raise RetryableError(f"down {calls}")

    with pytest.raises(RetryableError, match="down 3"):
        aws_retry(attempts=3, sleep=lambda _: None).run(always)
    assert calls == 3


def test_retry_policy_never_retries_poison() -> None:
    calls = 0

    def bad() -> None:
        nonlocal calls
        calls += 1
        raise PoisonError("never")

    with pytest.raises(PoisonError):
        aws_retry(attempts=5, sleep=lambda _: None).run(bad)
    assert calls == 1


def test_a_concurrent_conditional_write_is_retried_not_read_as_a_lost_condition() -> None:
    conflict = client_error("ConditionalRequestConflict", 409, "PutObject")
    assert not is_condition_failure(conflict)
    error = classify_client_error(conflict)
    assert type(error) is RetryableError
    assert "concurrent conditional write" in str(error)

    def collide() -> None:
        raise conflict

    with pytest.raises(RetryableError):
        checked_call(collide)


@pytest.mark.parametrize(
    "exc",
    [
        NoRegionError(),
        ProfileNotFound(profile="gone"),
        PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_configured_client_turns_botocore_configuration_errors_into_config_error(
    exc: Exception,
) -> None:
    def build() -> object:
        raise exc

    with pytest.raises(ConfigError, match="the DynamoDB target dynamodb://T") as raised:
        configured_client(build, "the DynamoDB target dynamodb://T")
    assert raised.value.__cause__ is exc
    assert "\n" not in str(raised.value)
    assert configured_client(lambda: "client", "x") == "client"
