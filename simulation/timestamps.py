"""Ion timestamps built from integer milliseconds, with exactly the precision QLDB writes.

Guarantees:
    * :func:`millis` returns an ``amazon.ion.core.Timestamp`` with SECOND precision and exactly
      three fractional digits (``.240``, ``.000``), so it is written, read back and Ion-hashed
      as ``2021-02-09T02:16:06.240Z`` (or with the given offset) in every format.
    * :func:`day` returns a DAY-precision timestamp (``1963-08-19T``) with an unknown offset.
    * No clock is read: every value is derived from its arguments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal

from amazon.ion.core import Timestamp, TimestampPrecision

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTIONS = tuple(Decimal(ms).scaleb(-3) for ms in range(1000))
_ZONES: dict[int, tzinfo] = {0: UTC}


def zone(offset_minutes: int) -> tzinfo:
    """Return a cached fixed-offset zone (``UTC`` for 0), e.g. -480 for ``-08:00``."""
    found = _ZONES.get(offset_minutes)
    if found is None:
        found = timezone(timedelta(minutes=offset_minutes))
        _ZONES[offset_minutes] = found
    return found


def millis(epoch_ms: int, offset_minutes: int = 0) -> Timestamp:
    """Timestamp at ``epoch_ms`` (UTC milliseconds) shown in the given UTC offset.

    Args:
        epoch_ms: Milliseconds since 1970-01-01T00:00:00Z.
        offset_minutes: Local offset the timestamp is written with (0 writes ``Z``).

    Returns:
        A millisecond-precision Ion timestamp.
    """
    tz = zone(offset_minutes)
    local = (_EPOCH + timedelta(milliseconds=epoch_ms)).astimezone(tz)
    ms = epoch_ms % 1000
    return Timestamp(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        ms * 1000,
        tz,
        precision=TimestampPrecision.SECOND,
        fractional_seconds=_FRACTIONS[ms],
    )


def day(year: int, month: int, day_of_month: int) -> Timestamp:
    """DAY-precision timestamp such as ``1963-08-19T`` (no time, unknown offset)."""
    return Timestamp(year, month, day_of_month, precision=TimestampPrecision.DAY)
