"""Where a DynamoDB target lives: ``dynamodb://Table[?overflow=s3://bucket/prefix&create=true]``
parsed, no I/O and no boto3.

Every mistake in the URI (shape, unknown option, a table name too long for its checkpoints
table, a bad overflow location) is found here, before any client exists.
:meth:`DynamoDbTarget.open` builds the clients and creates the tables only when ``create`` is
set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from core.errors import ConfigError

if TYPE_CHECKING:
    from projections.dynamodb import DynamoDbProjection

CHECKPOINT_TABLE_SUFFIX = "-checkpoints"
"""The checkpoints table of documents table ``T`` is ``T-checkpoints``."""
MAX_TABLE_NAME = 255
"""DynamoDB's longest table name."""
_TRUE = frozenset({"true", "1", "yes"})


@dataclass(frozen=True, slots=True)
class OverflowLocation:
    """Where big documents go: ``s3://bucket/prefix``."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> OverflowLocation:
        """Parse ``s3://bucket[/prefix]``; raise ConfigError for anything else."""
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            msg = f"overflow location must look like s3://bucket/prefix, got {uri!r}"
            raise ConfigError(msg)
        return cls(bucket=parts.netloc, prefix=parts.path.strip("/"))

    def key_for(self, sha256_hex: str) -> str:
        """Object key of the document whose JSON bytes hash to ``sha256_hex``."""
        name = f"{sha256_hex}.json"
        return f"{self.prefix}/{name}" if self.prefix else name


@dataclass(frozen=True, slots=True)
class DynamoDbTarget:
    """A parsed DynamoDB target (frozen, picklable).

    Attributes:
        uri: the URI as given (for messages).
        table: the documents table.
        overflow: where documents above 400 KB go, ``None`` when they are poison.
        create: create both tables when missing (``?create=true``) when opened.
    """

    uri: str
    table: str
    overflow: OverflowLocation | None = None
    create: bool = False

    def open(self) -> DynamoDbProjection:
        """The projection (see :func:`projections.dynamodb.open_target`).

        Raises:
            ConfigError: botocore rejects the AWS configuration, or with ``create`` there are no
                credentials at all.
            RetryableError: with ``create``, the tables could not be created or checked.
        """
        from projections.dynamodb import open_target

        return open_target(self)


def checkpoint_table_name(table_name: str) -> str:
    """The checkpoints table of documents table ``table_name``: ``<table_name>-checkpoints``."""
    return f"{table_name}{CHECKPOINT_TABLE_SUFFIX}"


def parse(uri: str) -> DynamoDbTarget:
    """Parse ``dynamodb://TableName[?overflow=s3://bucket/prefix&create=true]``.

    Raises:
        ConfigError: a malformed URI, an unknown query parameter, a table name so long that
            ``<name>-checkpoints`` exceeds DynamoDB's 255 characters, or a bad overflow location.
    """
    parts = urlsplit(uri)
    if parts.scheme != "dynamodb" or not parts.netloc or parts.path not in {"", "/"}:
        msg = f"DynamoDB target must look like dynamodb://Table[?overflow=s3://b/p], got {uri!r}"
        raise ConfigError(msg)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"overflow", "create"}
    if unknown:
        msg = f"unknown DynamoDB target option(s) {sorted(unknown)} in {uri!r}"
        raise ConfigError(msg)
    if len(checkpoint_table_name(parts.netloc)) > MAX_TABLE_NAME:
        msg = (
            f"DynamoDB table name in {uri!r} is too long: its checkpoints table "
            f"<name>{CHECKPOINT_TABLE_SUFFIX} must fit in {MAX_TABLE_NAME} characters"
        )
        raise ConfigError(msg)
    overflow = OverflowLocation.parse(query["overflow"][-1]) if "overflow" in query else None
    create = query.get("create", ["false"])[-1].lower() in _TRUE
    return DynamoDbTarget(uri, parts.netloc, overflow, create)
