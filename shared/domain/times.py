"""UTC times as the ledger stores and compares them.

Event Grid sends up to seven fractional digits; the Functions binding keeps microseconds. Query times
are parsed the same way (extra digits dropped, not rounded) so a window edge copied from an event lines
up exactly with the stored transition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"(\.\d{6})\d+")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC (the binding yields naive values for offset-less times)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse ISO-8601 (``Z``, an offset, or none meaning UTC; a bare date is midnight UTC).

    Raises ``ValueError`` for anything else.
    """
    value = text.strip()
    if _DATE_ONLY.match(value):
        value += "T00:00:00"
    if not value or not value[0].isdigit():
        raise ValueError(f"not an ISO-8601 time: {text!r}")
    value = _FRACTION.sub(r"\1", value, count=1)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(value))


def format_time(value: datetime) -> str:
    """Fixed-width ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: sorts as text in time order (used in row keys)."""
    # Not strftime("%Y"): glibc does not zero-pad years before 1000, and row keys must sort as text.
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
