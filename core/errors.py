"""The failure classes every layer raises, kept in the lowest layer so all packages share them.

Classification is the contract, not the message:

* :class:`PoisonError`: the input itself is bad (undecodable bytes, a record that breaks the QLDB
  format, a value a target can never store). Retrying cannot help. The record goes to a dead-letter
  sink with its raw bytes and the reason; it is never dropped silently.
* :class:`RetryableError`: the input is fine but something around it failed (throttling, 5xx,
  timeouts, a missing table, credentials). The same input must be tried again later.
  :class:`StorageError` (a full disk) is the retryable case a re-run fixes only after space is
  freed; :class:`AccessDeniedError` (permissions, credentials) and :class:`MissingResourceError`
  (a bucket, object, table or queue that is not there) are the retryable cases a person must fix
  first: they are :class:`UserInputError` s too, so a stream keeps its input and a command exits 2
  (``consumers/exit_codes.py``).
* :class:`UserInputError`: a mistake in how the tool was invoked (a missing manifest, a bad URI).
  The command line prints it as one line and exits non-zero; it is never shown as a traceback.

Anything else (a bare :class:`CdcError`) is unclassified and is kept like a retryable error:
never dead-lettered, never checkpointed past. Stale and duplicate revisions are not errors at
all: they are successes that are counted.
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


class UnresolvedTableError(PoisonError):
    """A stream redaction names its table by an id that nothing seen so far names (no revision of
    the batch, no table lifecycle a projection recorded): it cannot be applied, so it is
    dead-lettered with the record rather than dropped."""


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


class AccessDeniedError(RetryableError, UserInputError):
    """The caller may not do this: access denied, or credentials missing, invalid or expired.

    Both classes at once, on purpose: retryable, so a stream keeps its input until the
    permissions are fixed (never dead-lettered); a user mistake, so a command stops with exit 2
    and a message saying what to change, because waiting does not grant access.
    """


class MissingResourceError(RetryableError, UserInputError):
    """A bucket, object, table or queue is not where the client looks (wrong name or region).

    Retryable for a stream (the input is kept until the resource exists), a user mistake for a
    command (exit 2), like :class:`AccessDeniedError`.
    """


def retryable_unless_poison(exc: CdcError) -> PoisonError | RetryableError:
    """``exc`` itself when it is poison or retryable; an unclassified ``CdcError`` wrapped in a
    :class:`RetryableError` (its ``__cause__``), so that it is kept, never dead-lettered."""
    if isinstance(exc, PoisonError | RetryableError):
        return exc
    error = RetryableError(f"unclassified {type(exc).__name__}, kept to be safe: {exc}")
    error.__cause__ = exc
    return error
