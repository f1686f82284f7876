"""Test helpers: read a written export back and replay it naively (independent of the generator)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from amazon.ion import simpleion

from core import json_codec
from schemas.ion_values import to_plain


def plain(value: Any) -> Any:
    """``to_plain`` that also walks IonPyDict structs (any Mapping)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return to_plain(value)


def load_manifest(path: Path) -> Any:
    """A manifest decoded with amazon.ion (JSON is valid Ion text)."""
    return simpleion.loads(path.read_bytes())


def read_object(path: Path) -> list[Any]:
    """Every top-level value of one data object, by extension."""
    if path.suffix == ".json":
        return [json_codec.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    with path.open("rb") as handle:
        return list(simpleion.load(handle, single_value=False))


def read_export_blocks(root: Path, completed_manifests: list[str]) -> Iterator[Any]:
    """Blocks of several exports in manifest order."""
    for manifest in completed_manifests:
        for key in load_manifest(root / manifest)["keys"]:
            yield from read_object(root / key)


def hash_bytes(value: Any) -> bytes:
    """A hash as bytes whether it was read from Ion (blob) or JSON (base64 string)."""
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    return bytes(value)


def naive_replay(blocks: Iterator[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Apply every user revision in journal order into a dict keyed by (table, doc id).

    Asserts that versions grow by exactly one per document, the property replays rely on.
    """
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for block in blocks:
        documents = block.get("transactionInfo", {}).get("documents") or {}
        for revision in block.get("revisions") or []:
            metadata = revision.get("metadata")
            if metadata is None:
                continue
            doc_id = str(metadata["id"])
            key = (str(documents[doc_id]["tableName"]), doc_id)
            version = int(metadata["version"])
            previous = state.get(key)
            expected_version = 0 if previous is None else previous["version"] + 1
            assert version == expected_version, (key, version, expected_version)
            data = revision.get("data")
            state[key] = {
                "version": version,
                "deleted": data is None and revision.get("dataHash") is None,
                "redacted": data is None and revision.get("dataHash") is not None,
                "data": None if data is None else plain(data),
            }
    return state
