"""Columnar snapshots: each ledger table of a SQL projection written as typed Parquet
(``qldb-cdc snapshot``, README "Parquet snapshots").

Layout of a snapshot folder::

    <dest>/_manifest.json                     what was written (tables, files, rows, columns)
    <dest>/<table segment>/current.parquet    live documents, one row each
    <dest>/<table segment>/history.parquet    every revision (with --history)

``<table segment>`` is the S3 projection's encoding of the table name (``projections/s3_keys``):
the plain name for QLDB names, percent-encoded otherwise. Columns: ``document_id``, ``version``,
``tx_time`` (``timestamp[us, UTC]``), then one per top-level field; history adds ``tx_id``,
``deleted``, ``redacted``. Names and logical types are the typed views' (``view_plan``; compared
case-insensitively, since most Parquet readers do), each logical type written as its Arrow type:
``text`` string, ``bigint`` int64, ``numeric`` the exact ``decimal128(p, s)`` of the recorded
shape (the exact digits as a string when it needs more than 38 digits or has no shape),
``double`` float64, ``boolean`` bool, ``timestamptz`` ``timestamp[us, UTC]``, ``date`` date32,
``bytes`` binary, ``json`` the JSON text. A value that does not have its column's type (only
possible with a mapped type) is written as null and counted.

Atomic and re-runnable: the snapshot is written into a fresh hidden folder beside ``dest``,
then moved into place with ``rename`` (a previous snapshot there is renamed away first and
deleted after): a reader finds the old snapshot, briefly none, or the new one whole, never a
part. An interrupted run leaves only its hidden folder, which the next run deletes. A ``dest``
that exists and is not a snapshot is never replaced.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import json_codec
from core.column_types import ColumnType
from core.errors import DecodeError, UserInputError
from core.ion_kinds import IonKind
from core.tx_time import parse_tx_time
from projections import s3_keys
from projections.base import SnapshotSource, StoredRow
from projections.recorded_kinds import NumericShape, kinds_of, numeric_shapes, with_int_digits
from projections.view_plan import Naming, ViewColumn, plan_views
from schemas.view_mapping import ViewMapping

if TYPE_CHECKING:
    import pyarrow as pa

_Converter = Callable[[Any], Any]
MANIFEST = "_manifest.json"
MANIFEST_FORMAT = "qldb-cdc snapshot 1"
BATCH_ROWS = 10_000
"""Rows per Arrow record batch (and Parquet row group at most)."""
_HIDDEN = ".qldb-cdc-snapshot-"


@dataclass
class TableFiles:
    """What was written for one ledger table."""

    ledger_table: str
    folder: str
    rows: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    unconverted: int = 0


@dataclass
class SnapshotResult:
    """The outcome of one snapshot."""

    dest: Path
    tables: list[TableFiles] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        """The summary for the command's output."""
        rows = sum(n for t in self.tables for n in t.rows.values())
        size = sum(n for t in self.tables for n in t.bytes.values())
        rate = rows / self.elapsed_s if self.elapsed_s > 0 else 0.0
        out = [
            f"snapshot: {len(self.tables)} ledger tables, {rows:,} rows, {size:,} bytes of Parquet"
            f" in {self.dest} ({self.elapsed_s:.1f}s, {rate:,.0f} rows/s)"
        ]
        unconverted = sum(t.unconverted for t in self.tables)
        if unconverted:
            out.append(
                f"snapshot: {unconverted} values did not have their column's (mapped) type: null"
            )
        return out


def import_pyarrow() -> Any:
    """``pyarrow`` and ``pyarrow.parquet``, or a one-line UserInputError saying how to get them."""
    try:
        import pyarrow as pa_module
        import pyarrow.parquet as pq_module
    except ImportError:
        msg = "snapshot needs pyarrow: pip install 'qldb-cdc[parquet]' (or pip install pyarrow)"
        raise UserInputError(msg) from None
    return pa_module, pq_module


def write_snapshot(
    source: SnapshotSource,
    dest: Path,
    mapping: ViewMapping,
    *,
    history: bool = False,
    leave_out: frozenset[str] = frozenset(),
    on_table: Callable[[TableFiles], None] | None = None,
) -> SnapshotResult:
    """Write the snapshot of ``source`` to ``dest`` atomically (see the module docstring).

    Raises:
        UserInputError: ``dest`` exists and is not a snapshot, its folder does not exist, or
            pyarrow is missing.
        RetryableError: the source could not be read.
    """
    pa, pq = import_pyarrow()
    started = time.monotonic()
    dest = dest.absolute()
    if not dest.parent.is_dir():
        msg = f"--to {dest}: its folder {dest.parent} does not exist"
        raise UserInputError(msg)
    _recover(dest)
    _check_destination(dest)
    staging = dest.parent / f"{_HIDDEN}{dest.name}.{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    result = SnapshotResult(dest)
    try:
        with source.consistent_read():
            _write_tables(pa, pq, source, staging, mapping, history, leave_out, on_table, result)
        _write_manifest(staging, result, history)
        _swap_into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.elapsed_s = time.monotonic() - started
    return result


def _write_tables(  # noqa: PLR0917 - the one body of write_snapshot
    pa: Any,
    pq: Any,
    source: SnapshotSource,
    staging: Path,
    mapping: ViewMapping,
    history: bool,
    leave_out: frozenset[str],
    on_table: Callable[[TableFiles], None] | None,
    result: SnapshotResult,
) -> None:
    """Every table's files into ``staging`` (inside the source's one consistent read)."""
    records = source.field_records()
    kinds = kinds_of(records)
    shapes = numeric_shapes(records)
    plan = plan_views(
        source.stored_tables(),
        kinds,
        mapping,
        Naming("Parquet", fold_ascii_case=True),
        leave_out=leave_out,
    )
    result.warnings.extend(plan.warnings)
    used: set[str] = set()
    for view in plan.views:
        folder = _folder(s3_keys.table_segment(view.ledger_table), used)
        files = TableFiles(view.ledger_table, folder)
        (staging / folder).mkdir()
        table_shapes = shapes.get(view.ledger_table, {})
        for kind in ("current", "history") if history else ("current",):
            path = staging / folder / f"{kind}.parquet"
            rows = source.iter_rows(view.ledger_table, history=kind == "history")
            table_file = _TableFile(pa, view.columns, table_shapes, kind)
            files.rows[kind] = table_file.write(pq, path, rows)
            files.unconverted += table_file.unconverted
            files.bytes[kind] = path.stat().st_size
        result.tables.append(files)
        if on_table is not None:
            on_table(files)


def _folder(segment: str, used: set[str]) -> str:
    """``segment``, or ``segment~2``, ``~3``... when a folder of another table differs from it
    only in case (``Person`` and ``person`` would be one folder on macOS or Windows)."""
    folder, number = segment, 1
    while folder.casefold() in used:
        number += 1
        folder = f"{segment}~{number}"
    used.add(folder.casefold())
    return folder


def is_snapshot(folder: Path) -> bool:
    """Whether ``folder`` is a snapshot this tool wrote (a real folder whose manifest says so)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT


def _check_destination(dest: Path) -> None:
    """``dest`` (whose folder exists) may take a snapshot."""
    if dest.is_symlink():
        msg = f"--to {dest}: is a symbolic link; give the folder it points to"
        raise UserInputError(msg)
    if dest.exists() and not is_snapshot(dest):
        msg = f"--to {dest}: exists and is not a qldb-cdc snapshot; choose a new folder"
        raise UserInputError(msg)


_STAGING = re.compile(r"\.[0-9a-f]{12}")
_OLD = re.compile(r"\.old-[0-9a-f]{12}")


def _recover(dest: Path) -> None:
    """Tidy what an interrupted run of this ``dest`` left: its staging folders (exactly
    ``<hidden><name>.<12 hex>``, never another destination's), and a previous snapshot moved
    aside (``.old-<hex>``): put back if ``dest`` is missing (the run stopped between the two
    renames), else deleted."""
    stem = f"{_HIDDEN}{dest.name}"
    for entry in dest.parent.iterdir():
        if not entry.name.startswith(stem) or entry.is_symlink() or not entry.is_dir():
            continue
        rest = entry.name[len(stem) :]
        if _STAGING.fullmatch(rest):
            shutil.rmtree(entry, ignore_errors=True)
        elif _OLD.fullmatch(rest) and is_snapshot(entry):
            if dest.exists():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.rename(dest)


def _swap_into_place(staging: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.parent / f"{_HIDDEN}{dest.name}.old-{uuid.uuid4().hex[:12]}"
        dest.rename(old)
    staging.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_manifest(staging: Path, result: SnapshotResult, history: bool) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "history": history,
        "tables": [
            {
                "ledgerTable": t.ledger_table,
                "folder": t.folder,
                "rows": t.rows,
                "bytes": t.bytes,
            }
            for t in result.tables
        ],
    }
    path = staging / MANIFEST
    with path.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=True, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def _arrow_type(pa: Any, column: ViewColumn, shape: NumericShape | None) -> pa.DataType:
    if column.type is ColumnType.NUMERIC:
        return pa.decimal128(shape.precision, shape.scale) if shape is not None else pa.string()
    return {
        ColumnType.TEXT: pa.string(),
        ColumnType.BIGINT: pa.int64(),
        ColumnType.DOUBLE: pa.float64(),
        ColumnType.BOOLEAN: pa.bool_(),
        ColumnType.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
        ColumnType.DATE: pa.date32(),
        ColumnType.BYTES: pa.binary(),
        ColumnType.JSON: pa.string(),
    }[column.type]


class _TableFile:
    """One Parquet file of one ledger table: its schema, how each column is read, its writer.

    A field column is read one of three ways: **as is** (the recorded kinds guarantee the
    decoded values' Python type: Arrow reads them from the decoded dicts in one call),
    **cast** (timestamps and dates: read as strings the same way, then cast by Arrow; a batch
    Arrow cannot parse, such as more than 6 fraction digits, goes the third way), or
    **converted** in Python (everything else, and every column whose type the mapping chose).
    """

    def __init__(
        self,
        pa: Any,
        columns: tuple[ViewColumn, ...],
        shapes: Mapping[str, NumericShape],
        kind: str,
    ) -> None:
        self._pa = pa
        self._history = kind == "history"
        self._columns = columns
        exact: dict[str, NumericShape | None] = {}
        for column in columns:
            shape = with_int_digits(shapes.get(column.field), column.kinds)
            exact[column.field] = shape if shape is not None and shape.exact else None
        fields = [
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("version", pa.int64(), nullable=False),
        ]
        if self._history:
            fields.append(pa.field("tx_id", pa.string(), nullable=False))
        fields.append(pa.field("tx_time", pa.timestamp("us", tz="UTC")))
        if self._history:
            fields += [
                pa.field("deleted", pa.bool_(), nullable=False),
                pa.field("redacted", pa.bool_(), nullable=False),
            ]
        self._types = [_arrow_type(pa, c, exact[c.field]) for c in columns]
        fields += [pa.field(c.name, t) for c, t in zip(columns, self._types, strict=True)]
        self.schema = pa.schema(fields)
        self._converters = [_converter(c, exact[c.field]) for c in columns]
        self._cast = [_castable(c) for c in columns]
        read: list[Any] = []
        for column, arrow_type, convert, cast in zip(
            columns, self._types, self._converters, self._cast, strict=True
        ):
            if convert is None:
                read.append(pa.field(column.field, arrow_type))
            elif cast:
                read.append(pa.field(column.field, pa.string()))
        self._read = pa.struct(read)
        self.unconverted = 0

    def write(self, pq: Any, path: Path, rows: Iterator[StoredRow]) -> int:
        """Write every row (record batches of :data:`BATCH_ROWS`); return how many."""
        count = 0
        with pq.ParquetWriter(path, self.schema, compression="zstd") as writer:
            batch: list[StoredRow] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    writer.write_batch(self._batch(batch))
                    count += len(batch)
                    batch = []
            if batch or count == 0:
                writer.write_batch(self._batch(batch))
                count += len(batch)
        return count

    def _batch(self, rows: list[StoredRow]) -> Any:
        """One record batch of ``rows`` (see the class docstring)."""
        pa = self._pa
        utc = pa.timestamp("us", tz="UTC")
        arrays: list[Any] = [[r.document_id for r in rows], [r.version for r in rows]]
        if self._history:
            arrays.append([r.tx_id for r in rows])
        arrays.append(self._cast_or(pa.array([r.tx_time for r in rows]), utc, parse_tx_time))
        if self._history:
            arrays += [[r.deleted for r in rows], [r.redacted for r in rows]]
        loads = json_codec.loads
        datas = [loads(r.data) if r.data is not None else _EMPTY for r in rows]
        read = pa.array(datas, type=self._read) if self._read.num_fields else None
        for column, arrow_type, convert, cast in zip(
            self._columns, self._types, self._converters, self._cast, strict=True
        ):
            name = column.field
            if read is not None and (convert is None or cast):
                values = read.field(self._read.get_field_index(name))
                arrays.append(
                    values if convert is None else self._cast_or(values, arrow_type, convert)
                )
                continue
            arrays.append(self._converted([d.get(name) for d in datas], convert))
        try:
            return pa.record_batch(
                [
                    v if isinstance(v, pa.Array) else pa.array(v, type=self.schema.field(i).type)
                    for i, v in enumerate(arrays)
                ],
                schema=self.schema,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # Only a projection whose values disagree with its own field-type record gets here
            # (edited by hand, or written by another tool): say so, in one line.
            msg = (
                f"a stored value does not fit the field types the projection recorded ({exc}); "
                "the projection's ledger_field_types does not describe its documents"
            )
            raise DecodeError(" ".join(msg.split())) from exc

    def _cast_or(self, strings: Any, arrow_type: Any, convert: _Converter | None) -> Any:
        """``strings`` cast by Arrow, or each converted in Python when Arrow cannot."""
        try:
            return strings.cast(arrow_type)
        except self._pa.ArrowInvalid:
            return self._converted(strings.to_pylist(), convert)

    def _converted(self, raw: list[Any], convert: _Converter | None) -> list[Any]:
        if convert is None:
            return raw
        values = [None if v is None else convert(v) for v in raw]
        if _UNCONVERTED in values:
            self.unconverted += values.count(_UNCONVERTED)
            values = [None if v is _UNCONVERTED else v for v in values]
        return values


def _castable(column: ViewColumn) -> bool:
    """Timestamps and dates Arrow can cast from their strings (kinds, not a mapping, chose)."""
    seen = column.kinds - {IonKind.NULL}
    if column.mapped or not seen:
        return False
    if column.type is ColumnType.TIMESTAMPTZ:
        return seen <= {IonKind.TIMESTAMP}
    return column.type is ColumnType.DATE and seen <= {IonKind.DATE}


_EMPTY: dict[str, Any] = {}
_UNCONVERTED = object()


_AS_IS = {
    ColumnType.TEXT: frozenset({IonKind.STRING, IonKind.SYMBOL, IonKind.TIMESTAMP_COARSE}),
    ColumnType.BIGINT: frozenset({IonKind.INT}),
    ColumnType.BOOLEAN: frozenset({IonKind.BOOL}),
    ColumnType.NUMERIC: frozenset({IonKind.INT, IonKind.INT_BIG, IonKind.DECIMAL}),
}
"""Column types whose values Arrow takes as decoded, when every recorded kind is one of these
(and, for ``numeric``, the column has an exact shape)."""


def _converter(column: ViewColumn, shape: NumericShape | None) -> _Converter | None:
    """How a decoded value becomes the column's Arrow value; ``None``: as it is."""
    kind = column.type
    as_is = _AS_IS.get(kind)
    seen = column.kinds - {IonKind.NULL}
    if (
        as_is is not None
        and seen
        and not column.mapped
        and seen <= as_is
        and (kind is not ColumnType.NUMERIC or shape is not None)
    ):
        return None
    if kind is ColumnType.TEXT:
        return lambda v: v if isinstance(v, str) else json_codec.dumps(v)
    if kind is ColumnType.JSON:
        return json_codec.dumps
    if kind is ColumnType.BIGINT:
        return lambda v: (
            v
            if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
            else _UNCONVERTED
        )
    if kind is ColumnType.NUMERIC:
        if shape is None:
            return lambda v: (
                str(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else _UNCONVERTED
            )
        return lambda v: (
            v if isinstance(v, int | Decimal) and not isinstance(v, bool) else _UNCONVERTED
        )
    if kind is ColumnType.DOUBLE:
        return _to_double
    if kind is ColumnType.BOOLEAN:
        return lambda v: v if isinstance(v, bool) else _UNCONVERTED
    if kind is ColumnType.TIMESTAMPTZ:
        return lambda v: (parse_tx_time(v) if isinstance(v, str) else None) or _UNCONVERTED
    if kind is ColumnType.DATE:
        return _to_date
    return _to_bytes


_NON_FINITE = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf}


def _to_double(value: Any) -> Any:
    if isinstance(value, bool):
        return _UNCONVERTED
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) or isinstance(value, float) else _UNCONVERTED
    return _NON_FINITE.get(value, _UNCONVERTED) if isinstance(value, str) else _UNCONVERTED


def _to_date(value: Any) -> Any:
    if not isinstance(value, str) or len(value) < 10:
        return _UNCONVERTED
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return _UNCONVERTED


def _to_bytes(value: Any) -> Any:
    if not isinstance(value, str):
        return _UNCONVERTED
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return _UNCONVERTED
