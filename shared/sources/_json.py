"""Reading untrusted JSON fields that may arrive as objects or as JSON text."""

from __future__ import annotations

import json
from typing import Any


def json_object(value: Any) -> dict[str, Any] | None:
    """``value`` as an object; some event fields arrive as JSON text instead. ``None`` for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
