"""Decoding QLDB stream records: the real captures, synthetic shapes and malformed input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from amazon.ion import simpleion

from changes.from_qldb import stream_change
from core.errors import DecodeError, InvalidRecordError
from core.model import BlockAddress, ChangeKind, DocKey, StreamOrigin
from schemas.kinesis import from_kcl, from_lambda
from schemas.kpl import iter_user_records
from schemas.qldb_stream import (
    BlockSummaryRecord,
    ControlRecord,
    RevisionDetailsRecord,
    decode_stream_record,
)
from tests.support.synthetic_stream import (
    STREAM_ARN,
    Rev,
    capture_records,
    control,
    load_capture,
    revision_details,
)

S1, S2, S3 = "JUJgrQeIeI64ZgvXIuqlZ1", "Ad3A7NAAxT12W36o0d8v32", "0VwGeHD7Q9LL4HSC55gDSp"

# (type, table, doc id, version, strand, sequenceNo) per user record, as in the captures.
EXPECTED = [
    ("BLOCK_SUMMARY", None, None, None, S3, 14),
    ("REVISION_DETAILS", "attestations", "6WXz9wdajiY7K5u6YwGUN4", 0, S3, 14),
    ("BLOCK_SUMMARY", None, None, None, S2, 7551),
    (
        "REVISION_DETAILS",
        "BicycleLicence",
        "GOgo53xQlerJCQ0fBzenBr",
        0,
        S2,
        7551,
    ),
    ("BLOCK_SUMMARY", None, None, None, S1, 545),
    (
        "REVISION_DETAILS",
        "BicycleLicence",
        "LSkFrekxpQeDFzPFUNidAt",
        0,
        S1,
        545,
    ),
    ("BLOCK_SUMMARY", None, None, None, S1, 532),
    (
        "REVISION_DETAILS",
        "BicycleLicence",
        "GZKr7b5EUSM160Z8jTPOH5",
        0,
        S1,
        532,
    ),
    (
        "REVISION_DETAILS",
        "BicycleLicence",
        "IiPTAO6xXEhAacLpPbubci",
        1,
        S1,
        532,
    ),
]


def test_every_capture_record_decodes_as_captured(capture_dir: Path) -> None:
    users = [u for r in capture_records(capture_dir) for u in iter_user_records(r)]
    got: list[tuple[str, str | None, str | None, int | None, str, int]] = []
    for user in users:
        decoded = decode_stream_record(user.data)
        if isinstance(decoded, BlockSummaryRecord):
            address = decoded.block.address
            got.append(("BLOCK_SUMMARY", None, None, None, address.strand_id, address.sequence_no))
            # the inner partition key of a BLOCK_SUMMARY is the hex of its block hash
            assert user.partition_key == decoded.block.block_hash.hex()
            assert decoded.revision_summaries
        else:
            assert isinstance(decoded, RevisionDetailsRecord)
            meta = decoded.revision.metadata
            assert meta is not None
            assert decoded.revision.address is not None
            got.append(
                (
                    "REVISION_DETAILS",
                    decoded.table_name,
                    meta.doc_id,
                    meta.version,
                    decoded.revision.address.strand_id,
                    decoded.revision.address.sequence_no,
                )
            )
            assert user.partition_key == decoded.revision.hash.hex()
    assert got == EXPECTED


def test_capture_revision_becomes_a_change(capture_dir: Path) -> None:
    record = from_lambda(load_capture(capture_dir, "streams_data1.json")["Records"][0])
    users = list(iter_user_records(record))
    decoded = decode_stream_record(users[2].data)
    assert isinstance(decoded, RevisionDetailsRecord)
    here = StreamOrigin(2, users[2])
    change = stream_change(decoded, origin=here)
    assert change.key == DocKey("BicycleLicence", "IiPTAO6xXEhAacLpPbubci")
    assert change.kind is ChangeKind.UPDATE
    assert change.version == 1
    assert change.block == BlockAddress(S1, 532)
    assert change.table_id == "17CRCBBPOEe4aSgHpQ8fSm"
    assert change.tx_time == "2020-07-03T20:30:45.311Z"
    assert change.revision_hash == base64.b64encode(decoded.revision.hash).decode()
    assert change.data is not None
    assert change.data["Email"] == "chriswilliams@gmail.com"
    assert change.data["Events"][0]["eventName"] == "LicenceHolderCreated"
    assert change.origin == here


def test_block_summary_keeps_the_raw_payload(capture_dir: Path) -> None:
    record = from_lambda(load_capture(capture_dir, "streams_data.json")["Records"][0])
    decoded = decode_stream_record(next(iter_user_records(record)).data)
    assert isinstance(decoded, BlockSummaryRecord)
    assert decoded.raw["blockHash"] == decoded.block.block_hash
    assert base64.b64encode(decoded.block.block_hash).decode() == (
        "voYmPG41b9+23P7U2EETlkI0e+N3oPLCEf4aE3lWq8c="
    )
    assert decoded.block.documents["LSkFrekxpQeDFzPFUNidAt"].table_name == "BicycleLicence"


def test_delete_shape_is_a_tombstone() -> None:
    decoded = decode_stream_record(revision_details(Rev("doc1", 3, data=None)))
    assert isinstance(decoded, RevisionDetailsRecord)
    change = stream_change(decoded)
    assert change.kind is ChangeKind.DELETE
    assert change.data is None
    assert change.version == 3


def test_data_hash_without_data_is_a_redaction() -> None:
    decoded = decode_stream_record(revision_details(Rev("doc1", 2, redacted=True)))
    assert isinstance(decoded, RevisionDetailsRecord)
    change = stream_change(decoded)
    assert change.kind is ChangeKind.REDACTION
    assert change.data is None
    assert change.data_hash is not None


def test_insert_and_update_kinds() -> None:
    insert = decode_stream_record(revision_details(Rev("d", 0, data={"a": 1})))
    update = decode_stream_record(revision_details(Rev("d", 4, data={"a": 2})))
    assert isinstance(insert, RevisionDetailsRecord)
    assert isinstance(update, RevisionDetailsRecord)
    assert stream_change(insert).kind is ChangeKind.INSERT
    assert stream_change(update).kind is ChangeKind.UPDATE
    assert stream_change(update).data == {"a": 2}


def test_control_record() -> None:
    decoded = decode_stream_record(control("COMPLETED"))
    assert decoded == ControlRecord(stream_arn=STREAM_ARN, control_type="COMPLETED")


def test_ion_text_is_accepted_too() -> None:
    text = (
        f'{{qldbStreamArn:"{STREAM_ARN}",recordType:"CONTROL",'
        'payload:{controlRecordType:"CREATED"}}'
    )
    assert decode_stream_record(text.encode()) == ControlRecord(STREAM_ARN, "CREATED")


@pytest.mark.parametrize(
    "data",
    [b"\xe0\x01\x00\xea\xde\xff", b"garbage that is not ion {{{", b"\xe0\x01\x00\xea\x8e\x9f"],
)
def test_malformed_ion_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_stream_record(data)


def _ion(value: object) -> bytes:
    out: bytes = simpleion.dumps(value, binary=True)
    return out


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([1, 2], "must be an Ion struct"),
        ({"qldbStreamArn": "a", "recordType": "WHATEVER", "payload": {}}, "unknown QLDB stream"),
        ({"qldbStreamArn": "a", "payload": {}}, "recordType"),
        ({"qldbStreamArn": "a", "recordType": "CONTROL"}, "lacks a payload"),
        ({"qldbStreamArn": "a", "recordType": "CONTROL", "payload": {}}, "controlRecordType"),
        ({"qldbStreamArn": "a", "recordType": "REVISION_DETAILS", "payload": {}}, "tableInfo"),
        (
            {
                "qldbStreamArn": "a",
                "recordType": "REVISION_DETAILS",
                "payload": {"tableInfo": {"tableName": "T"}},
            },
            "lacks a revision",
        ),
        (
            {
                "qldbStreamArn": "a",
                "recordType": "REVISION_DETAILS",
                "payload": {"tableInfo": {"tableName": "T"}, "revision": {"hash": b"x" * 32}},
            },
            "lacks metadata",
        ),
        ({"qldbStreamArn": "a", "recordType": "BLOCK_SUMMARY", "payload": {}}, "blockAddress"),
    ],
)
def test_invalid_records_name_the_problem(value: object, reason: str) -> None:
    with pytest.raises(InvalidRecordError, match=reason):
        decode_stream_record(_ion(value))


def test_from_lambda_and_from_kcl() -> None:
    data = base64.b64encode(b"abc").decode()
    lam = from_lambda(
        {
            "eventID": "shardId-000000000003:123",
            "kinesis": {
                "data": data,
                "sequenceNumber": "123",
                "partitionKey": "p",
                "approximateArrivalTimestamp": 1594394053.945,
            },
        }
    )
    assert (lam.data, lam.shard_id, lam.sub_sequence_number, lam.arrival) == (
        b"abc",
        "shardId-000000000003",
        None,
        1594394053.945,
    )
    kcl = from_kcl(
        {
            "data": data,
            "partitionKey": "p",
            "sequenceNumber": "123",
            "subSequenceNumber": 4,
            "approximateArrivalTimestamp": 1594394053945,
        },
        shard_id="shardId-1",
    )
    assert (kcl.sub_sequence_number, kcl.arrival, kcl.shard_id) == (4, 1594394053.945, "shardId-1")


@pytest.mark.parametrize("bad", ["not base64!!", "YWJ", 17])
def test_bad_base64_is_a_decode_error(bad: object) -> None:
    with pytest.raises(DecodeError):
        from_lambda({"kinesis": {"data": bad, "sequenceNumber": "1"}})
    with pytest.raises(DecodeError):
        from_kcl({"data": bad, "sequenceNumber": "1"})


def test_missing_sequence_number_is_invalid() -> None:
    with pytest.raises(InvalidRecordError):
        from_lambda({"kinesis": {"data": ""}})
    with pytest.raises(InvalidRecordError):
        from_lambda({})
