"""Calendar months, one implementation (``shared.domain.times``) for month rows, fleet answers and the
``/costs`` default window: labels, their first instants, the months a window touches, and the edges of
the calendar (0001-01-01 has no instant before it; after "9999-12" comes "10000-01", which sorts before
it as text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain.times import month_number, month_of, month_start, months_from, months_touched, next_month

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("at", "month"),
    [
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "2026-11"),
        (datetime(2026, 12, 1, 0, 30, tzinfo=CET), "2026-11"),  # 23:30 UTC the day before
        (datetime(2026, 12, 1, tzinfo=UTC), "2026-12"),
        (FIRST, "0001-01"),
        (datetime(999, 3, 4, tzinfo=UTC), "0999-03"),  # four digits, as keys sort
        (LAST, "9999-12"),
    ],
)
def test_the_month_of_an_instant_is_its_utc_month(at, month):
    assert month_of(at) == month


@pytest.mark.parametrize(
    ("month", "start"),
    [
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC)),
        ("0001-01", FIRST),
        ("9999-12", datetime(9999, 12, 1, tzinfo=UTC)),
    ],
)
def test_a_month_starts_at_midnight_utc_on_its_first_day(month, start):
    assert month_start(month) == start
    assert month_of(start) == month


@pytest.mark.parametrize(
    ("month", "after"),
    [("2026-11", "2026-12"), ("2026-12", "2027-01"), ("0001-01", "0001-02"), ("9999-12", "10000-01")],
)
def test_the_next_month_counts_on_past_december_and_past_the_year_9999(month, after):
    assert next_month(month) == after
    assert month_number(after) == month_number(month) + 1


@pytest.mark.parametrize(
    ("first", "last", "months"),
    [
        ("2026-11", "2027-02", ["2026-11", "2026-12", "2027-01", "2027-02"]),
        ("2026-11", "2026-11", ["2026-11"]),
        ("2026-11", "2026-10", []),
        ("9999-11", "9999-12", ["9999-11", "9999-12"]),  # "10000-01" < "9999-12" as text: not a loop
        ("9999-12", "9999-12", ["9999-12"]),
        ("9999-12", "9999-11", []),
        ("0001-01", "0001-02", ["0001-01", "0001-02"]),
    ],
)
def test_months_from_first_to_last_inclusive(first, last, months):
    assert months_from(first, last) == months


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (datetime(2026, 11, 15, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC), ["2026-11", "2026-12",
                                                                               "2027-01"]),
        # The end is not in the window: ending on a month's first instant does not touch that month.
        (datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), ["2026-11"]),
        (datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC), ["2026-11"]),  # empty
        (FIRST, FIRST, ["0001-01"]),  # empty, with no instant before its end
        (FIRST, FIRST + timedelta(microseconds=1), ["0001-01"]),
        (datetime(9999, 12, 1, tzinfo=UTC), LAST, ["9999-12"]),
        (datetime(9999, 11, 30, tzinfo=UTC), LAST, ["9999-11", "9999-12"]),
    ],
)  # fmt: skip
def test_the_months_a_window_touches(start, end, months):
    assert months_touched(start, end) == months
