"""Where an S3 target lives: ``s3://bucket[/prefix]`` parsed, no I/O and no boto3.

The prefix is checked here (:func:`projections.s3_keys.invalid_prefix_reason`), so a bad one
fails before any client exists; :meth:`S3Target.open` builds the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from core.errors import ConfigError
from projections import s3_keys

if TYPE_CHECKING:
    from projections.s3 import S3Projection


@dataclass(frozen=True, slots=True)
class S3Target:
    """A parsed S3 target (frozen, picklable).

    Attributes:
        uri: the URI as given (for messages).
        bucket: the bucket.
        prefix: the key prefix without leading or trailing slashes (may be empty).
    """

    uri: str
    bucket: str
    prefix: str

    def open(self) -> S3Projection:
        """The projection with a default boto3 client (see :func:`projections.s3.open_target`).

        Raises:
            ConfigError: botocore rejects the AWS configuration.
        """
        from projections.s3 import open_target

        return open_target(self)


def parse(uri: str) -> S3Target:
    """Parse ``s3://bucket[/prefix]``.

    Raises:
        ConfigError: a malformed URI, a query string, or a prefix with an empty, ``.`` or
            ``..`` segment (or too long).
    """
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or parts.query:
        msg = f"S3 target must look like s3://bucket/prefix, got {uri!r}"
        raise ConfigError(msg)
    prefix = parts.path.strip("/")
    reason = s3_keys.invalid_prefix_reason(prefix)
    if reason is not None:
        msg = f"S3 target {uri!r}: {reason}"
        raise ConfigError(msg)
    return S3Target(uri, parts.netloc, prefix)
