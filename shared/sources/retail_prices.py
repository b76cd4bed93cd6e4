"""Azure Retail Prices API client: hourly pay-as-you-go VM meters for given regions and sizes.

``GET {endpoint}/api/retail/prices?api-version=2023-01-01-preview&currencyCode='USD'&$filter=...``,
anonymous (no credential is built or sent), paged with ``NextPageLink`` (null on the last page) through
the same guarded pager as every Azure list API: origin check on each link, loop guard, and a
``ListingError`` for a listing that stops part way (the caller then keeps the prices it had). Filter
values are case-sensitive from 2023-01-01-preview: sizes are sent as ARM lists them, regions in lower
case, as ``armRegionName`` is. Values are checked against ARM's naming before they go into a filter.
An item is ignored, and counted in one warning per fetch, when it is malformed, in another currency than
asked, or an hourly VM meter whose ``retailPrice`` is not a JSON number from 0 to ``max_hourly_price``
(Python's json reads ``Infinity`` and ``NaN``); a listing with items but none usable fails as a whole.
Source of the shape: Learn, "Azure Retail Prices REST API overview" (tests/data/published/retail_prices).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from azure.core import PipelineClient
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.domain.attached_pricing import ATTACHED_DISK_PRODUCTS, DISK_SERVICE, IP_PRODUCT, IP_SERVICE
from shared.domain.pricing import (
    CONSUMPTION,
    SERVICE_NAME,
    PriceItem,
    is_believable_hourly_price,
    max_hourly_price,
    prices_vm_time,
)
from shared.domain.times import parse_time
from shared.settings import check_endpoint
from shared.sources._pager import ListingError, iter_pages
from shared.sources._pipeline import LazyPipeline, build_pipeline

logger = logging.getLogger(__name__)

PRICES_PATH = "/api/retail/prices"
API_VERSION = "2023-01-01-preview"
SIZES_PER_QUERY = 10  # keeps the filter, and the URL, short
# One query's meters (ten sizes in one region, a few dozen each): 10,000 items even at 100 a page.
MAX_PRICE_PAGES = 100
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def prices_page(body: Any) -> tuple[list[Any], str | None]:
    """The ``Items`` array and ``NextPageLink`` of a Retail Prices page; ``ValueError`` otherwise."""
    if not isinstance(body, Mapping):
        raise ValueError(f"a Retail Prices page is a JSON object, got {type(body).__name__}")
    items = body.get("Items")
    if not isinstance(items, list):
        raise ValueError("a Retail Prices page needs an 'Items' array")
    link = body.get("NextPageLink")
    if link is not None and not isinstance(link, str):
        raise ValueError(f"'NextPageLink' must be a string or null, got {type(link).__name__}")
    return items, link or None


def price_item(entry: Any) -> PriceItem | None:
    """One item, or ``None`` when a field the meter choice needs is missing or malformed."""
    if not isinstance(entry, Mapping):
        return None
    try:
        price = _number(entry["retailPrice"])
        tier = _number(entry.get("tierMinimumUnits", 0))
        effective = entry.get("effectiveStartDate")
        return PriceItem(
            arm_region_name=_required(entry, "armRegionName"),
            arm_sku_name=_required(entry, "armSkuName"),
            product_name=_required(entry, "productName"),
            sku_name=_required(entry, "skuName"),
            meter_name=_required(entry, "meterName"),
            price_type=_required(entry, "type"),
            unit_of_measure=_required(entry, "unitOfMeasure"),
            retail_price=price,
            currency=_required(entry, "currencyCode"),
            effective_start=parse_time(effective) if isinstance(effective, str) else None,
            tier_minimum_units=tier,
            service_name=entry.get("serviceName") or SERVICE_NAME,
            is_primary_meter_region=entry.get("isPrimaryMeterRegion") is not False,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None


def usable_item(entry: Any, currency: str) -> PriceItem | None:
    """``price_item``, or ``None`` also for an item in another currency than ``currency`` or an hourly VM
    meter whose price cannot be true."""
    item = price_item(entry)
    if item is None or item.currency != currency:
        return None
    if prices_vm_time(item) and not is_believable_hourly_price(item.retail_price, currency):
        return None
    return item


def _number(value: Any) -> Decimal:
    """A finite JSON number, exactly; not a string, a boolean, ``NaN`` or an infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {type(value).__name__}")
    amount = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not amount.is_finite():
        raise ValueError("not a finite number")
    return amount


def _required(entry: Mapping[str, Any], name: str) -> str:
    value = entry[name]
    if not isinstance(value, str):
        raise TypeError(name)
    return value


class RetailPricesClient:
    """Reads hourly Consumption prices for (region, size) pairs; built lazily, no credential ever."""

    def __init__(
        self,
        endpoint: str,
        currency: str,
        *,
        retry_total: int = 5,
        retry_backoff_factor: float = 0.8,
        timeout: float = 60.0,
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        self._endpoint = endpoint.strip().rstrip("/")
        check_endpoint(self._endpoint, "the Retail Prices endpoint")
        self.currency = currency.upper()
        self._retry_total = retry_total
        self._retry_backoff_factor = retry_backoff_factor
        self._timeout = timeout
        self._transport = transport
        self._pipelines = LazyPipeline(self._build_pipeline)

    def fetch(self, pairs: Iterable[tuple[str, str]], *, deadline: float | None = None) -> list[PriceItem]:
        """Every item for the pairs' regions and sizes (all effective dates: the caller picks the one in
        force), one listing per region and ten sizes.

        Raises ``ListingError`` if any listing stops part way (a failed page, more than
        ``MAX_PRICE_PAGES`` pages, ``deadline`` passed): a partial price list is not used.
        """
        by_region: dict[str, set[str]] = {}
        for region, size in pairs:
            if _NAME.match(region or "") and _NAME.match(size or ""):
                by_region.setdefault(region.lower(), set()).add(size)
            else:
                logger.warning(
                    "no price lookup for region %r, size %r: not ARM names", region[:80], size[:80]
                )
        items: list[PriceItem] = []
        ignored = 0
        for region, sizes in sorted(by_region.items()):
            ordered = sorted(sizes)
            for start in range(0, len(ordered), SIZES_PER_QUERY):
                listed, skipped = self._listing(region, ordered[start : start + SIZES_PER_QUERY], deadline)
                items += listed
                ignored += skipped
        if ignored:
            logger.warning(
                "retail prices in %s: %s item(s) ignored: malformed, in another currency, or an hourly "
                "price that is not a number from 0 to %s",
                self.currency, ignored, max_hourly_price(self.currency),
            )  # fmt: skip
        return items

    def fetch_attached(self, regions: Iterable[str], *, deadline: float | None = None) -> list[PriceItem]:
        """The disk and public IP items of ``regions`` (``shared.domain.attached_pricing`` picks the meters):
        two listings per region, ``ListingError`` if either stops part way."""
        products = " or ".join(f"productName eq '{product}'" for product in ATTACHED_DISK_PRODUCTS)
        items: list[PriceItem] = []
        for region in sorted({region.lower() for region in regions if _NAME.match(region or "")}):
            where = f"priceType eq '{CONSUMPTION}' and armRegionName eq '{region}'"
            queries = [
                (f"serviceName eq '{DISK_SERVICE}' and {where} and ({products})", f"disk prices in {region}"),
                (
                    f"serviceName eq '{IP_SERVICE}' and {where} and productName eq '{IP_PRODUCT}'",
                    f"IP prices in {region}",
                ),
            ]
            for query, subject in queries:
                items += self._query(query, subject, deadline)[0]
        return items

    def _listing(self, region: str, sizes: list[str], deadline: float | None) -> tuple[list[PriceItem], int]:
        """The usable items of one listing and how many were ignored; ``ListingError`` if none is usable."""
        skus = " or ".join(f"armSkuName eq '{size}'" for size in sizes)
        query = (
            f"serviceName eq '{SERVICE_NAME}' and priceType eq '{CONSUMPTION}' "
            f"and armRegionName eq '{region}' and ({skus})"
        )
        return self._query(query, f"retail prices of {len(sizes)} size(s) in {region}", deadline)

    def _query(self, query: str, subject: str, deadline: float | None) -> tuple[list[PriceItem], int]:
        first = HttpRequest(
            "GET",
            self._endpoint + PRICES_PATH,
            params={"api-version": API_VERSION, "currencyCode": f"'{self.currency}'", "$filter": query},
        )
        pages = iter_pages(
            self._pipeline(),
            first,
            subject=subject,
            next_link=lambda body: prices_page(body)[1],
            timeout=self._timeout,
            max_pages=MAX_PRICE_PAGES,
            deadline=deadline,
        )
        items: list[PriceItem] = []
        ignored = pages_read = 0
        for body in pages:
            pages_read += 1
            for entry in prices_page(body)[0]:
                item = usable_item(entry, self.currency)
                if item is None:
                    ignored += 1
                else:
                    items.append(item)
        if ignored and not items:
            raise ListingError(subject, pages_read, f"no usable item among its {ignored}")
        return items, ignored

    def close(self) -> None:
        self._pipelines.close()

    def _pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        return self._pipelines.get()

    def _build_pipeline(self) -> PipelineClient[HttpRequest, HttpResponse]:
        # scope=None: the API is anonymous, so no credential is built and no token is sent.
        return build_pipeline(
            self._endpoint,
            credential=None,
            scope=None,
            retry_total=self._retry_total,
            retry_backoff_factor=self._retry_backoff_factor,
            transport=self._transport,
            allowed_query_params=["api-version", "currencyCode", "$filter", "$skip"],
        )
