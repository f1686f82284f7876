"""Fuzz ``qldb-cdc replay`` and ``verify`` with mutated exports (see tests/fuzz/harness.py).

Each example copies a small simulated export (valid hashes), applies one mutation (byte flips,
truncation, inserted bytes, 64-bit overflows, deep nesting, odd Unicode and hostile ids or table
names, hostile manifests) and checks, besides the harness's checks:

* Ion exports are replayed with ``--verify``: every row the projection holds, current state and
  history, is one that the unmutated journal really has (a mutated value never lands);
* a replay that succeeded with ``--verify`` means ``verify`` succeeds too;
* nothing is read outside the export folder, even when a manifest points there.
"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changes.from_qldb import block_changes
from core import json_codec
from exports.object_blocks import iter_object_blocks
from exports.plan import plan_exports
from exports.store import open_store
from schemas.journal_export import ExportFormat
from simulation import cli as simulation_cli
from tests.fuzz.harness import EXAMPLES, run_cli

FORMATS = {
    "ion_binary": ExportFormat.ION_BINARY,
    "ion_text": ExportFormat.ION_TEXT,
    "json": ExportFormat.JSON,
}
Row = tuple[bool, bool, str | None]


@dataclass(frozen=True)
class Base:
    """A pristine export and every row a correct projection of it may hold."""

    root: Path
    fmt: ExportFormat
    manifest: Path
    objects: tuple[Path, ...]
    genuine: dict[tuple[str, str, int], set[Row]]


def _simulate(root: Path, fmt: str) -> None:
    argv = ["simulate", str(root), "--documents", "25", "--revisions", "120", "--format", fmt]
    argv += ["--seed", "11", "--blocks-per-object", "9", "--exports", "2"]
    from consumers.cli import build_parser

    assert simulation_cli.run(build_parser().parse_args(argv)) == 0


def _genuine(root: Path) -> dict[tuple[str, str, int], set[Row]]:
    """Every (deleted, redacted, data JSON) a revision of the journal can show, redacted or not."""
    store = open_store(str(root))
    out: dict[tuple[str, str, int], set[Row]] = {}
    for obj in plan_exports(store).objects:
        for block, _fmt in iter_object_blocks(store, obj):
            for change in block_changes(block).changes:
                data = None if change.data is None else json_codec.dumps(change.data)
                rows = out.setdefault((change.key.table, change.key.doc_id, change.version), set())
                rows.add((change.is_tombstone, change.is_redacted, data))
    return out


DATA_OBJECT = re.compile(r"[^.]+\.\d+-\d+\.(ion|10n|json)")


@pytest.fixture(scope="module", params=list(FORMATS))
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp(f"base-{request.param}") / "export"
    _simulate(root, request.param)
    manifests = sorted(root.rglob("*.completed.manifest"))
    objects = tuple(sorted(p for p in root.rglob("*") if DATA_OBJECT.fullmatch(p.name)))
    return Base(root, FORMATS[request.param], manifests[0], objects, _genuine(root))


# ------------------------------------------------------------------------------ mutations


def _flip(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        out[rnd.randrange(len(out))] ^= rnd.randint(1, 255)
    return bytes(out)


def _truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(len(data))]


def _insert(data: bytes, rnd: random.Random) -> bytes:
    at = rnd.randrange(len(data) + 1)
    junk = rnd.choice([b"\x00", b"\xff" * 3, b"\xe0\x01\x00\xea", b"{", b"\n", b"\xef\xbb\xbf"])
    return data[:at] + junk + data[at:]


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"down": value}
    return value


HOSTILE_TEXT = [
    "",
    "..",
    ".",
    "../x",
    "a/b",
    "x\ny",
    'q"uote',
    "#checkpoint#e#k",
    "é€𝄞",
    "\x00",
    "a" * 300,
]


def _revision_edit(rnd: random.Random) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """An edit of (block, revision) values: overflow, depth, hostile names and values."""
    choice = rnd.randrange(8)

    def edit(block: dict[str, Any], revision: dict[str, Any]) -> None:
        meta = revision.get("metadata")
        if choice == 0 and meta is not None:
            meta["version"] = rnd.choice([2**63, 2**64 + 1, -1, 10**40])
        elif choice == 1:
            revision.setdefault("blockAddress", {})["sequenceNo"] = rnd.choice([2**63, -5])
        elif choice == 2 and "data" in revision:
            revision["data"] = nested(rnd.choice([99, 100, 101, 150, 400]))
        elif choice == 3 and meta is not None:
            old, new = meta["id"], rnd.choice(HOSTILE_TEXT)
            meta["id"] = new
            docs = block.get("transactionInfo", {}).get("documents", {})
            if old in docs:
                docs[new] = docs.pop(old)
        elif choice == 4 and meta is not None:
            docs = block.get("transactionInfo", {}).get("documents", {})
            if meta["id"] in docs:
                docs[meta["id"]]["tableName"] = rnd.choice(HOSTILE_TEXT)
        elif choice == 5 and "data" in revision:
            revision["data"] = {"big": rnd.choice([2**64, -(2**200), 10**5000 // 10**4000])}
        elif choice == 6 and "data" in revision:
            revision["data"] = {rnd.choice(HOSTILE_TEXT) or "k": rnd.choice(HOSTILE_TEXT)}
        else:
            revision.pop(rnd.choice(["hash", "metadata", "blockAddress", "data"]), None)

    return edit


def _structural(path: Path, fmt: ExportFormat, rnd: random.Random) -> None:
    """Decode the object, edit one revision, write it back in the same format."""
    data = path.read_bytes()
    if fmt is ExportFormat.JSON:
        blocks = [json_codec.loads(line) for line in data.splitlines() if line.strip()]
    else:
        blocks = list(simpleion.loads(data, single_value=False))
    candidates = [(b, r) for b in blocks for r in (b.get("revisions") or [])]
    if not candidates:
        return
    block, revision = rnd.choice(candidates)
    _revision_edit(rnd)(block, revision)
    if fmt is ExportFormat.JSON:
        from schemas.ion_values import to_plain

        text = "\n".join(json_codec.dumps(to_plain(b, 10_000)) for b in blocks) + "\n"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    elif fmt is ExportFormat.ION_TEXT:
        parts = [simpleion.dumps(b, binary=False, omit_version_marker=True) for b in blocks]
        path.write_text("\n".join(parts), encoding="utf-8")
    else:
        path.write_bytes(b"".join(simpleion.dumps(b) for b in blocks))


def _manifest(base: Base, root: Path, rnd: random.Random) -> None:
    manifest = root / base.manifest.relative_to(base.root)
    keys = [str(k) for k in simpleion.loads(manifest.read_bytes())["keys"]]
    choice = rnd.randrange(7)
    if choice == 0:
        keys[rnd.randrange(len(keys))] = "../outside/" + keys[0].rsplit("/", 1)[-1]
    elif choice == 1:
        keys = []
    elif choice == 2:
        keys.append(keys[0])
    elif choice == 3:
        keys.reverse()
    elif choice == 4:
        keys[0] = keys[0].replace("/", "/./", 1)
    elif choice == 5:
        keys[0] = "/" + str(root.parent / "outside" / keys[0].rsplit("/", 1)[-1]).lstrip("/")
    else:
        manifest.write_bytes(_flip(manifest.read_bytes(), rnd))
        return
    manifest.write_text(simpleion.dumps({"keys": keys}, binary=False))


MUTATIONS = ["flip", "truncate", "insert", "structural", "manifest"]


def _mutate(base: Base, root: Path, kind: str, rnd: random.Random) -> None:
    if kind == "manifest":
        _manifest(base, root, rnd)
        return
    target = root / rnd.choice(base.objects).relative_to(base.root)
    if kind == "structural":
        _structural(target, base.fmt, rnd)
        return
    mutate = {"flip": _flip, "truncate": _truncate, "insert": _insert}[kind]
    data = target.read_bytes()
    if data:
        target.write_bytes(mutate(data, rnd))


# ------------------------------------------------------------------------------ checks


def _rows(db: Path) -> list[tuple[str, str, int, bool, bool, str | None]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            rows = con.execute(
                "SELECT ledger_table, document_id, version, deleted, redacted, data FROM revisions"
                " UNION ALL SELECT ledger_table, document_id, version, deleted, redacted, data"
                " FROM documents"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
    return [(t, d, v, bool(de), bool(r), j) for t, d, v, de, r, j in rows]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(MUTATIONS), seed=st.integers(0, 2**32 - 1))
def test_mutated_exports_end_in_a_documented_way(base: Base, kind: str, seed: int) -> None:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        root = work / "export"
        shutil.copytree(base.root, root)
        (work / "outside").mkdir()
        shutil.copy(base.objects[0], work / "outside" / base.objects[0].name)  # bait
        _mutate(base, root, kind, rnd)
        out = work / "out"
        out.mkdir()
        db = out / "replay.db"
        verify = [] if base.fmt is ExportFormat.JSON else ["--verify"]
        argv = ["replay", str(root), "--to", f"sqlite:///{db}", "--no-progress", *verify]
        replayed = run_cli(argv, allowed=[root, out])
        if verify:
            for table, doc, version, deleted, redacted, data in _rows(db):
                genuine = base.genuine.get((table, doc, version), set())
                assert (deleted, redacted, data) in genuine, (kind, seed, table, doc, version)
            checked = run_cli(["verify", str(root)], allowed=[root])
            if replayed.code == 0:
                assert checked.code == 0, (kind, seed, checked)
        dead = out / "dead.jsonl"
        argv = ["replay", str(root), "--to", f"sqlite:///{out / 'dl.db'}", "--no-progress"]
        run_cli([*argv, "--dead-letter", str(dead)], allowed=[root, out])
