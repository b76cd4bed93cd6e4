"""One guarded pager for every Azure list API: pages of JSON followed by their next links.

A listing that fails part way proves nothing, so any failure after retries raises ``ListingError``
carrying how many pages had been read; callers never write ``while next_link:`` themselves. Each next
link must stay on the origin the listing started on (a link elsewhere would receive our bearer token),
and a link already followed is refused (it would loop forever). A link that changes on every page would
loop forever too: each listing reads at most its caller's page cap, and with a deadline requests no page
after it, each request (retries included) ending by it; past either it fails as incomplete.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Enough of an error message to diagnose (role missing, throttled) without flooding the log.
_MAX_ERROR_TEXT = 300
# The only answer that proves a resource does not exist: 404 with ARM's error body (common-types
# ``ErrorResponse``: ``{"error": {"code", "message", ...}}``) coded ``ResourceNotFound`` (Learn, "Resolve
# errors for resource not found"). Any other 404 proves nothing: no body (a gateway answered), Compute's
# ``NotFound`` ("not found in this Azure location"), ``SubscriptionNotFound`` (access), ...
RESOURCE_NOT_FOUND = "ResourceNotFound"


class ListingError(RuntimeError):
    """A listing that did not complete: the items seen so far are not the whole set.

    ``pages_read`` counts the pages already yielded; ``status_code`` is the last HTTP status when the
    failure was an HTTP answer, ``None`` for connection errors, malformed bodies and refused links;
    ``error_code`` the ``error.code`` of its body, if any.
    """

    def __init__(
        self,
        subject: str,
        pages_read: int,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(f"listing {subject} failed after {pages_read} page(s): {message}")
        self.subject = subject
        self.pages_read = pages_read
        self.message = message
        self.status_code = status_code
        self.error_code = error_code

    @property
    def resource_not_found(self) -> bool:
        """Resource Manager said the listed resource does not exist (see ``resource_not_found``)."""
        return resource_not_found(self.status_code, self.error_code)


def iter_pages(
    pipeline: PipelineClient[HttpRequest, HttpResponse],
    first: HttpRequest,
    *,
    subject: str,
    next_link: Callable[[Any], str | None],
    timeout: float,
    max_pages: int,
    deadline: float | None = None,
) -> Iterator[Any]:
    """Yield each page's JSON body, following ``next_link(body)`` verbatim until it is ``None``: at most
    ``max_pages`` pages, and none requested after ``deadline`` (a ``time.monotonic()`` value).

    ``next_link`` raises ``ValueError`` for a body that is not a page of this listing.
    """
    origin = origin_of(first.url)
    pages_read = 0
    followed: set[str] = set()
    request = first
    while True:
        _, body = read_json_page(pipeline, request, subject, pages_read, timeout, deadline)
        try:
            link = next_link(body)
        except ValueError as err:
            raise ListingError(subject, pages_read, f"malformed page: {err}") from err
        pages_read += 1
        yield body
        if link is None:
            return
        if pages_read >= max_pages:
            raise ListingError(subject, pages_read, f"more pages after {max_pages:,}, the most it reads")
        if origin_of(link) != origin:
            raise ListingError(subject, pages_read, "the next link points outside the endpoint")
        if link in followed:
            raise ListingError(subject, pages_read, "the next link repeats a page already read")
        followed.add(link)
        request = HttpRequest("GET", link)


def arm_page(body: Any, what: str) -> tuple[list[Any], str | None]:
    """The ``value`` array and ``nextLink`` of an Azure Resource Manager list page.

    Raises ``ValueError`` when ``body`` is not such a page: a page read as empty by mistake would make
    every item look gone.
    """
    return page_parts(body, what, items="value", link="nextLink")


def page_parts(body: Any, what: str, *, items: str, link: str) -> tuple[list[Any], str | None]:
    """The ``items`` array and the ``link`` string (``None`` when absent or empty) of a page of ``what``;
    ``ValueError`` for a body of another shape."""
    if not isinstance(body, Mapping):
        raise ValueError(f"a {what} page is a JSON object, got {type(body).__name__}")
    entries = body.get(items)
    if not isinstance(entries, list):
        raise ValueError(f"a {what} page needs a '{items}' array")
    following = body.get(link)
    if following is not None and not isinstance(following, str):
        raise ValueError(f"'{link}' must be a string, got {type(following).__name__}")
    return entries, following or None


def read_json_page(
    pipeline: PipelineClient[HttpRequest, HttpResponse],
    request: HttpRequest,
    subject: str,
    pages_read: int,
    timeout: float,
    deadline: float | None,
) -> tuple[HttpResponse, Any]:
    """One page's answer and JSON body; ``ListingError`` for anything but a 200 with JSON (after the
    pipeline's retries), and once ``deadline`` has passed."""
    try:
        response = pipeline.send_request(request, **_timeouts(timeout, deadline, subject, pages_read))
        content = response.read()
    except AzureError as err:
        raise ListingError(subject, pages_read, f"request failed: {err}") from err
    if response.status_code != 200:
        raise ListingError(
            subject,
            pages_read,
            describe_error(response),
            status_code=response.status_code,
            error_code=error_code(response),
        )
    try:
        return response, json.loads(content)
    except ValueError as err:
        raise ListingError(subject, pages_read, "the response body is not JSON") from err


def _timeouts(timeout: float, deadline: float | None, subject: str, pages_read: int) -> dict[str, Any]:
    """Each wait of the request at most ``timeout``, and the request with its retries ending by
    ``deadline`` (the retry policy's ``timeout``)."""
    if deadline is None:
        return {"connection_timeout": timeout, "read_timeout": timeout}
    left = deadline - time.monotonic()
    if left <= 0:
        raise ListingError(subject, pages_read, "the run's time budget is spent")
    return {"connection_timeout": min(timeout, left), "read_timeout": min(timeout, left), "timeout": left}


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def describe_error(response: HttpResponse) -> str:
    """``HTTP 403 AuthorizationFailed: ...`` from an Azure error body, or the bare status."""
    summary = f"HTTP {response.status_code}"
    error = _error_object(response)
    code, message = error.get("code"), error.get("message")
    if code:
        summary += f" {code}"
    if message:
        summary += f": {str(message)[:_MAX_ERROR_TEXT]}"
    return summary


def resource_not_found(status_code: int | None, code: str | None) -> bool:
    """Whether an error answer proves the resource does not exist: 404 ``ResourceNotFound`` only."""
    return status_code == 404 and code == RESOURCE_NOT_FOUND


def error_code(response: HttpResponse) -> str | None:
    """The ``error.code`` of an Azure error body (``AuthorizationFailed``, ``TooManyRequests``), if any."""
    code = _error_object(response).get("code")
    return code[:100] if isinstance(code, str) else None


def _error_object(response: HttpResponse) -> dict[str, Any]:
    try:
        body = json.loads(response.text())
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
