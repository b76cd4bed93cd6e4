"""Small readers of untrusted fields shared by the sources, and the limits every source applies to them.

An Event Grid event and an Activity Log record describe the same ARM operations, so one set of rules
decides whether their ids, operation names and times can be true.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
MAX_EVENT_ID_LENGTH = 256
# ARM operation names are a provider, resource types and a verb, e.g. ``Microsoft.Compute/virtualMachines/
# start/action``: letters, digits, dots, slashes (and - or _). The longest known is under 100 characters.
MAX_OPERATION_LENGTH = 256
_OPERATION_NAME = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+")
# Event Grid, which raises these events, did not exist before 2017 (and the Activity Log keeps 90 days);
# a few minutes ahead of this instance's clock is clock skew, more is not a time an operation ended.
EARLIEST_EVENT_TIME = datetime(2017, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)


def guid_or_none(value: Any) -> str | None:
    """A GUID as text, lower-cased, or ``None``: a correlation id is the caller's to fill."""
    if isinstance(value, str) and _GUID.fullmatch(value.strip()):
        return value.strip().lower()
    return None


def event_id_or_none(value: Any) -> str | None:
    """An id as sent, or ``None`` when it is missing, not text or longer than ``MAX_EVENT_ID_LENGTH``."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_EVENT_ID_LENGTH else None


def operation_name_or_none(value: Any) -> str | None:
    """An ARM operation name without surrounding spaces, or ``None`` when it is too long or not shaped
    like one."""
    name = value.strip() if isinstance(value, str) else ""
    if len(name) > MAX_OPERATION_LENGTH or not _OPERATION_NAME.fullmatch(name):
        return None
    return name


def is_possible_time(at: datetime, now: datetime) -> bool:
    """Whether an operation can have ended at ``at`` (UTC): not before 2017, at most
    ``FUTURE_TOLERANCE`` after ``now``."""
    return EARLIEST_EVENT_TIME <= at <= now + FUTURE_TOLERANCE
