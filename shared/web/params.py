"""Query parameters parsed into values: times, windows, page sizes, continuation tokens and next links.

Query parameters never reach an OData filter: they are parsed into times, numbers and validated keys
first. Continuation tokens are opaque to clients: base64url JSON holding the last key returned. A token
is accepted only if it is short, decodes to exactly that shape, and its key has the structure of a key
this API hands out for that query (the caller checks the last part with the store's cursor predicates),
so a forged token never reaches storage.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import overload
from urllib.parse import urlencode, urlsplit, urlunsplit

import isodate  # type: ignore[import-untyped]

from shared.domain.times import parse_time
from shared.errors import InvalidInput
from shared.web.responses import Request

# Bounds the work of one request that reads a VM's history: a year of it (timelines and get_vm).
MAX_WINDOW = timedelta(days=366)
# Far above the longest token the API issues (a key of at most a few hundred characters, JSON-escaped).
MAX_TOKEN_LENGTH = 4096
_MAX_DURATION_LENGTH = 40
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
# The parameters a next link carries over; anything else (``code`` above all) is left out.
LINK_PARAMETERS = (
    "from", "to", "top", "subscriptionId", "resourceGroup", "scaleSet", "kind", "minHours", "format",
    "resolution",
)  # fmt: skip
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


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


def resolution_of(params: Mapping[str, str], window: timedelta) -> timedelta | None:
    """``resolution``: an ISO-8601 duration of days, hours, minutes and seconds (``PT15M``, ``P1D``; not
    years or months, whose length varies), at least a second; ``None`` when not given."""
    text = params.get("resolution")
    if text is None:
        return None
    try:
        value = isodate.parse_duration(text) if len(text) <= _MAX_DURATION_LENGTH else None
    except (ValueError, OverflowError, isodate.ISO8601Error):
        value = None
    if not isinstance(value, timedelta) or value < timedelta(seconds=1):
        raise InvalidInput(
            "resolution", "'resolution' must be an ISO-8601 duration of a second or more, e.g. PT15M"
        )
    return min(value, max(window, timedelta(seconds=1)))


def earlier(end: datetime, span: timedelta) -> datetime:
    """``end - span`` for a default window; ``InvalidInput`` if that would start before year 1."""
    if end - _EARLIEST < span:
        raise InvalidInput("window", "the default window would start before the year 1; give 'from'")
    return end - span


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        message = f"'{name}' must be an ISO-8601 time such as 2026-01-31T00:00:00Z"
        if _plus_sent_unencoded(text):
            message += "; a '+' in a URL arrives as a space: write an offset such as +01:00 as %2B01:00"
        raise InvalidInput(name, message) from None


def _plus_sent_unencoded(text: str) -> bool:
    """Whether ``text`` is a valid time once its spaces are read as the ``+`` a URL query turned into them."""
    try:
        parse_time(text.replace(" ", "+"))
    except ValueError:
        return False
    return " " in text


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
    """The last key returned before, from an opaque ``continuationToken`` of the shape this API issues.

    The caller still checks that the key belongs to its query (``is_transition_cursor`` and friends).
    """
    text = params.get("continuationToken")
    if text is None:
        return None
    after = _decoded_after(text) if len(text) <= MAX_TOKEN_LENGTH and _TOKEN.fullmatch(text) else None
    if after is None:
        raise InvalidInput("continuationToken", "continuationToken is not one this API issued")
    return after


def _decoded_after(text: str) -> str | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4)))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return None
    if not isinstance(decoded, dict) or set(decoded) != {"after"}:
        return None
    after = decoded["after"]
    if not isinstance(after, str) or not after or not after.isprintable():
        return None  # a lone surrogate is not printable: it would fail inside the storage SDK
    return after


def next_link(request: Request, after: str) -> str:
    """The request's own URL with a token for the page after the key ``after``.

    Only the query parameters in ``LINK_PARAMETERS`` are carried over: a function key sent as ``code=``
    is never echoed into a body or a ``Link`` header (clients send the key in ``x-functions-key`` when
    they follow links). The origin is the one the Functions host reports for the request; a host that is
    not a plain name or address gives a link relative to the origin instead.
    """
    token = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")
    parts = urlsplit(request.url)
    params = {name: value for name, value in request.params.items() if name in LINK_PARAMETERS}
    params["continuationToken"] = token
    origin = (parts.scheme, parts.netloc) if _plain_origin(parts.scheme, parts.netloc) else ("", "")
    return urlunsplit((*origin, parts.path, urlencode(params), ""))


def _plain_origin(scheme: str, netloc: str) -> bool:
    return scheme in ("http", "https") and _HOST.fullmatch(netloc) is not None
