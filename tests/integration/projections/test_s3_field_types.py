"""The S3 projection records the Ion kinds of fields under ``_field_types/`` (moto over HTTP):
written after the documents, once per process, again by a new process, read back by listing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.errors import RetryableError, UserInputError
from core.ion_kinds import IonKind
from core.model import Change, ChangeKind
from projections import s3 as s3_module
from projections.aws_errors import aws_retry
from projections.s3 import S3Projection
from schemas.view_mapping import NO_MAPPING
from tests.support.builders import make_change
from tests.support.moto_server import (  # noqa: F401 - fixtures
    FaultInjector,
    aws_client,
    moto_endpoint,
    unique_name,
)
from tests.support.s3_readback import list_keys

NO_SLEEP = aws_retry(sleep=lambda _: None)
K = IonKind


@pytest.fixture
def bucket(moto_endpoint: str) -> str:  # noqa: F811 - fixture injection
    name = unique_name("s3types")
    aws_client("s3").create_bucket(Bucket=name)
    return name


def typed(change: Change, **kinds: IonKind) -> Change:
    return dataclasses.replace(change, field_kinds=tuple(kinds.items()))


def type_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(list_keys(client, bucket, f"{prefix}/_field_types/"))


def test_kinds_are_recorded_once_and_read_back(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "lake", retry=NO_SLEEP)
    changes = [
        typed(make_change("d1", 0), name=K.STRING, n=K.INT),
        typed(make_change("d1", 1), name=K.SYMBOL, n=K.DECIMAL),
        typed(make_change("d2", 0, table="_Odd/Table"), **{"a.b": K.TIMESTAMP, "": K.NULL}),
        make_change("d1", 2, kind=ChangeKind.DELETE),
    ]
    projection.apply(changes)
    assert type_keys(client, bucket, "lake") == [
        "lake/_field_types/=Person/=n/decimal",
        "lake/_field_types/=Person/=n/int",
        "lake/_field_types/=Person/=name/string",
        "lake/_field_types/=Person/=name/symbol",
        "lake/_field_types/=_Odd%2FTable/=/null",
        "lake/_field_types/=_Odd%2FTable/=a.b/timestamp",
    ]
    assert projection.field_types() == {
        "Person": {"name": frozenset({K.STRING, K.SYMBOL}), "n": frozenset({K.INT, K.DECIMAL})},
        "_Odd/Table": {"a.b": frozenset({K.TIMESTAMP}), "": frozenset({K.NULL})},
    }
    # Documents are untouched by the records, and the tables are listed by their folders.
    assert projection.ledger_tables_stored() == ["Person", "_Odd/Table"]
    assert sorted(s.key.doc_id for s in projection.iter_current_state()) == ["d1", "d2"]
    # Once per process: records deleted behind its back are not written again by it ...
    for key in type_keys(client, bucket, "lake"):
        client.delete_object(Bucket=bucket, Key=key)
    projection.apply(changes)
    assert type_keys(client, bucket, "lake") == []
    projection.close()
    # ... but a new process (a replay after a crash) records them, stale changes included.
    again = S3Projection(client, bucket, "lake", retry=NO_SLEEP)
    report = again.apply(changes)
    assert report.stale == 2 and report.applied == 0
    assert len(type_keys(client, bucket, "lake")) == 6
    again.close()


def test_long_names_are_read_back_from_the_record_body(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "p", retry=NO_SLEEP)
    long_field = "F" * 1100
    projection.apply([typed(make_change("d1", 0), **{long_field: K.BLOB, "short": K.BOOL})])
    [hashed] = [k for k in type_keys(client, bucket, "p") if "#" in k]
    assert hashed.endswith("/blob") and len(hashed) < 200
    assert projection.field_types() == {
        "Person": {long_field: frozenset({K.BLOB}), "short": frozenset({K.BOOL})}
    }
    projection.close()


def test_listing_is_paginated(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "_STATE_PAGE", 2)
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "", retry=NO_SLEEP)
    fields = {f"f{i}": K.INT for i in range(7)}
    projection.apply([typed(make_change("d1", 0), **fields)])
    assert projection.field_types() == {"Person": {f: frozenset({K.INT}) for f in fields}}
    monkeypatch.setattr(s3_module, "MAX_FIELD_TYPE_RECORDS", 5)
    with pytest.raises(UserInputError, match="more than 5 field type records"):
        projection.field_types()
    projection.close()


def test_failed_changes_record_no_kinds(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(client, bucket, "p", retry=NO_SLEEP)
    poison = typed(make_change("", 0), name=K.STRING)  # an empty id has no key: poison
    good = typed(make_change("d1", 0), score=K.DECIMAL)
    report = projection.apply([poison, good])
    assert [f.change.key.doc_id for f in report.failures] == [""]
    assert type_keys(client, bucket, "p") == [
        "p/_field_types/=Person/=score/decimal",
        "p/_field_types/=Person/=score/digits:1",
        "p/_field_types/=Person/=score/scale:2",
    ]
    projection.close()


def test_a_record_that_cannot_be_written_fails_the_batch_as_retryable(bucket: str) -> None:
    client = aws_client("s3")
    projection = S3Projection(
        client, bucket, "p", retry=aws_retry(attempts=2, sleep=lambda _: None)
    )
    change = typed(make_change("d1", 0), name=K.STRING)
    faults = FaultInjector(
        client, rate=1.0, kinds=("server_error",), operations=frozenset({"PutObject"})
    )
    faults.enabled = False
    real_put = client.put_object

    def put_object(**kwargs: Any) -> Any:
        faults.enabled = "_field_types/" in kwargs["Key"]
        try:
            return real_put(**kwargs)
        finally:
            faults.enabled = False

    client.put_object = put_object
    with pytest.raises(RetryableError, match="recording the field types"):
        projection.apply([change])
    client.put_object = real_put
    # The documents were written; the retried batch is stale and records the kinds.
    report = projection.apply([change])
    assert report.stale == 1
    assert type_keys(client, bucket, "p") == ["p/_field_types/=Person/=name/string"]
    projection.close()


def test_athena_ddl_from_the_bucket_alone(bucket: str) -> None:
    client = aws_client("s3")
    writer = S3Projection(client, bucket, "lake", retry=NO_SLEEP)
    writer.apply(
        [
            typed(make_change("d1", 0), FirstName=K.STRING, DOB=K.DATE, score=K.DECIMAL),
            make_change("v1", 0, table="Vehicle"),  # written without kinds (an older version)
        ]
    )
    writer.close()
    client.put_object(Bucket=bucket, Key="lake/notes/readme.txt", Body=b"not a ledger table")
    reader = S3Projection(client, bucket, "lake", retry=NO_SLEEP)
    assert reader.ledger_tables_stored() == ["Person", "Vehicle"]
    ddl = reader.athena_ddl(NO_MAPPING)
    assert [(t.ledger_table, t.table) for t in ddl.tables] == [
        ("Person", "person"),
        ("Vehicle", "vehicle"),
    ]
    person, vehicle = ddl.tables
    assert [(c.field, c.hive_type) for c in person.columns] == [
        ("DOB", "date"),
        ("FirstName", "string"),
        ("score", "decimal(3,2)"),
    ]
    assert vehicle.columns == ()
    assert person.current_location == f"s3://{bucket}/lake/Person/current/"
    assert reader.athena_ddl(NO_MAPPING, leave_out={"Vehicle"}).skipped_tables == ("Vehicle",)
    assert reader.uri == f"s3://{bucket}/lake"
    reader.close()
