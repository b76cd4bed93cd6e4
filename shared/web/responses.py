"""HTTP answers without ``azure.functions``: the request and result types, and failures mapped to codes.

Client mistakes become 400/404 with ``{"error": {"code", "message"}}``; storage or upstream trouble
becomes 503 in the same shape (``api_errors``). Messages never echo input back and never carry a stack
trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.web.api_errors import api_error
from shared.web.csv_export import CSV_MIMETYPE, to_csv

JSON = "application/json"


# Surrogate code points: the only ones UTF-8 cannot carry. Python reads a lone one out of Azure's JSON
# (an escaped "\ud800" is valid JSON); a pair arrives as one code point, so any left here is lone.
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class HttpResult:
    """A response: ``body`` is JSON-serialisable for ``application/json``, text for anything else."""

    status: int
    body: Any
    mimetype: str = JSON
    headers: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        """The body as sent, encodable as UTF-8 whatever Azure sent: what UTF-8 cannot carry (a lone
        surrogate) becomes U+FFFD, the same in JSON (not escaped), CSV and the page."""
        text = json.dumps(self.body, ensure_ascii=False) if self.mimetype == JSON else self.body
        return _NOT_UTF8.sub(_REPLACEMENT, text)


@dataclass(frozen=True)
class Request:
    """What an endpoint needs from an HTTP request."""

    url: str
    params: Mapping[str, str]
    route: Mapping[str, str]


def respond(answer: Callable[[], dict[str, Any] | HttpResult]) -> HttpResult:
    """Run ``answer`` (a view given its request and what it needs) and map every outcome to a status and
    a body (a view may answer in another format); building what it needs fails the same way."""
    try:
        result = answer()
        return result if isinstance(result, HttpResult) else HttpResult(200, result)
    except Exception as err:  # every failure becomes an answer in the API's one error shape
        status, code, message = api_error(err)
        return HttpResult(status, {"error": {"code": code.value, "message": message}})


def csv_response(columns: Sequence[str], body: dict[str, Any], filename: str) -> HttpResult:
    """``body["value"]`` as CSV; the next page, if any, goes in a ``Link`` header (CSV has no room for it)."""
    headers = [("Content-Disposition", f'attachment; filename="{filename}"')]
    if "nextLink" in body:
        headers.append(("Link", f'<{body["nextLink"]}>; rel="next"'))
    return HttpResult(200, to_csv(columns, body["value"]), CSV_MIMETYPE, tuple(headers))
