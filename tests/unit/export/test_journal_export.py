import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from amazon.ion import simpleion
from amazon.ion.simple_types import IonPyDict, IonPyNull
from amazon.ion.symbols import SymbolToken

from changes.from_qldb import block_changes
from core.errors import DecodeError, InvalidRecordError
from core.model import ChangeKind, ExportOrigin
from schemas import journal
from schemas.journal import parse_block
from schemas.journal_export import (
    ExportFormat,
    ObjectRange,
    detect_format,
    iter_blocks,
    parse_completed_manifest,
    parse_object_key,
)
from tests.support.export_builder import Rev, block, encode, person

BLOCKS = [
    block(1, [], system=2),
    block(2, [Rev("Person", "A" * 22, 0, person(1, 0)), Rev("Vehicle", "B" * 22, 0, {"vin": "x"})]),
    block(3, [Rev("Person", "A" * 22, 1, person(1, 1))], system=1),
    block(4, [Rev("Vehicle", "B" * 22, 1)]),
    block(5, [Rev("Person", "A" * 22, 1, redacted=True)]),
]


def test_manifest_in_every_encoding() -> None:
    keys = ["p/e1/S.0-9.ion", "p/e1/S.10-19.ion"]
    for data in (
        simpleion.dumps({"keys": keys}, binary=False).encode(),
        simpleion.dumps({"keys": keys}, binary=True),
        b'{"keys": ["p/e1/S.0-9.ion", "p/e1/S.10-19.ion"]}',
    ):
        assert parse_completed_manifest(data) == keys
    with pytest.raises(InvalidRecordError, match="keys"):
        parse_completed_manifest(b'{"other": 1}')
    with pytest.raises(DecodeError):
        parse_completed_manifest(b"{keys: [")


def test_object_key_ranges() -> None:
    assert parse_object_key("a/b/JUJg.12-345.ion") == ObjectRange("JUJg", 12, 345)
    assert parse_object_key("JUJg.0-0.json") == ObjectRange("JUJg", 0, 0)
    for bad in ("a/b/file.ion", "S.9-3.ion", "S.1-2"):
        with pytest.raises(InvalidRecordError):
            parse_object_key(bad)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_every_format_reads_to_the_same_changes(fmt: ExportFormat) -> None:
    data = encode(BLOCKS, fmt)
    assert detect_format(data[:4096]) is fmt
    blocks = list(iter_blocks(io.BytesIO(data), fmt))
    assert [b.address.sequence_no for b in blocks] == [1, 2, 3, 4, 5]
    assert not blocks[0].has_documents
    found = [block_changes(b) for b in blocks]
    assert [f.skipped_system for f in found] == [2, 0, 1, 0, 0]
    kinds = [c.kind for f in found for c in f.changes]
    assert kinds == [
        ChangeKind.INSERT,
        ChangeKind.INSERT,
        ChangeKind.UPDATE,
        ChangeKind.DELETE,
        ChangeKind.REDACTION,
    ]
    reference = [c for b in BLOCKS for c in block_changes(parse_block(b)).changes]
    assert [c for f in found for c in f.changes] == reference
    person_v0 = found[1].changes[0]
    assert person_v0.data is not None
    assert str(person_v0.data["score"]) == "12.50"
    assert person_v0.data["blob"] == "AAE="
    assert person_v0.tx_time == "2024-01-01T00:00:02.123-00:00"


@pytest.mark.parametrize("fmt", [ExportFormat.ION_BINARY, ExportFormat.ION_TEXT, ExportFormat.JSON])
def test_truncated_object_is_a_decode_error(fmt: ExportFormat) -> None:
    data = encode(BLOCKS, fmt)
    with pytest.raises(DecodeError):
        list(iter_blocks(io.BytesIO(data[: len(data) // 2]), fmt))


def test_block_missing_fields_names_the_block() -> None:
    value = block(7, [Rev("Person", "A" * 22, 0, {"x": 1})])
    del value["blockHash"]
    with pytest.raises(
        InvalidRecordError, match="block JUJgrQeIeI64ZgvXIuqlZ1/7: missing field blockHash"
    ):
        parse_block(value)


def test_a_malformed_revision_is_rejected_with_its_reason_and_the_rest_kept() -> None:
    value = block(8, [Rev("Person", "A" * 22, 0, {"x": 1}), Rev("Person", "B" * 22, 0, {"y": 2})])
    value["revisions"][0]["metadata"]["version"] = -1
    parsed = parse_block(value)
    assert [r.metadata.doc_id for r in parsed.revisions if r.metadata] == ["B" * 22]
    (rejected,) = parsed.rejected
    assert (rejected.index, rejected.document_id, rejected.version) == (0, "A" * 22, None)
    assert "invalid metadata.version -1" in rejected.reason
    found = block_changes(parsed)
    assert [c.key.doc_id for c in found.changes] == ["B" * 22]
    assert found.rejected == [rejected]


def test_revision_without_table_is_skipped_and_counted() -> None:
    value = block(9, [Rev("Person", "A" * 22, 0, {"x": 1})])
    value["transactionInfo"]["documents"] = {}
    found = block_changes(parse_block(value))
    assert (found.changes, found.skipped_no_table) == ([], 1)


def test_format_detection_with_a_first_line_longer_than_the_head() -> None:
    big = {"blockAddress": {"strandId": "S", "sequenceNo": 1}, "pad": "x" * 20_000}
    json_head = json.dumps(big).encode()[:4096]
    assert b"\n" not in json_head
    assert detect_format(json_head) is ExportFormat.JSON
    ion_head = simpleion.dumps(big, binary=False, omit_version_marker=True).encode()[:4096]
    assert detect_format(ion_head) is ExportFormat.ION_TEXT
    assert detect_format(b'{"a": 1}\n{"a": 2}\n') is ExportFormat.JSON
    assert detect_format(b"{a: 1}\n{a: 2}\n") is ExportFormat.ION_TEXT


def test_fast_and_validating_block_parsers_agree_on_simulated_blocks() -> None:
    from types import MappingProxyType

    from schemas import ion_values
    from simulation.config import SimulationConfig
    from simulation.ledger import generate_blocks

    config = SimulationConfig(documents=30, revisions=300, seed=4, redaction_ratio=0.05)
    checked = 0
    for generated in generate_blocks(config):
        value = ion_values.loads(simpleion.dumps(generated), exact=False)
        assert type(value) is dict
        fast = parse_block(value)  # plain dicts take the fused path
        slow = parse_block(MappingProxyType(value))  # any other mapping is validated field by field
        assert fast == slow
        assert [r.metadata for r in fast.revisions] == [r.metadata for r in slow.revisions]
        assert [r.address for r in fast.revisions] == [r.address for r in slow.revisions]
        checked += len(fast.revisions)
    assert checked > 300


def test_fast_parser_falls_back_to_the_validating_errors() -> None:
    from schemas import ion_values

    value = ion_values.loads(
        simpleion.dumps(block(7, [Rev("Person", "A" * 22, 0, {"x": 1})])), exact=False
    )
    del value["blockHash"]
    with pytest.raises(InvalidRecordError, match="block JUJgrQeIeI64ZgvXIuqlZ1/7: missing field"):
        parse_block(value)
    for version in (-1, 2**63):
        value = ion_values.loads(
            simpleion.dumps(block(8, [Rev("Person", "A" * 22, 0, {"x": 1})])), exact=False
        )
        value["revisions"][0]["metadata"]["version"] = version
        (rejected,) = parse_block(value).rejected
        assert f"invalid metadata.version {version}" in rejected.reason


def test_block_changes_equals_to_change_for_every_revision() -> None:
    # block_changes inlines to_change for speed; the two must never drift apart
    from changes.from_qldb import to_change
    from schemas import ion_values
    from simulation.config import SimulationConfig
    from simulation.ledger import generate_blocks

    config = SimulationConfig(
        documents=20, revisions=200, seed=9, redaction_ratio=0.05, delete_ratio=0.1
    )
    kinds = set()
    for generated in generate_blocks(config):
        parsed = parse_block(ion_values.loads(simpleion.dumps(generated), exact=False))
        expected = [
            to_change(
                r,
                parsed.documents[r.metadata.doc_id].table_name,
                table_id=parsed.documents[r.metadata.doc_id].table_id,
                block=parsed.address,
                origin=ExportOrigin("e", "o"),
            )
            for r in parsed.revisions
            if r.metadata is not None and r.metadata.doc_id in parsed.documents
        ]
        got = block_changes(parsed, ExportOrigin("e", "o")).changes
        assert got == expected
        assert [c.origin for c in got] == [c.origin for c in expected]
        kinds |= {c.kind for c in got}
    assert kinds == set(ChangeKind)


class _OtherMapping(Mapping[Any, Any]):
    """A mapping of neither fused type: parse_block validates it field by field."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getitem__(self, key: Any) -> Any:
        return self._inner[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


def _both_paths(value: Any) -> tuple[Any, Any]:
    """parse_block's result (or error text) on ``value`` and on the same block validated."""

    def parsed(v: Any) -> Any:
        try:
            return parse_block(v)
        except InvalidRecordError as exc:
            return str(exc)

    return parsed(value), parsed(_OtherMapping(value))


def test_exact_model_blocks_take_the_fused_path_with_the_same_result() -> None:
    from schemas import ion_values
    from simulation.config import SimulationConfig
    from simulation.ledger import generate_blocks

    config = SimulationConfig(documents=30, revisions=300, seed=4, redaction_ratio=0.05)
    checked = 0
    for generated in generate_blocks(config):
        value = ion_values.loads(simpleion.dumps(generated), exact=True)
        assert type(value) is IonPyDict
        assert journal._parse_plain_block(value, None) is not None
        fast, slow = _both_paths(value)
        assert fast == slow
        assert fast.raw is value
        assert [r.metadata for r in fast.revisions] == [r.metadata for r in slow.revisions]
        assert [r.address for r in fast.revisions] == [r.address for r in slow.revisions]
        assert [r.raw for r in fast.revisions] == list(value["revisions"])
        assert all(
            a.raw is b and (a.data is None or a.data is b["data"])
            for a, b in zip(fast.revisions, value["revisions"], strict=True)
        )
        checked += len(fast.revisions)
    assert checked > 300


def _exact_block() -> Any:
    from schemas import ion_values

    value = block(7, [Rev("Person", "A" * 22, 0, {"x": 1}), Rev("Person", "B" * 22, 2, {"y": 1})])
    return ion_values.loads(simpleion.dumps(value), exact=True)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b.add_item("blockHash", b"\x01" * 32),  # repeated: the last one counts
        lambda b: b["revisions"][0].add_item("hash", b"\x02" * 32),
        lambda b: b["revisions"][0]["metadata"].add_item("version", 5),
        lambda b: b["revisions"][0]["metadata"].add_item("version", -1),
        lambda b: b["revisions"][0].add_item("data", IonPyNull()),
        lambda b: b["revisions"][1].add_item("data", 3),
        lambda b: b["revisions"][1].__setitem__("blockAddress", IonPyNull()),
        lambda b: b["revisions"][1]["blockAddress"].add_item("sequenceNo", 8),
        lambda b: b["transactionInfo"].__setitem__("documents", IonPyNull()),
        lambda b: b["transactionInfo"]["documents"]["A" * 22].add_item("tableName", "Other"),
        lambda b: b.__setitem__("transactionInfo", 1),
        lambda b: b.__delitem__("blockHash"),
        lambda b: b["blockAddress"].add_item("strandId", SymbolToken("S" * 22, None)),
    ],
)
def test_fused_and_validating_paths_agree_on_unusual_exact_blocks(spoil: Any) -> None:
    value = _exact_block()
    spoil(value)
    fast, slow = _both_paths(value)
    assert fast == slow
    if not isinstance(fast, str):
        assert fast.rejected == slow.rejected
        assert [r.metadata for r in fast.revisions] == [r.metadata for r in slow.revisions]
        assert [r.address for r in fast.revisions] == [r.address for r in slow.revisions]
