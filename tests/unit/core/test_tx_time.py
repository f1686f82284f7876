"""``core.tx_time``: transaction times as instants, and the sortable UTC text of SQLite."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from core.tx_time import parse_tx_time, utc_text


def test_offsets_become_utc_with_six_fraction_digits() -> None:
    assert utc_text("2021-02-09T02:16:06.240Z") == "2021-02-09T02:16:06.240000Z"
    assert utc_text("2021-02-09T02:16:06.1-08:00") == "2021-02-09T10:16:06.100000Z"
    assert utc_text("2021-02-09T02:16:06-00:00") == "2021-02-09T02:16:06.000000Z"
    assert utc_text("2021-02-09T23:59:59.123456789+01:30") == "2021-02-09T22:29:59.123456Z"
    assert utc_text("2021-02-09T02:16Z") == "2021-02-09T02:16:00.000000Z"


def test_texts_without_an_instant_have_none() -> None:
    for text in ("2020T", "2021-02", "2021-02-09", "2021-02-09T02:16:06", "", "nonsense"):
        assert utc_text(text) is None
    assert utc_text("0001-01-01T00:00:00+01:00") is None  # before year 1 in UTC
    assert parse_tx_time("2021-02-09T02:16:06") is None


offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
instants = st.datetimes(  # hypothesis takes naive bounds and adds the time zones
    min_value=dt.datetime(2, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=offsets,
)


@given(st.lists(instants, min_size=2, max_size=20))
def test_the_texts_sort_as_the_instants_do(values: list[dt.datetime]) -> None:
    texts = {v: utc_text(v.isoformat()) for v in values}
    assert all(t is not None for t in texts.values())
    by_text = sorted(values, key=lambda v: (str(texts[v]), v))
    by_instant = sorted(values, key=lambda v: (v.astimezone(dt.UTC), v))
    assert [texts[v] for v in by_text] == [texts[v] for v in by_instant]
