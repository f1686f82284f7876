"""Write a synthetic ledger as a QLDB ``ExportJournalToS3`` folder (the folder is the bucket).

Layout, per export (qldb-formats.md §3.2), with keys relative to ``out_dir``:

* data objects ``<prefix><exportId>/<strandId>.<firstSeq>-<lastSeq>.<ext>`` holding the blocks
  of that inclusive range, one top-level value per block: ``.10n`` = one Ion binary stream
  (each block dumped on its own, so each starts with an Ion version marker), ``.ion`` = Ion text
  with one block per line, ``.json`` = JSON Lines with the Ion -> JSON down-conversion (blobs as
  base64, timestamps as Ion text strings, decimals as JSON numbers with exact digits, symbols as
  strings);
* ``<prefix><exportId>.started.manifest``: ``{ledgerName, exportId, inclusiveStartTime,
  exclusiveEndTime, bucket, prefix, objectEncryptionType, outputFormat}``;
* ``<prefix><exportId>.<strandId>.completed.manifest``: ``{keys: [...]}``, the ordered data-object
  keys, written last.

Manifests use the export's format (Ion text, Ion binary or JSON). With ``split_exports = N`` the
ledger is cut into exactly N exports with contiguous, non-overlapping, non-empty block ranges
(balanced by user revisions, about ``revisions / N`` each; see :mod:`simulation.export_split`),
each with its own export id and manifests; a reader joins them in block order.

Guarantees:
    * Exactly ``split_exports`` exports, or :class:`ConfigError` before anything is written
      when the ledger has fewer blocks than that (the cut points come from a first pass over
      the plan, which computes no hash).
    * Streaming: the writer holds one block at a time (the ledger generator's own state is
      O(documents)); a data object is written to ``<key>.partial`` and renamed to its final key
      once its last block is written, so a completed manifest only ever names complete objects.
    * Manifests are written after the data objects of their export: started manifest, then
      completed manifest (last).
    * Deterministic: the same arguments write byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from amazon.ion import simpleion

from core import json_codec
from core.errors import ConfigError
from schemas.ion_values import to_plain
from schemas.journal_export import ExportFormat
from simulation import timestamps
from simulation.config import SimulationConfig
from simulation.export_split import export_ends, revisions_per_block
from simulation.ledger import Block, LedgerSimulation, SimulationTotals
from simulation.planner import new_id

_EXTENSIONS = {
    ExportFormat.ION_BINARY: "10n",
    ExportFormat.ION_TEXT: "ion",
    ExportFormat.JSON: "json",
}


def extension(fmt: ExportFormat) -> str:
    """File extension of data objects in ``fmt``: ``10n``, ``ion`` or ``json``."""
    return _EXTENSIONS[fmt]


def manifest_name(fmt: ExportFormat) -> str:
    """Started-manifest ``outputFormat`` value: ``ION_BINARY``, ``ION_TEXT`` or ``JSON``."""
    return fmt.name


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """One written export.

    Attributes:
        export_id: 22-character Base62 export id.
        started_manifest: Key of the started manifest.
        completed_manifest: Key of the completed manifest.
        keys: Data-object keys, in order (as listed in the completed manifest).
        first_sequence_no: First block in the export.
        last_sequence_no: Last block in the export.
        blocks: Number of blocks in the export.
    """

    export_id: str
    started_manifest: str
    completed_manifest: str
    keys: tuple[str, ...]
    first_sequence_no: int
    last_sequence_no: int
    blocks: int


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """Everything :func:`write_export` wrote, keys relative to ``root``.

    Attributes:
        root: The folder standing for the bucket.
        fmt: Output format.
        ledger_name: Ledger name in the manifests.
        strand_id: The journal strand.
        exports: The exports, in block order.
        totals: Counts of the generated ledger.
    """

    root: Path
    fmt: ExportFormat
    ledger_name: str
    strand_id: str
    exports: tuple[ExportInfo, ...]
    totals: SimulationTotals

    @property
    def completed_manifests(self) -> tuple[str, ...]:
        """Keys of every completed manifest, in block order."""
        return tuple(export.completed_manifest for export in self.exports)


@dataclass(slots=True)
class _OpenExport:
    export_id: str
    first_seq: int
    first_ms: int
    keys: list[str] = field(default_factory=list)
    blocks: int = 0
    last_seq: int = -1
    last_ms: int = 0


class _ObjectWriter:
    """Writes one data object to ``<final key>.partial``; renamed when closed."""

    def __init__(self, root: Path, directory: str, strand_id: str, fmt: ExportFormat) -> None:
        self._root = root
        self._directory = directory
        self._strand_id = strand_id
        self._fmt = fmt
        self._partial = root / f"{directory}{strand_id}.open.partial"
        self._partial.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[bytes] = self._partial.open("wb")
        self.first_seq = -1
        self.last_seq = -1
        self.count = 0
        if fmt is ExportFormat.ION_TEXT:
            self._handle.write(b"$ion_1_0\n")

    def write(self, block: Block) -> None:
        seq = int(block["blockAddress"]["sequenceNo"])
        if self.count == 0:
            self.first_seq = seq
        self.last_seq = seq
        self.count += 1
        self._handle.write(encode_block(block, self._fmt))

    def close(self) -> str:
        """Close and rename; return the object's key."""
        self._handle.close()
        key = (
            f"{self._directory}{self._strand_id}.{self.first_seq}-{self.last_seq}"
            f".{extension(self._fmt)}"
        )
        self._partial.replace(self._root / key)
        return key


def encode_block(block: Block, fmt: ExportFormat) -> bytes:
    """Bytes of one block as a data object holds it (a complete line for the text formats)."""
    if fmt is ExportFormat.ION_BINARY:
        data: bytes = simpleion.dumps(block, binary=True)
        return data
    if fmt is ExportFormat.ION_TEXT:
        text: str = simpleion.dumps(block, binary=False, omit_version_marker=True)
        return text.encode("utf-8") + b"\n"
    return json_codec.dumps(to_plain(block)).encode("utf-8") + b"\n"


def encode_manifest(value: dict[str, Any], fmt: ExportFormat) -> bytes:
    """A manifest struct in the export's format."""
    if fmt is ExportFormat.ION_BINARY:
        data: bytes = simpleion.dumps(value, binary=True)
        return data
    if fmt is ExportFormat.ION_TEXT:
        text: str = simpleion.dumps(value, binary=False)
        return text.encode("utf-8") + b"\n"
    return json_codec.dumps(to_plain(value)).encode("utf-8") + b"\n"


def _export_ids(config: SimulationConfig, count: int, export_id: str | None) -> list[str]:
    if export_id is not None:
        if count != 1:
            msg = "export_id can only be given for a single export (split_exports=1)"
            raise ConfigError(msg)
        if not export_id.isalnum():
            msg = f"export id {export_id!r} must be alphanumeric"
            raise ConfigError(msg)
        return [export_id]
    rng = random.Random(f"qldb-cdc-simulation-exports:{config.seed}")
    return [new_id(rng) for _ in range(count)]


def write_export(
    out_dir: Path,
    config: SimulationConfig,
    fmt: ExportFormat | str,
    *,
    blocks_per_object: int = 1000,
    export_id: str | None = None,
    prefix: str = "",
    split_exports: int = 1,
    bucket: str = "simulated-bucket",
    on_block: Callable[[int], None] | None = None,
    on_written: Callable[[Block], None] | None = None,
) -> ExportLayout:
    """Generate the ledger ``config`` describes and write it as QLDB export(s) under ``out_dir``.

    Args:
        out_dir: Folder standing for the bucket root (created if missing).
        config: What to simulate.
        fmt: ``ion_binary``, ``ion_text`` or ``json`` (or an :class:`ExportFormat`).
        blocks_per_object: Maximum blocks per data object.
        export_id: Export id of a single export (default: derived from the seed).
        prefix: S3 prefix prepended to every key (e.g. ``"exports/"``).
        split_exports: Number of contiguous exports to cut the ledger into (exactly that
            many are written).
        bucket: Bucket name written into the started manifests.
        on_block: Called with the number of blocks written so far after each block.
        on_written: Called with each block after it is written, in journal order.

    Returns:
        The layout written (keys relative to ``out_dir``) and the ledger totals.

    Raises:
        ConfigError: For an unknown format or invalid numbers, including a ``split_exports``
            larger than the number of blocks (raised before anything is written).
        OSError: When a file cannot be written.
    """
    output = _parse_format(fmt)
    if blocks_per_object < 1:
        msg = f"blocks_per_object must be >= 1, got {blocks_per_object}"
        raise ConfigError(msg)
    if not 1 <= split_exports <= config.revisions:
        msg = f"split_exports must be between 1 and revisions ({config.revisions})"
        raise ConfigError(msg)
    if prefix.startswith("/") or ".." in Path(prefix).parts:
        msg = f"prefix {prefix!r} must be a relative key prefix"
        raise ConfigError(msg)
    ids = _export_ids(config, split_exports, export_id)
    ends = export_ends(revisions_per_block(config), config.revisions, split_exports)
    out_dir.mkdir(parents=True, exist_ok=True)
    simulation = LedgerSimulation(config)
    exports: list[ExportInfo] = []
    current: _OpenExport | None = None
    writer: _ObjectWriter | None = None
    for written, block in enumerate(simulation, start=1):
        seq = int(block["blockAddress"]["sequenceNo"])
        time_ms = _block_ms(block)
        if current is None:
            current = _OpenExport(export_id=ids[len(exports)], first_seq=seq, first_ms=time_ms)
        if writer is None:
            writer = _ObjectWriter(
                out_dir, f"{prefix}{current.export_id}/", simulation.strand_id, output
            )
        writer.write(block)
        if on_written is not None:
            on_written(block)
        current.blocks += 1
        current.last_seq = seq
        current.last_ms = time_ms
        if on_block is not None:
            on_block(written)
        export_ends_here = len(exports) < len(ends) and seq == ends[len(exports)]
        if writer.count >= blocks_per_object or export_ends_here:
            current.keys.append(writer.close())
            writer = None
        if export_ends_here:
            exports.append(
                _finish_export(
                    out_dir, output, current, prefix=prefix, bucket=bucket, simulation=simulation
                )
            )
            current = None
    if len(exports) != split_exports:  # pragma: no cover - the plan and the ledger agree
        msg = f"wrote {len(exports)} exports instead of {split_exports} (internal invariant broken)"
        raise RuntimeError(msg)
    return ExportLayout(
        root=out_dir,
        fmt=output,
        ledger_name=config.ledger_name,
        strand_id=simulation.strand_id,
        exports=tuple(exports),
        totals=simulation.totals,
    )


def _finish_export(
    out_dir: Path,
    fmt: ExportFormat,
    export: _OpenExport,
    *,
    prefix: str,
    bucket: str,
    simulation: LedgerSimulation,
) -> ExportInfo:
    """Write the started manifest, then the completed manifest (last)."""
    started_key = f"{prefix}{export.export_id}.started.manifest"
    completed_key = f"{prefix}{export.export_id}.{simulation.strand_id}.completed.manifest"
    started = {
        "ledgerName": simulation.ledger_name,
        "exportId": export.export_id,
        "inclusiveStartTime": timestamps.millis(export.first_ms),
        "exclusiveEndTime": timestamps.millis(export.last_ms + 1),
        "bucket": bucket,
        "prefix": prefix,
        "objectEncryptionType": "SSE_S3",
        "outputFormat": manifest_name(fmt),
    }
    _write_file(out_dir / started_key, encode_manifest(started, fmt))
    _write_file(out_dir / completed_key, encode_manifest({"keys": list(export.keys)}, fmt))
    return ExportInfo(
        export_id=export.export_id,
        started_manifest=started_key,
        completed_manifest=completed_key,
        keys=tuple(export.keys),
        first_sequence_no=export.first_seq,
        last_sequence_no=export.last_seq,
        blocks=export.blocks,
    )


def _write_file(path: Path, data: bytes) -> None:
    """Write atomically: a ``.partial`` sibling renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def _block_ms(block: Block) -> int:
    stamp = block["blockTimestamp"]
    delta = stamp - timestamps.millis(0)
    return int(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


def _parse_format(fmt: ExportFormat | str) -> ExportFormat:
    if isinstance(fmt, ExportFormat):
        return fmt
    try:
        return ExportFormat(fmt.lower())
    except ValueError:
        msg = f"unknown export format {fmt!r}; use ion_binary, ion_text or json"
        raise ConfigError(msg) from None
