"""``FakePrices``: the fake Retail Prices API on loopback, run in a background thread."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from devtools.loopback import LoopbackServer, RecordedRequest

_TERM = re.compile(r"(armRegionName|armSkuName|serviceName|productName) eq '([^']*)'")


@dataclass
class _State:
    items: list[dict[str, Any]]
    page_size: int
    filter_currency: bool = True
    fail_status: int | None = None
    throttle_first: int = 0
    endless_until: int | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakePrices(LoopbackServer):
    """The fake on 127.0.0.1 (a free port unless ``port``), in a background thread; a context manager."""

    def __init__(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        page_size: int = 100,
        port: int = 0,
        filter_currency: bool = True,
    ) -> None:
        """``filter_currency=False`` serves items whatever their ``currencyCode`` (a faulty answer)."""
        self._state = _State([dict(item) for item in items], page_size, filter_currency)
        super().__init__(_handler_for(self._state), port, name="fake-prices")

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_with(self, status: int | None) -> None:
        """Answer every request with ``status`` from now on (``None``: answer normally again)."""
        with self._state.lock:
            self._state.fail_status = status

    def throttle(self, count: int) -> None:
        with self._state.lock:
            self._state.throttle_first, self._state.served = count, 0

    def page_endlessly(self, *, stop_after: int) -> None:
        """Link a next page from every page, forever (a paging loop); from request ``stop_after`` on answer
        500, so a client that never stops fails instead of hanging the test."""
        with self._state.lock:
            self._state.endless_until = stop_after

    def set_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        with self._state.lock:
            self._state.items = [dict(item) for item in items]


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(_PricesHandler):
        shared = state

    return Handler


class _PricesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see devtools.fake_arm.handler
    timeout = 10
    shared: _State

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self.shared.lock:
            self.shared.requests.append(
                RecordedRequest("GET", parts.path, query, {k.lower(): v for k, v in self.headers.items()})
            )
            self.shared.served += 1
            throttled = self.shared.served <= self.shared.throttle_first
            fail_status = self.shared.fail_status
            endless_until = self.shared.endless_until
            if endless_until is not None and len(self.shared.requests) > endless_until:
                fail_status = 500
            items = list(self.shared.items)
        if parts.path != "/api/retail/prices":
            self._send(404, {"Error": {"Code": "NotFound", "Message": "Not found"}})
        elif throttled:
            self._send(
                429, {"Error": {"Code": "TooManyRequests", "Message": "Retry later"}}, {"Retry-After": "0"}
            )
        elif fail_status is not None:
            self._send(fail_status, {"Error": {"Code": "ServiceUnavailable", "Message": "Unavailable"}})
        else:
            self._page(query, items, endless=endless_until is not None)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``FakePrices.requests``."""

    def _page(self, query: dict[str, str], items: list[dict[str, Any]], *, endless: bool) -> None:
        terms: dict[str, set[str]] = {}
        for name, value in _TERM.findall(query.get("$filter", "")):
            terms.setdefault(name, set()).add(value)  # filter values are case-sensitive
        currency = query.get("currencyCode", "'USD'").strip("'")
        matching = [
            item
            for item in items
            if all(item.get(name) in values for name, values in terms.items())
            and (item.get("currencyCode") == currency or not self.shared.filter_currency)
        ]
        skip = int(query.get("$skip", "0") or 0)
        page = matching[skip : skip + self.shared.page_size]
        next_link = None
        if skip + self.shared.page_size < len(matching) or endless:
            params = {k: v for k, v in query.items() if k != "$skip"}
            params["$skip"] = str(skip + self.shared.page_size)
            next_link = f"http://{self.headers.get('Host')}/api/retail/prices?{urlencode(params, safe='$')}"
        self._send(
            200,
            {
                "BillingCurrency": currency,
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": page,
                "NextPageLink": next_link,
                "Count": len(page),
            },
        )

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
