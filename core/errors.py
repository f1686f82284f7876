"""The failure classes every layer raises, kept in the lowest layer so all packages share them.

Classification is the contract, not the message:

* :class:`PoisonError`: the input itself is bad (undecodable bytes, a record that breaks the QLDB
  format, a value a target can never store). Retrying cannot help. The record goes to a dead-letter
  sink with its raw bytes and the reason; it is never dropped silently.
* :class:`RetryableError`: the input is fine but something around it failed (throttling, 5xx,
  timeouts, a missing table, credentials). The same input must be tried again later.
  :class:`StorageError` (a full disk) is the retryable case a re-run fixes only after space is
  freed.
* :class:`UserInputError`: a mistake in how the tool was invoked (a missing manifest, a bad URI).
  The command line prints it as one line and exits non-zero; it is never shown as a traceback.

Stale and duplicate revisions are not errors at all: they are successes that are counted.
"""

from __future__ import annotations


class CdcError(Exception):
    """Base class of every error qldb-cdc raises on purpose."""


class PoisonError(CdcError):
    """The input can never be processed; send it to the dead-letter sink with this reason."""


class DecodeError(PoisonError):
    """Bytes that do not decode as the format they claim to be (Ion, KPL, JSON, protobuf)."""


class InvalidRecordError(PoisonError):
    """Decoded bytes that break the QLDB record or block format (missing or mistyped fields)."""


class UnstorableChangeError(PoisonError):
    """A valid change that a projection can never store (for example a NaN in DynamoDB)."""


class VerificationError(PoisonError):
    """A hash that does not recompute: the journal data was altered or is corrupt."""


class RetryableError(CdcError):
    """A transient or environmental failure; the same input must be retried later."""


class StorageError(RetryableError):
    """The target's storage is full (disk full, quota). Nothing was lost: free space and re-run.

    Retryable by a re-run, not by waiting: a replay stops on it at once instead of backing off.
    """


class ThrottledError(RetryableError):
    """The target asked us to slow down (throttling, HTTP 429, provisioned throughput)."""


class UserInputError(CdcError):
    """A mistake in how the tool was invoked or configured; shown to the user as one line."""


class ConfigError(UserInputError):
    """Invalid configuration (environment variables, flags, projection URIs)."""
