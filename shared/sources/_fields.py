"""Small readers of untrusted fields shared by the sources."""

from __future__ import annotations

import re
from typing import Any

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def guid_or_none(value: Any) -> str | None:
    """A GUID as text, lower-cased, or ``None``: a correlation id is the caller's to fill."""
    if isinstance(value, str) and _GUID.fullmatch(value.strip()):
        return value.strip().lower()
    return None
