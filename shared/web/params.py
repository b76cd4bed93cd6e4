"""Query parameters parsed into values: times, windows, page sizes and continuation tokens.

Query parameters never reach an OData filter: they are parsed into times, numbers and validated keys
first. Continuation tokens are opaque to clients: base64url JSON holding the last key returned.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import overload
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.domain.times import parse_time
from shared.errors import InvalidInput
from shared.web.responses import Request


@overload
def query_window(params: Mapping[str, str], default_end: datetime) -> tuple[datetime | None, datetime]: ...
@overload
def query_window(params: Mapping[str, str], default_end: None) -> tuple[datetime | None, datetime | None]: ...
def query_window(
    params: Mapping[str, str], default_end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``to`` (default ``default_end``), refused when ``to`` is earlier than ``from``."""
    start = _time(params, "from")
    end = _time(params, "to") or default_end
    if start is not None and end is not None:
        check_window(start, end)
    return start, end


def check_window(start: datetime, end: datetime, max_span: timedelta | None = None) -> None:
    """``InvalidInput`` for a reversed window, or one longer than ``max_span``."""
    if end < start:
        raise InvalidInput("window", "'to' is earlier than 'from'")
    if max_span is not None and end - start > max_span:
        raise InvalidInput("window", f"the window may span at most {max_span.days} days")


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except (ValueError, OverflowError):
        raise InvalidInput(name, f"'{name}' must be an ISO-8601 time such as 2026-01-31T00:00:00Z") from None


def page_size(params: Mapping[str, str], default: int, maximum: int) -> int:
    """The ``top`` parameter: a whole number from 1 to ``maximum``."""
    text = params.get("top")
    if text is None:
        return default
    # Length first: int() refuses more than 4,300 digits with a ValueError, which would surface as a 500.
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not 1 <= int(text) <= maximum:
        raise InvalidInput("top", f"'top' must be a whole number from 1 to {maximum}")
    return int(text)


def continuation_after(params: Mapping[str, str]) -> str | None:
    """The last key returned before, from an opaque ``continuationToken`` this API issued."""
    text = params.get("continuationToken")
    if text is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4)))
    except (ValueError, UnicodeError, binascii.Error):
        decoded = None
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str) or not after:
        raise InvalidInput("continuationToken", "continuationToken is not one this API issued")
    return after


def next_link(request: Request, after: str) -> str:
    """The request's own URL with a token for the page after the key ``after``."""
    token = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")
    parts = urlsplit(request.url)
    params = {k: v for k, v in request.params.items() if k != "continuationToken"}
    params["continuationToken"] = token
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
