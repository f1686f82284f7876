"""A transaction time (``txTime``, ISO-8601 text as decoded) as an instant. Pure.

The projections keep ``tx_time`` exactly as the journal has it (precision and offset) and, beside
it, the instant in UTC that SQL can index and compare: PostgreSQL as ``timestamptz``, SQLite as
the fixed-width text of :func:`utc_text`, which sorts in time order and which SQLite's date and
time functions read.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

_FRACTION = re.compile(r"(\.\d{6})\d+")


@functools.lru_cache(maxsize=4096)
def parse_tx_time(text: str) -> dt.datetime | None:
    """``txTime`` as an aware datetime (fraction cut to microseconds), ``None`` when not a full
    timestamp with an offset (the text column always keeps the original). Ion's unknown offset
    ``-00:00`` is UTC."""
    try:
        parsed = _fromisoformat(text)  # the usual 0, 3 or 6 fraction digits
    except ValueError:
        try:
            parsed = _fromisoformat(_FRACTION.sub(r"\1", text))
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else None


_fromisoformat = dt.datetime.fromisoformat


@functools.lru_cache(maxsize=4096)
def utc_text(text: str) -> str | None:
    """``txTime`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always 6 fraction digits, so the
    texts sort as the instants do), ``None`` when :func:`parse_tx_time` finds no instant."""
    parsed = parse_tx_time(text)
    if parsed is None:
        return None
    try:
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None
    # Not strftime: its %Y writes year 99 as "99", which would sort after "2000".
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )
