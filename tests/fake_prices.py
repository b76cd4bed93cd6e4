"""A small fake of the Azure Retail Prices API on loopback (``GET /api/retail/prices``).

It answers pages of ``Items`` with ``NextPageLink`` (``$skip``, null on the last page) in the envelope
``domain.md`` §8 lists (``BillingCurrency``, ``CustomerEntityId``, ``CustomerEntityType``, ``Items``,
``NextPageLink``, ``Count``). Items are copies of a published Learn sample item
(``tests/data/published/retail_prices``) with the region, size, names, type and price changed: see
``meter``. It filters on ``armRegionName`` and ``armSkuName`` terms of ``$filter`` and ignores
``priceType``, as a published capture shows reservation rows returned despite ``priceType eq
'Consumption'``, so the client's own type check is exercised. It records every request (to show that no
``Authorization`` header is ever sent) and can answer 429 or an error status.

As a script (for the demo), it serves a JSON catalogue file (an array of items)::

    python -m tests.fake_prices --port 0 --catalogue samples/retail-prices.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fake_arm import RecordedRequest, _wait_for_stop_signal
from tests.loopback import LoopbackServer

PUBLISHED = Path(__file__).resolve().parent / "data" / "published" / "retail_prices"
_TERM = re.compile(r"(armRegionName|armSkuName) eq '([^']*)'")


def published_item() -> dict[str, Any]:
    """Learn's sample Consumption item (Windows F16s Spot, westeurope, EUR), as published."""
    return json.loads((PUBLISHED / "learn_sample_item_eur_consumption.json").read_text())


def meter(
    region: str,
    size: str,
    price: str | float,
    *,
    windows: bool = False,
    spot: bool = False,
    low: bool = False,
    price_type: str = "Consumption",
    currency: str = "USD",
    reservation_term: str | None = None,
    product: str | None = None,
    effective: str | None = None,
) -> dict[str, Any]:
    """The published item with the fields of another meter: ``Standard_D2s_v5`` -> ``D2s v5 [Spot]``.

    ``product`` replaces the product name built from the size (e.g. "Dasv5 Series Cloud Services"),
    ``effective`` the published ``effectiveStartDate``.
    """
    short = size.removeprefix("Standard_").replace("_", " ")
    series = short.split(" ", 1)[0].rstrip("0123456789")
    sku = short + (" Spot" if spot else " Low Priority" if low else "")
    identity = f"{region}|{size}|{sku}|{windows}|{price_type}" + (f"|{product}" if product else "")
    item = published_item()
    item.update(
        currencyCode=currency,
        retailPrice=float(price),
        unitPrice=float(price),
        armRegionName=region,
        armSkuName=size,
        skuName=sku,
        meterName=sku,
        productName=product or f"Virtual Machines {series} Series" + (" Windows" if windows else ""),
        type=price_type,
        meterId="fake-" + identity.lower().replace("|", "-").replace(" ", "-"),
        skuId="FAKE/" + hashlib.sha256(identity.encode()).hexdigest()[:4],
    )
    if effective is not None:
        item["effectiveStartDate"] = effective
    if reservation_term is not None:
        item["reservationTerm"] = reservation_term
    return item


def d2as_v5_uksouth_gbp() -> list[dict[str, Any]]:
    """The 13 items a captured real answer lists for ``Standard_D2as_v5`` in uksouth in GBP.

    Each is the published item (``meter``) with the captured product, meter, type, price and effective
    date (facts recorded in ``tests/data/published/retail_prices/SOURCES.md``): pay-as-you-go, Low
    Priority and Spot rows of the Linux and Windows products, their DevTest and reservation rows, and the
    two "Dasv5 Series Cloud Services" rows, which carry the Windows prices and a later date.
    """
    vm, windows, cloud = (
        "Virtual Machines Dasv5 Series",
        "Virtual Machines Dasv5 Series Windows",
        "Dasv5 Series Cloud Services",
    )
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (cloud, "0.059783", dict(low=True, effective="2023-10-01T00:00:00Z")),
        (vm, "0.010119", dict(spot=True, effective="2024-08-01T00:00:00Z")),
        (cloud, "0.149457", dict(effective="2023-10-01T00:00:00Z")),
        (vm, "0.077842", {}),
        (vm, "402.444246", dict(price_type="Reservation", reservation_term="1 Year")),
        (vm, "777.643716", dict(price_type="Reservation", reservation_term="3 Years")),
        (windows, "0.059783", dict(low=True, windows=True)),
        (windows, "0.015568", dict(low=True, windows=True, price_type="DevTestConsumption")),
        (vm, "0.015568", dict(low=True)),
        (windows, "0.149457", dict(windows=True)),
        (windows, "0.077842", dict(windows=True, price_type="DevTestConsumption")),
        (windows, "0.019429", dict(spot=True, windows=True, effective="2024-08-01T00:00:00Z")),
        (windows, "0.010119", dict(spot=True, windows=True, price_type="DevTestConsumption",
                                   effective="2024-08-01T00:00:00Z")),
    ]  # fmt: skip
    options: dict[str, Any] = dict(currency="GBP", effective="2021-11-01T00:00:00Z")
    return [
        meter("uksouth", "Standard_D2as_v5", price, product=product, **{**options, **extra})
        for product, price, extra in rows
    ]


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
    disable_nagle_algorithm = True  # see tests.fake_arm
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_prices", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--catalogue", type=Path, required=True, help="JSON array of price items")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    items = json.loads(args.catalogue.read_text(encoding="utf-8"))
    with FakePrices(items, page_size=args.page_size, port=args.port) as fake:
        print(fake.url, flush=True)
        _wait_for_stop_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
