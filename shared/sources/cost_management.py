"""Cost Management - Query: each resource's daily cost and usage quantity, as the bill says.

``POST {arm}/subscriptions/{id}/providers/Microsoft.CostManagement/query?api-version=2025-03-01`` through the
same azure-core pipeline as the Resource Manager client (same credential and token scope, capped retries,
deadlines). The body asks for ``granularity`` ``Daily`` over a custom period, grouped by ``ResourceId`` and
``MeterCategory``, summing ``Cost`` and ``UsageQuantity``, of the compute meter categories only. Rows are
arrays in the order of ``properties.columns``: they are read by column name. The next page is the same body
POSTed to ``properties.nextLink``; each query reads at most ``MAX_PAGES`` pages, a link must stay on the
endpoint and never repeat, and any failure raises ``ListingError``, so a partial bill is never taken for a
whole one.

A 429 names its waits in ``x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant}-retry-after`` (seconds;
the quotas are per tenant): the pipeline waits for the longest, within the request's cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest

from shared.domain.actuals import BillRow, CostType
from shared.domain.ids import require_part
from shared.errors import ConfigurationError
from shared.settings import check_endpoint
from shared.sources._pager import ListingError, origin_of, read_json_page
from shared.sources._pipeline import CredentialSource, LazyPipeline, build_pipeline
from shared.sources.bill_rows import parse_query_page

API_VERSION = "2025-03-01"
# One month of daily rows for every resource and meter category of a subscription: 5,000 rows a page
# (the service's page) makes 100 pages 500,000 rows, far above any fleet measured here.
MAX_PAGES = 100
# Compute, and the meters of what the inventory sees a VM hold: managed disks ("Storage") and public IPs
# ("Virtual Network"), the services the Retail Prices name for the meters the whole bill prices.
METER_CATEGORIES = ("Virtual Machines", "Virtual Machines Licenses", "Storage", "Virtual Network")
RETRY_AFTER_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{quota}-retry-after" for quota in ("qpu", "entity", "tenant")
)


class CostManagementClient:
    """Queries one subscription's daily costs, page by page, counting the requests it sends."""

    def __init__(
        self,
        endpoint: str,
        credential: CredentialSource | None = None,
        *,
        retry_total: int = 5,
        retry_backoff_factor: float = 0.8,
        timeout: float = 60.0,
        max_retry_wait: float = 60.0,
        page_timeout: float = 180.0,
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        self._endpoint = endpoint.strip().rstrip("/")
        emulated = check_endpoint(self._endpoint, "the ARM endpoint")
        if credential is None and not emulated:
            raise ConfigurationError(f"the ARM endpoint {self._endpoint} needs a credential")
        self._timeout = timeout
        self._pipeline = LazyPipeline(
            lambda: build_pipeline(
                self._endpoint,
                credential=credential,
                scope=None if emulated else f"{self._endpoint}/.default",
                retry_total=retry_total,
                retry_backoff_factor=retry_backoff_factor,
                transport=transport,
                max_retry_wait=max_retry_wait,
                total_timeout=page_timeout,
                fallback_retry_after=throttle_wait,
                read_only_posts=True,
            )  # fmt: skip
        )
        self.requests_sent = 0

    def daily_costs(
        self,
        subscription_id: str,
        cost_type: CostType,
        first_day: date,
        last_day: date,
        *,
        deadline: float | None = None,
    ) -> Iterator[BillRow]:
        """Every (resource, meter category, day) row of ``[first_day, last_day]`` (UTC days, inclusive)."""
        sub = require_part("subscriptionId", subscription_id).lower()
        url = f"{self._endpoint}/subscriptions/{sub}/providers/Microsoft.CostManagement/query"
        body = query_body(cost_type, first_day, last_day)
        subject = f"{cost_type.value} of subscription {sub}"
        request = HttpRequest("POST", url, params={"api-version": API_VERSION}, json=body)
        origin, followed = origin_of(url), set[str]()
        for pages_read in range(MAX_PAGES):
            self.requests_sent += 1
            _, answer = read_json_page(
                self._pipeline.get(), request, subject, pages_read, self._timeout, deadline
            )
            try:
                rows, link = parse_query_page(answer)
            except ValueError as err:
                raise ListingError(subject, pages_read, f"malformed answer: {err}") from err
            yield from rows
            if link is None:
                return
            if origin_of(link) != origin:
                raise ListingError(subject, pages_read + 1, "the next link points outside the endpoint")
            if link in followed:
                raise ListingError(subject, pages_read + 1, "the next link repeats a page already read")
            followed.add(link)
            request = HttpRequest("POST", link, json=body)
        raise ListingError(subject, MAX_PAGES, f"more pages after {MAX_PAGES:,}, the most it reads")

    def close(self) -> None:
        self._pipeline.close()


def query_body(cost_type: CostType, first_day: date, last_day: date) -> dict[str, Any]:
    """The ``QueryDefinition`` of one period: daily cost and quantity per resource and meter category."""
    return {
        "type": cost_type.value,
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{first_day.isoformat()}T00:00:00Z",
            "to": f"{last_day.isoformat()}T23:59:59Z",
        },
        "dataset": {
            "granularity": "Daily",
            # Only the meters compared with the ledger: other services' rows would multiply the pages for
            # nothing. Storage and networking rows of resources no VM holds still come, and are dropped.
            "filter": {
                "dimensions": {"name": "MeterCategory", "operator": "In", "values": list(METER_CATEGORIES)}
            },
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": [
                {"type": "Dimension", "name": "ResourceId"},
                {"type": "Dimension", "name": "MeterCategory"},
            ],
        },
    }


def throttle_wait(response: Any) -> float | None:
    """The longest of a 429's Cost Management retry-after headers, in seconds (``None``: none usable)."""
    if getattr(response, "status_code", None) != 429:
        return None
    waits = []
    for name in RETRY_AFTER_HEADERS:
        try:
            waits.append(float(response.headers.get(name, "")))
        except ValueError:
            continue
    return max(waits) if waits else None
