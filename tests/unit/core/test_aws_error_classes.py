"""One answer per AWS error code: the classifier's table, the exit code of each answer, and the
export source (exports/store.py) giving the same answers (no server: botocore errors are built)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from consumers.cli import exit_code
from consumers.exit_codes import ExitCode
from core.errors import (
    AccessDeniedError,
    CdcError,
    MissingResourceError,
    PoisonError,
    RetryableError,
    ThrottledError,
    UserInputError,
)
from exports.store import S3ExportStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
from projections import aws_errors
from projections.aws_errors import classify_client_error


def client_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


TABLE: list[tuple[str, int, type[CdcError]]] = [
    *((code, 400, ThrottledError) for code in sorted(aws_errors.THROTTLING_CODES)),
    ("Anything", 429, ThrottledError),
    ("InternalError", 500, RetryableError),
    ("ServiceUnavailable", 503, RetryableError),
    ("ConditionalRequestConflict", 409, RetryableError),
    *((code, 403, AccessDeniedError) for code in sorted(aws_errors.ACCESS_CODES)),
    *((code, 404, MissingResourceError) for code in sorted(aws_errors.MISSING_CODES)),
    *((code, 400, RetryableError) for code in sorted(aws_errors.ENVIRONMENT_CODES)),
    *((code, 400, PoisonError) for code in sorted(aws_errors.POISON_CODES)),
    ("SomethingNew", 400, RetryableError),
    ("InvalidObjectState", 403, RetryableError),
]


@pytest.mark.parametrize(("code", "status", "expected"), TABLE)
def test_each_code_has_one_class(code: str, status: int, expected: type[CdcError]) -> None:
    exc = client_error(code, status)
    error = classify_client_error(exc)
    assert type(error) is expected
    assert code in str(error)
    assert error.__cause__ is exc


def test_the_code_lists_do_not_overlap() -> None:
    lists = [
        aws_errors.THROTTLING_CODES,
        aws_errors.ACCESS_CODES,
        aws_errors.MISSING_CODES,
        aws_errors.ENVIRONMENT_CODES,
        aws_errors.POISON_CODES,
        aws_errors.CONDITION_CODES,
        aws_errors.CONFLICT_CODES,
    ]
    assert sum(len(codes) for codes in lists) == len(frozenset().union(*lists))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), AccessDeniedError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RetryableError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), RetryableError),
        (ParamValidationError(report="bad"), PoisonError),
    ],
)
def test_botocore_exceptions_have_one_class(exc: Exception, expected: type[CdcError]) -> None:
    assert type(classify_client_error(exc)) is expected


@pytest.mark.parametrize("cls", [AccessDeniedError, MissingResourceError])
def test_access_and_missing_resources_are_kept_by_a_stream_and_exit_2_from_a_command(
    cls: type[CdcError],
) -> None:
    error = cls("x")
    assert isinstance(error, RetryableError)  # the stream keeps its input
    assert not isinstance(error, PoisonError)  # never dead-lettered
    assert exit_code(error) == ExitCode.USER_MISTAKE  # waiting does not fix it


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (ThrottledError, ExitCode.RETRYABLE),
        (RetryableError, ExitCode.RETRYABLE),
        (PoisonError, ExitCode.BAD_DATA),
    ],
)
def test_the_other_answers_keep_their_exit_codes(code: type[CdcError], expected: ExitCode) -> None:
    assert exit_code(code("x")) == expected


def test_the_message_says_what_to_change() -> None:
    denied = classify_client_error(client_error("AccessDenied", 403, "ListObjectsV2"))
    assert "give these credentials access" in str(denied)
    missing = classify_client_error(client_error("NoSuchBucket", 404, "ListObjectsV2"))
    assert "check the name and the region" in str(missing)
    assert "AWS_PROFILE" in str(classify_client_error(NoCredentialsError()))


class RaisingS3:
    """An S3 client whose every call raises ``exc``."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_paginator(self, name: str) -> RaisingS3:
        return self

    def paginate(self, **kwargs: object) -> list[object]:
        raise self.exc

    def get_object(self, **kwargs: object) -> dict[str, io.BytesIO]:
        raise self.exc

    def head_object(self, **kwargs: object) -> dict[str, int]:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        # What users saw before one classifier, kept: no access or nothing there -> exit 2 ...
        (client_error("AccessDenied", 403, "ListObjectsV2"), AccessDeniedError, 2),
        (client_error("403", 403, "HeadObject"), AccessDeniedError, 2),
        (client_error("NoSuchBucket", 404, "ListObjectsV2"), MissingResourceError, 2),
        (client_error("NoSuchKey", 404), MissingResourceError, 2),
        (client_error("404", 404, "HeadObject"), MissingResourceError, 2),
        (client_error("PermanentRedirect", 301, "ListObjectsV2"), MissingResourceError, 2),
        (client_error("InvalidArgument", 400), UserInputError, 2),
        # ... S3 down or slow -> exit 4.
        (client_error("SlowDown", 503), ThrottledError, 4),
        (client_error("InternalError", 500), RetryableError, 4),
        (client_error("RequestTimeout", 400), RetryableError, 4),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), RetryableError, 4),
        # Changed (README "Exit codes"): no credentials is 2 (was 4); an unknown code is 4 (was 2).
        (NoCredentialsError(), AccessDeniedError, 2),
        (ParamValidationError(report="bad bucket name"), UserInputError, 2),
        (client_error("SomethingNew", 400), RetryableError, 4),
    ],
)
def test_the_export_source_gives_the_classifier_answers(
    exc: Exception, expected: type[CdcError], code: int
) -> None:
    store = S3ExportStore(cast("S3Client", RaisingS3(exc)), "bucket", "exports/")
    reads: list[Callable[[], object]] = [
        store.manifest_keys,
        lambda: store.read_bytes("exports/a.completed.manifest"),
        lambda: store.open("exports/x.ion"),
        lambda: store.size("exports/x.ion"),
    ]
    for read in reads:
        with pytest.raises(CdcError) as info:
            read()
        assert type(info.value) is expected
        assert str(info.value).startswith("cannot read s3://bucket/")
        assert info.value.__cause__ is exc
        assert exit_code(info.value) == code
