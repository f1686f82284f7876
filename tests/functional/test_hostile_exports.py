"""Hostile journal exports: every one ends in one line with the documented exit code, or in a
dead letter, and the objects read before it are written; nothing is read outside the source.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

from consumers.cli import main
from schemas.journal_export import ExportFormat
from tests.support.export_builder import STRAND, Rev, block, person, write_export
from tests.support.moto_server import aws_client, aws_env, moto_endpoint, unique_name
from tests.support.replay_samples import read_db

__all__ = ["aws_env", "moto_endpoint"]  # pytest fixtures used by name

A, B, P, H = "A" * 22, "B" * 22, "P" * 22, "H" * 22  # before, after, poison, healthy neighbour
OTHER_STRAND = "OtherStrandZZZZZZZZZZZ"


def nested(levels: int) -> dict[str, Any]:
    """A document whose containers nest ``levels`` deep (the document itself is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"down": value}
    return value


def with_poison(poison: Callable[[dict[str, Any]], None]) -> list[list[dict[str, Any]]]:
    """Three objects; ``poison`` spoils the first revision of block 2 (its neighbour is fine)."""
    middle = block(2, [Rev("Person", P, 0, person(2, 0)), Rev("Person", H, 0, person(3, 0))])
    poison(middle["revisions"][0])
    return [
        [block(1, [Rev("Person", A, 0, person(1, 0))])],
        [middle],
        [block(3, [Rev("Person", B, 0, person(4, 0))])],
    ]


def _version(revision: dict[str, Any]) -> None:
    revision["metadata"]["version"] = 2**63


def _sequence(revision: dict[str, Any]) -> None:
    revision["blockAddress"]["sequenceNo"] = 2**64 + 2


def _deep(revision: dict[str, Any]) -> None:
    revision["data"] = nested(150)


def _not_a_struct(revision: dict[str, Any]) -> None:
    revision["data"] = [1, 2]


POISON = {
    "version 2^63": (_version, "invalid metadata.version 9223372036854775808"),
    "revision sequenceNo 2^64": (_sequence, "must be a non-negative 64-bit integer"),
    "150 levels deep": (_deep, "nested more than 100 levels deep"),
    "data not a struct": (_not_a_struct, "is not a struct"),
}
FORMATS = [ExportFormat.ION_BINARY, ExportFormat.ION_TEXT, ExportFormat.JSON]


def replay(source: Path, db: Path, *extra: str) -> int:
    return main(["replay", str(source), "--to", f"sqlite:///{db}", "--no-progress", *extra])


def documents(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as con:
        try:
            return {d for (d,) in con.execute("SELECT document_id FROM documents")}
        except sqlite3.OperationalError:  # no table: nothing was ever written
            return set()


def completed(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {k for (k,) in con.execute("SELECT object_key FROM qldb_cdc_checkpoints")}


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.value)
@pytest.mark.parametrize("case", POISON)
def test_a_poison_revision_stops_in_one_line_after_the_objects_before_it(
    case: str, fmt: ExportFormat, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, reason = POISON[case]
    keys = write_export(tmp_path / "e", with_poison(spoil), fmt=fmt)
    db = tmp_path / "out.db"
    assert replay(tmp_path / "e", db) == 3
    line = one_line(capsys.readouterr().err)
    assert reason in line
    assert keys[1] in line and f"block {STRAND}/2" in line and "--dead-letter" in line
    assert A in documents(db)
    assert P not in documents(db)
    assert keys[0] in completed(db) and keys[1] not in completed(db)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.value)
@pytest.mark.parametrize("case", POISON)
def test_a_poison_revision_is_dead_lettered_and_the_rest_applied(
    case: str, fmt: ExportFormat, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, reason = POISON[case]
    objects = with_poison(spoil)
    keys = write_export(tmp_path / "e", objects, fmt=fmt)
    db, letters = tmp_path / "out.db", tmp_path / "dead.jsonl"
    assert replay(tmp_path / "e", db, "--dead-letter", str(letters)) == 0
    out = capsys.readouterr().out
    assert "1 poison (dead-lettered)" in out
    assert documents(db) == {A, H, B}
    assert completed(db) == set(keys)
    (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
    assert reason in letter["reason"]
    assert letter["errorClass"] == "InvalidRecordError"
    assert letter["sequenceNumber"] == f"8ZkGjpvZQsB2Xw1Pj0C3Fz/{keys[1]}"
    assert letter["documentKey"].startswith(f"Person/{P}@")
    raw = base64.b64decode(letter["rawBase64"])
    if fmt is ExportFormat.JSON:
        assert letter["rawFormat"] == "json_line"
        assert raw == (tmp_path / "e" / keys[1]).read_bytes()  # the block's line, as read
    else:
        assert letter["rawFormat"] == "ion_binary"
        revision = simpleion.loads(raw)
        assert revision["metadata"]["id"] == P
        assert simpleion.dumps(revision) == simpleion.dumps(
            simpleion.loads(simpleion.dumps(objects[1][0]["revisions"][0]))
        )


@pytest.mark.parametrize("case", POISON)
def test_verify_reports_a_poison_revision(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, reason = POISON[case]
    write_export(tmp_path / "e", with_poison(spoil))
    assert main(["verify", str(tmp_path / "e")]) == 1
    out = capsys.readouterr().out
    assert any(reason in line and "dead-letters this revision" in line for line in out.splitlines())


def test_json_nested_beyond_the_parser_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = write_export(tmp_path / "e", with_poison(_deep), fmt=ExportFormat.JSON)
    middle = tmp_path / "e" / keys[1]
    middle.write_bytes(
        middle.read_bytes().replace(b'"leaf":1', b'"leaf":' + b"[" * 5000 + b"]" * 5000)
    )
    db = tmp_path / "out.db"
    assert replay(tmp_path / "e", db, "--dead-letter", str(tmp_path / "dead.jsonl")) == 3
    line = one_line(capsys.readouterr().err)
    assert keys[1] in line and "too deeply" in line
    assert A in documents(db)


def test_ion_nested_beyond_the_reader_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = write_export(tmp_path / "e", with_poison(_deep), fmt=ExportFormat.ION_TEXT)
    middle = tmp_path / "e" / keys[1]
    middle.write_bytes(middle.read_bytes().replace(b"leaf:1", b"leaf:" + b"[" * 3000 + b"]" * 3000))
    db = tmp_path / "out.db"
    assert replay(tmp_path / "e", db) == 3
    line = one_line(capsys.readouterr().err)
    assert keys[1] in line and "Ion" in line
    assert A in documents(db)


def test_a_lone_surrogate_field_name_is_dead_lettered_without_hanging(tmp_path: Path) -> None:
    objects = with_poison(lambda r: r.__setitem__("data", {"SURROGATE": 1}))
    keys = write_export(tmp_path / "e", objects, fmt=ExportFormat.JSON)
    middle = tmp_path / "e" / keys[1]
    middle.write_bytes(middle.read_bytes().replace(b'"SURROGATE"', b'"\\ud800"'))
    db, letters = tmp_path / "out.db", tmp_path / "dead.jsonl"
    argv = ["replay", str(tmp_path / "e"), "--to", f"sqlite:///{db}", "--no-progress"]
    command = [sys.executable, "-m", "consumers.cli", *argv, "--dead-letter", str(letters)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert documents(db) == {A, H, B}
    (letter,) = [json.loads(line) for line in letters.read_text().splitlines()]
    assert letter["documentKey"] == f"Person/{P}@0"
    assert letter["errorClass"] == "UnstorableChangeError"
    assert letter["rawFormat"] == "json_line"
    assert base64.b64decode(letter["rawBase64"]) == middle.read_bytes()


@pytest.mark.parametrize("fmt", [ExportFormat.ION_BINARY, ExportFormat.ION_TEXT], ids=str)
def test_annotated_values_convert_like_unannotated_ones(fmt: ExportFormat, tmp_path: Path) -> None:
    annotated = simpleion.loads(
        "{a: tag::{b: t::1, c: s::[x::2, {d: null.int}]}, e: u::(1 two), f: w::null.struct,"
        ' g: b::{{aGVsbG8=}}, h: c::{{"clob"}}, i: n::123456789012345678901234567890,'
        " j: t::2020-06-01T10:00:00.123456789-07:30, k: f::nan, l: d::1.50, m: y::sym}"
    )
    objects = [[block(1, [Rev("Person", A, 0, annotated)])]]
    write_export(tmp_path / "e", objects, fmt=fmt)
    assert replay(tmp_path / "e", tmp_path / "out.db") == 0
    docs, _revisions = read_db(tmp_path / "out.db")
    data = docs[("Person", A)][3]
    assert data["a"] == {"b": 1, "c": [2, {"d": None}]}
    assert data["e"] == [1, "two"]
    assert data["f"] is None
    assert (data["g"], data["h"]) == ("aGVsbG8=", "Y2xvYg==")
    assert data["i"] == 123456789012345678901234567890
    assert data["j"] == "2020-06-01T10:00:00.123456789-07:30"
    assert data["k"] == "nan"
    assert data["l"] == Decimal("1.50") and str(data["l"]) == "1.50"
    assert data["m"] == "sym"


def test_a_byte_order_mark_on_a_json_object_changes_nothing(tmp_path: Path) -> None:
    objects = [
        [block(1, [Rev("Person", A, 0, {"price": Decimal("381000"), "n": 1})])],
        [block(2, [Rev("Person", B, 0, {"price": Decimal("1.50")})])],
    ]
    keys = write_export(tmp_path / "plain", objects, fmt=ExportFormat.JSON)
    write_export(tmp_path / "bom", objects, fmt=ExportFormat.JSON)
    for key in keys:
        path = tmp_path / "bom" / key
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert replay(tmp_path / "plain", tmp_path / "plain.db") == 0
    assert replay(tmp_path / "bom", tmp_path / "bom.db") == 0
    assert read_db(tmp_path / "bom.db") == read_db(tmp_path / "plain.db")
    price = read_db(tmp_path / "bom.db")[0][("Person", A)][3]["price"]
    assert isinstance(price, Decimal) and price == 381000


def test_a_manifest_without_keys_beside_data_objects_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = write_export(tmp_path / "e", with_poison(lambda r: None))
    manifest = next((tmp_path / "e").rglob("*.completed.manifest"))
    manifest.write_text(simpleion.dumps({"keys": []}, binary=False))
    for command in ("replay", "verify"):
        argv = [command, str(tmp_path / "e")]
        argv += ["--to", f"sqlite:///{tmp_path / 'o.db'}"] if command == "replay" else []
        assert main(argv) == 2
        line = one_line(capsys.readouterr().err)
        assert "list no data objects" in line and "3 data object(s)" in line and keys[0] in line
    assert documents(tmp_path / "o.db") == set()


def test_data_objects_no_manifest_lists_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = write_export(tmp_path / "e", with_poison(lambda r: None))
    manifest = next((tmp_path / "e").rglob("*.completed.manifest"))
    manifest.write_text(simpleion.dumps({"keys": keys[:2]}, binary=False))
    assert replay(tmp_path / "e", tmp_path / "o.db") == 0
    err = capsys.readouterr().err
    assert "warning: 1 data object(s)" in err and keys[2] in err and "listed by no" in err
    assert documents(tmp_path / "o.db") == {A, P, H}


def _outside_object(tmp_path: Path) -> Path:
    """A valid data object outside the export folder, holding a document that must never land."""
    write_export(tmp_path / "outside", [[block(1, [Rev("Person", "X" * 22, 0, {"secret": 1})])]])
    return next((tmp_path / "outside").rglob(f"{STRAND}.1-1.ion"))


@pytest.mark.parametrize(
    "key",
    ["../outside/exports/8ZkGjpvZQsB2Xw1Pj0C3Fz/" + STRAND + ".1-1.ion", f"a/./{STRAND}.1-1.ion"],
)
def test_a_manifest_key_with_dot_segments_is_refused(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _outside_object(tmp_path)
    (tmp_path / "e").mkdir()
    manifest = tmp_path / "e" / f"8ZkGjpvZQsB2Xw1Pj0C3Fz.{STRAND}.completed.manifest"
    manifest.write_text(simpleion.dumps({"keys": [key]}, binary=False))
    db = tmp_path / "o.db"
    assert replay(tmp_path / "e", db) == 2
    line = one_line(capsys.readouterr().err)
    assert "'..'" in line and "refusing to read outside" in line
    assert documents(db) == set()


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = _outside_object(tmp_path)
    keys = write_export(tmp_path / "e", [[block(1, [Rev("Person", A, 0, {"ok": 1})])]])
    target = tmp_path / "e" / keys[0]
    moved = tmp_path / "e" / "store" / "object.ion"
    moved.parent.mkdir()
    target.rename(moved)
    target.symlink_to(moved)
    assert replay(tmp_path / "e", tmp_path / "in.db") == 0
    assert documents(tmp_path / "in.db") == {A}
    target.unlink()
    target.symlink_to(outside)
    db = tmp_path / "out.db"
    assert replay(tmp_path / "e", db) == 2
    line = one_line(capsys.readouterr().err)
    assert "outside the export folder" in line and "symbolic link" in line
    assert documents(db) == set()


def test_exports_of_two_strands_are_refused_unless_one_is_picked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_export(tmp_path / "e", [[block(1, [Rev("Person", A, 0, {"l": 1})])]], export_id="ExpOne")
    write_export(
        tmp_path / "e",
        [[block(1, [Rev("Person", B, 0, {"l": 2})], strand=OTHER_STRAND)]],
        export_id="ExpTwo",
        strand=OTHER_STRAND,
    )
    db = tmp_path / "o.db"
    for command in (["replay", str(tmp_path / "e"), "--to", f"sqlite:///{db}"], ["verify"]):
        argv = command if command[0] == "replay" else ["verify", str(tmp_path / "e")]
        assert main(argv) == 2
        line = one_line(capsys.readouterr().err)
        assert f"strand {STRAND}: export ExpOne" in line
        assert f"strand {OTHER_STRAND}: export ExpTwo" in line and "--strand" in line
    assert documents(db) == set()
    assert replay(tmp_path / "e", db, "--strand", OTHER_STRAND) == 0
    assert documents(db) == {B}
    assert main(["replay", str(tmp_path / "e"), "--strand", "Nope", "--to", str(db)]) == 2
    assert "no completed manifest of that strand" in capsys.readouterr().err


def test_an_s3_manifest_key_outside_the_prefix_is_refused(
    tmp_path: Path, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = aws_client("s3")
    bucket = unique_name("hostile")
    s3.create_bucket(Bucket=bucket)
    keys = write_export(tmp_path / "e", [[block(1, [Rev("Person", A, 0, {"ok": 1})])]])
    s3.put_object(
        Bucket=bucket, Key=f"secret/{keys[0]}", Body=(tmp_path / "e" / keys[0]).read_bytes()
    )
    manifest = {"keys": [f"secret/{keys[0]}"]}
    s3.put_object(
        Bucket=bucket,
        Key=f"exports/8ZkGjpvZQsB2Xw1Pj0C3Fz.{STRAND}.completed.manifest",
        Body=simpleion.dumps(manifest, binary=False).encode(),
    )
    db = tmp_path / "o.db"
    assert main(["replay", f"s3://{bucket}/exports/", "--to", str(db), "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "outside the source prefix" in line
    assert documents(db) == set()
