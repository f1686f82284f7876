"""Where journal exports are read from: a local folder or ``s3://bucket/prefix``.

A local folder is typically ``aws s3 sync s3://bucket/prefix ./folder``. Manifest keys are full
S3 keys (prefix included), so a key is looked up under the folder as is, then with its leading
path components removed one at a time (``exports/2024/abc/obj.ion`` -> ``2024/abc/obj.ion`` ->
``abc/obj.ion`` -> ``obj.ion``), which finds the object whatever prefix the folder was synced from.

Confinement (manifests are untrusted input): nothing outside the source is ever read. A local
key with an empty, ``.`` or ``..`` component or a NUL is refused, and so is a file that resolves
outside the folder through a symbolic link (links inside the folder are followed). An S3 key
must lie under the source prefix. Both are one-line :class:`UserInputError` s (exit 2).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from core.errors import PoisonError, RetryableError, UserInputError
from schemas.journal_export import COMPLETED_MANIFEST, OBJECT_NAME
from schemas.qldb_digest import PROOFS_FILE

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client


class MissingObjectError(UserInputError):
    """A data object that a manifest lists is not at the source."""


class ExportStore(Protocol):
    """Read access to the objects of one or more journal exports."""

    def describe(self) -> str:
        """Human name of the location, for messages."""
        ...

    def manifest_keys(self) -> list[str]:
        """Keys of every ``*.completed.manifest`` at the location, sorted."""
        ...

    def object_keys(self) -> list[str]:
        """Keys of every file named like a data object (``<strand>.<first>-<last>.<ext>``),
        sorted, in the form :meth:`same_object` compares with manifest keys."""
        ...

    def same_object(self, manifest_key: str) -> str | None:
        """The :meth:`object_keys` entry a manifest key refers to, or None when it is missing."""
        ...

    def proof_keys(self) -> list[str]:
        """Keys of every ``*.proofs.json`` (the migration sample's digest and proof), sorted;
        :meth:`read_bytes` reads them."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """Whole content of a (small) object such as a manifest."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A streaming binary reader over a data object; the caller closes it."""
        ...

    def size(self, key: str) -> int | None:
        """Size in bytes when cheaply known (for progress), else None."""
        ...


@dataclass
class LocalExportStore:
    """An export copied to a local folder."""

    root: Path
    _files: dict[str, list[str]] | None = field(default=None, repr=False)

    def describe(self) -> str:
        """The folder path."""
        return str(self.root)

    def _walk(self) -> dict[str, list[str]]:
        """Manifest and data-object paths under the folder (relative, ``/``-separated), once."""
        if self._files is None:
            manifests: list[str] = []
            objects: list[str] = []
            proofs: list[str] = []
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    relative = Path(dirpath, name).relative_to(self.root).as_posix()
                    if COMPLETED_MANIFEST.search(name):
                        manifests.append(relative)
                    elif OBJECT_NAME.search(name):
                        objects.append(relative)
                    elif PROOFS_FILE.search(name):
                        proofs.append(relative)
            self._files = {
                "manifests": sorted(manifests),
                "objects": sorted(objects),
                "proofs": sorted(proofs),
            }
        return self._files

    def manifest_keys(self) -> list[str]:
        """Completed manifests anywhere under the folder."""
        return list(self._walk()["manifests"])

    def object_keys(self) -> list[str]:
        """Data-object files anywhere under the folder, relative to it."""
        return list(self._walk()["objects"])

    def proof_keys(self) -> list[str]:
        """Proofs files anywhere under the folder, relative to it."""
        return list(self._walk()["proofs"])

    def same_object(self, manifest_key: str) -> str | None:
        """The folder-relative path a manifest key resolves to, or None when it is missing."""
        try:
            return self.resolve(manifest_key).relative_to(self.root).as_posix()
        except MissingObjectError:
            return None

    def resolve(self, key: str) -> Path:
        """Map a manifest key to a file under the folder (see the module docstring)."""
        parts = key.split("/")
        if key.startswith("/"):
            parts = parts[1:]  # an S3 key may start with "/"; it is still relative to the folder
        if any(p in ("", ".", "..") or "\0" in p for p in parts):
            msg = (
                f"manifest key {key!r} has an empty, '.' or '..' path component: refusing to "
                f"read outside {self.root}; fix or remove that manifest"
            )
            raise UserInputError(msg)
        for start in range(len(parts)):
            candidate = self.root.joinpath(*parts[start:])
            if candidate.is_file():
                self._confine(key, candidate)
                return candidate
        msg = f"data object {key!r} listed in the manifest is missing from {self.root}"
        raise MissingObjectError(msg)

    def _confine(self, key: str, path: Path) -> None:
        """Refuse a file that a symbolic link takes outside the folder."""
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            msg = (
                f"manifest key {key!r} resolves to {path.resolve()}, outside the export folder "
                f"{root} (through a symbolic link): copy the object into the folder instead"
            )
            raise UserInputError(msg)

    def read_bytes(self, key: str) -> bytes:
        """Read a whole file."""
        return self.resolve(key).read_bytes()

    def open(self, key: str) -> IO[bytes]:
        """Open a file for buffered binary reading (1 MiB buffer, so format detection can peek)."""
        return self.resolve(key).open("rb", buffering=1 << 20)

    def size(self, key: str) -> int | None:
        """File size."""
        return self.resolve(key).stat().st_size


class _StreamingBodyReader(io.RawIOBase):
    """Adapts a botocore StreamingBody to a raw binary stream (for io.BufferedReader)."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        from botocore.exceptions import BotoCoreError  # I/O edge only

        try:
            data: bytes = self._body.read(size)
        except (BotoCoreError, OSError) as exc:
            msg = f"reading from S3 failed mid-object: {exc}"
            raise RetryableError(msg) from exc
        return data

    def close(self) -> None:
        self._body.close()
        super().close()


@dataclass
class S3ExportStore:
    """An export in S3: ``s3://bucket/prefix``."""

    client: S3Client
    bucket: str
    prefix: str
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """The s3:// URI."""
        return f"s3://{self.bucket}/{self.prefix}"

    def manifest_keys(self) -> list[str]:
        """Completed manifests under the prefix (the listing also remembers object sizes)."""
        if not self._sizes:
            for _key in self._list():
                pass
        return sorted(k for k in self._sizes if COMPLETED_MANIFEST.search(k))

    def object_keys(self) -> list[str]:
        """Keys under the prefix named like data objects (from the same listing)."""
        if not self._sizes:
            self.manifest_keys()
        return sorted(k for k in self._sizes if OBJECT_NAME.search(k))

    def proof_keys(self) -> list[str]:
        """Keys under the prefix named like proofs files (from the same listing)."""
        if not self._sizes:
            self.manifest_keys()
        return sorted(k for k in self._sizes if PROOFS_FILE.search(k))

    def same_object(self, manifest_key: str) -> str | None:
        """The key itself when the listing holds it."""
        self._confine(manifest_key)
        return manifest_key if manifest_key in self._sizes else None

    def _confine(self, key: str) -> None:
        if not key.startswith(self.prefix):
            msg = (
                f"manifest key {key!r} is outside the source prefix s3://{self.bucket}/"
                f"{self.prefix}: refusing to read it; give the prefix that holds the export"
            )
            raise UserInputError(msg)

    def _list(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(self.describe()):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    self._sizes[key] = int(item.get("Size", 0))
                    yield key

    def read_bytes(self, key: str) -> bytes:
        """Get a whole object."""
        self._confine(key)
        with _s3_errors(f"s3://{self.bucket}/{key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            data: bytes = body.read()
        return data

    def open(self, key: str) -> IO[bytes]:
        """Stream an object through a 1 MiB buffer."""
        self._confine(key)
        with _s3_errors(f"s3://{self.bucket}/{key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_StreamingBodyReader(body), buffer_size=1 << 20)

    def size(self, key: str) -> int | None:
        """Object size from the listing, or from HEAD for keys the listing did not hold."""
        self._confine(key)
        if key not in self._sizes:
            with _s3_errors(f"s3://{self.bucket}/{key}"):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
            self._sizes[key] = int(head["ContentLength"])
        return self._sizes[key]


class _s3_errors:
    """Raise a botocore failure as the class the one AWS classifier gives it, naming the object.

    The class is :func:`projections.aws_errors.classify_client_error`'s: denied access or missing
    credentials -> :class:`AccessDeniedError`, a missing bucket or object ->
    :class:`MissingResourceError` (both exit 2), throttling, 5xx, timeouts and unknown codes ->
    :class:`RetryableError` (exit 4). A request S3 refuses as it is (poison for a projection) is
    built from the source URI or a manifest key here, so it is a :class:`UserInputError` (exit 2).
    """

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        from botocore.exceptions import BotoCoreError, ClientError  # I/O edge only

        if not isinstance(exc, ClientError | BotoCoreError):
            return
        from projections.aws_errors import classify_client_error  # loads botocore: S3 only

        error = classify_client_error(exc)
        msg = f"cannot read {self.where}: {error}"
        if isinstance(error, PoisonError):
            raise UserInputError(msg) from exc
        raise type(error)(msg) from exc


def open_store(source: str, *, s3_client: S3Client | None = None) -> ExportStore:
    """Build the store for ``source``: ``s3://bucket/prefix`` or a local folder path."""
    if source.startswith("s3://"):
        parts = urlsplit(source)
        if not parts.netloc:
            msg = f"S3 source needs a bucket: {source!r}"
            raise UserInputError(msg)
        if s3_client is None:
            import boto3  # I/O edge only

            s3_client = boto3.client("s3")
        return S3ExportStore(s3_client, parts.netloc, parts.path.lstrip("/"))
    if "://" in source:
        msg = f"unsupported source {source!r}: use a local folder or s3://bucket/prefix"
        raise UserInputError(msg)
    root = Path(source)
    if not root.is_dir():
        msg = f"export folder {source} does not exist"
        raise UserInputError(msg)
    return LocalExportStore(root)
