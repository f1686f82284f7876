"""S3 offload of documents too big for one DynamoDB item (400 KB), content-addressed.

Guarantees:

* :func:`offload` writes the document's JSON (``core.json_codec.dumps``, exact decimals) to
  ``s3://<bucket>/<prefix>/<sha256 hex>.json`` exactly once (``If-None-Match: *``; HTTP 412 means
  the same bytes are already there, which is success). Because the key is the SHA-256 of the
  bytes, an object is never changed after it is written and two documents with equal content
  share one object.
* :func:`fetch` reads the object back and recomputes its SHA-256 and length; any difference
  raises :class:`OffloadedDocumentCorruptError` (a :class:`VerificationError`), never returns
  altered data.
* Objects are never deleted by this module. A big change that later proves stale can leave an
  unreferenced object behind; it is harmless (content-addressed) and can be expired by an S3
  lifecycle rule on the prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from core import json_codec
from core.errors import VerificationError
from projections.aws_errors import ConditionFailedError, checked_call, classify_client_error
from projections.dynamodb_target import OverflowLocation

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class OffloadedDocumentCorruptError(VerificationError):
    """An offloaded document's bytes do not match the SHA-256 or size recorded in its item."""


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """Pointer stored in the DynamoDB item (attribute ``dataRef``) instead of ``data``."""

    bucket: str
    key: str
    sha256: str
    size: int

    def to_attribute(self) -> dict[str, Any]:
        """The DynamoDB ``M`` attribute value: ``{bucket, key, sha256, bytes}``."""
        return {
            "M": {
                "bucket": {"S": self.bucket},
                "key": {"S": self.key},
                "sha256": {"S": self.sha256},
                "bytes": {"N": str(self.size)},
            }
        }

    @classmethod
    def from_attribute(cls, value: dict[str, Any]) -> DocumentRef:
        """Read back :meth:`to_attribute`'s form; raise OffloadedDocumentCorruptError if broken."""
        try:
            fields = value["M"]
            return cls(
                bucket=fields["bucket"]["S"],
                key=fields["key"]["S"],
                sha256=fields["sha256"]["S"],
                size=int(fields["bytes"]["N"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"malformed dataRef attribute: {value!r}"
            raise OffloadedDocumentCorruptError(msg) from exc


def encode(data: dict[str, Any]) -> bytes:
    """The exact bytes :func:`offload` stores for ``data``."""
    return json_codec.dumps(data).encode("utf-8")


def offload(s3_client: S3Client, location: OverflowLocation, body: bytes) -> DocumentRef:
    """Store ``body`` (see :func:`encode`) content-addressed; idempotent.

    Raises:
        RetryableError / PoisonError: classified S3 failures (``projections.aws_errors``).
    """
    digest = hashlib.sha256(body).hexdigest()
    key = location.key_for(digest)
    # HTTP 412: the same content-addressed bytes are already stored, which is success.
    with contextlib.suppress(ConditionFailedError):
        checked_call(
            s3_client.put_object,
            Bucket=location.bucket,
            Key=key,
            Body=body,
            IfNoneMatch="*",
            ContentType="application/json",
            Metadata={"sha256": digest},
        )
    return DocumentRef(bucket=location.bucket, key=key, sha256=digest, size=len(body))


def fetch(s3_client: S3Client, ref: DocumentRef) -> dict[str, Any]:
    """Read an offloaded document and verify its SHA-256 and size before returning it.

    Raises:
        OffloadedDocumentCorruptError: the bytes in S3 are not the bytes that were offloaded.
        RetryableError / PoisonError: classified S3 failures.
    """
    response = checked_call(s3_client.get_object, Bucket=ref.bucket, Key=ref.key)
    try:
        body: bytes = response["Body"].read()
    except BotoCoreError as exc:
        raise classify_client_error(exc) from exc
    digest = hashlib.sha256(body).hexdigest()
    if digest != ref.sha256 or len(body) != ref.size:
        msg = (
            f"s3://{ref.bucket}/{ref.key}: expected sha256 {ref.sha256} ({ref.size} bytes), "
            f"found {digest} ({len(body)} bytes); the offloaded document was altered"
        )
        raise OffloadedDocumentCorruptError(msg)
    data = json_codec.loads(body)
    if not isinstance(data, dict):
        msg = f"s3://{ref.bucket}/{ref.key} does not hold a JSON object"
        raise OffloadedDocumentCorruptError(msg)
    return data


__all__ = [
    "DocumentRef",
    "OffloadedDocumentCorruptError",
    "OverflowLocation",
    "encode",
    "fetch",
    "offload",
]
