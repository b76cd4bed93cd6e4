"""UTC times as the ledger stores and compares them; calendar months as answers and month rows count them.

Event Grid sends up to seven fractional digits; the Functions binding keeps microseconds. Query times
are parsed the same way (extra digits dropped, not rounded) so a window edge copied from an event lines
up exactly with the stored transition.

Parsing is strict, and the forms it accepts are the README's: ``YYYY-MM-DD`` (midnight UTC), or
``YYYY-MM-DDThh:mm[:ss[.f]]`` with 1 to 7 fractional digits and ``Z``, ``±hh:mm`` or nothing (UTC).
Nothing else: no week dates, no basic format, no surrounding spaces, at most ``MAX_TIME_LENGTH``
characters. ``datetime.fromisoformat`` alone accepts far more (5,000 digits of ``1`` among them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MAX_TIME_LENGTH = 40
_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt](?P<clock>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.(?P<fraction>[0-9]{1,7}))?)?)"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC (the binding yields naive values for offset-less times)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse one of the accepted ISO-8601 forms (module docstring); a bare date is midnight UTC.

    Raises ``ValueError`` for anything else, including dates that do not exist and times that cannot be
    moved to UTC (an offset before 0001-01-01 UTC).
    """
    match = _TIME.fullmatch(text) if isinstance(text, str) and len(text) <= MAX_TIME_LENGTH else None
    if match is None:
        raise ValueError("not an accepted ISO-8601 time")
    clock = match["clock"] or "00:00"
    if match["fraction"]:
        clock = clock[: clock.index(".") + 7]  # microseconds: further digits are dropped, not rounded
    zone = match["zone"] or ""
    if zone in ("Z", "z"):
        zone = "+00:00"
    try:
        return as_utc(datetime.fromisoformat(f"{match['date']}T{clock}{zone}"))
    except OverflowError as err:
        raise ValueError("the time is out of range") from err


def format_time(value: datetime) -> str:
    """Fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: sorts as text in time order (used in row keys)."""
    # Not strftime("%Y"): glibc does not zero-pad years before 1000, and row keys must sort as text.
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# ---- calendar months -------------------------------------------------------------------------------------
# A month is labelled ``YYYY-MM`` (UTC). Labels compare as numbers (``month_number``), never as text: after
# "9999-12" comes "10000-01", which sorts before it as text.


def month_of(at: datetime) -> str:
    """The label of the UTC month ``at`` falls in."""
    at = at.astimezone(UTC)
    return f"{at.year:04d}-{at.month:02d}"


def month_start(month: str) -> datetime:
    """The first instant of ``month`` (UTC)."""
    year, number = month.split("-")
    return datetime(int(year), int(number), 1, tzinfo=UTC)


def next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def month_number(month: str) -> int:
    """Months since year 0, to compare and count months."""
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def months_from(first: str, last: str) -> list[str]:
    """``first`` to ``last`` inclusive (empty when ``last`` is earlier)."""
    months = []
    month, end = first, month_number(last)
    while month_number(month) <= end:
        months.append(month)
        month = next_month(month)
    return months


def months_touched(start: datetime, end: datetime) -> list[str]:
    """The months ``[start, end)`` touches; ``start``'s alone when it is empty."""
    # Not ``end - 1 µs`` when empty: at 0001-01-01T00:00 there is no instant before it.
    last = end - timedelta(microseconds=1) if end > start else start
    return months_from(month_of(start), month_of(last))


# ISO-8601 durations of days, hours and minutes (``P1D``, ``PT6H``, ``PT30M``, ``P1DT12H``) or a bare number
# of hours.
_PERIOD = re.compile(
    r"P(?:(?P<days>[0-9]{1,4})D)?(?:T(?:(?P<hours>[0-9]{1,4})H)?(?:(?P<minutes>[0-9]{1,6})M)?)?"
)


def parse_period(text: str, *, minimum: timedelta = timedelta(0)) -> timedelta:
    """``P1D``, ``PT6H``, ``PT30M``, ``P1DT12H`` or a number of hours, at least ``minimum``; ``ValueError``
    saying what it must be otherwise."""
    cleaned = text.strip().upper()
    match = _PERIOD.fullmatch(cleaned)
    if text.isdigit() and len(text) <= 4:
        period = timedelta(hours=int(text))
    elif match and any(match.groupdict().values()) and not cleaned.endswith("T"):
        parts = {name: int(value or 0) for name, value in match.groupdict().items()}
        period = timedelta(days=parts["days"], hours=parts["hours"], minutes=parts["minutes"])
    else:
        raise ValueError(f"must be a duration such as P1D, PT6H or PT30M, got {text!r}")
    if period < minimum:
        raise ValueError(f"must be at least {minimum.total_seconds() / 60:g} minutes, got {text!r}")
    return period
