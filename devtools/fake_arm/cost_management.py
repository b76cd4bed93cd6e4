"""The fake ARM's Cost Management Query (``POST /subscriptions/{id}/providers/Microsoft.CostManagement/
query``), answering a daily query grouped by resource and meter category in the published shape
(``tests/data/published/cost_management/``): ``properties.columns`` (the aggregations' names first, then the
groupings, ``UsageDate`` as a ``Number`` ``yyyymmdd``, ``Currency`` last), ``properties.rows`` in that
order, and ``nextLink`` to the same path with a ``$skiptoken`` while rows remain.

It is no query engine: it serves the rows a test put in ``CostState.bills`` for the subscription and cost
type (``ActualCost`` or ``AmortizedCost``) whose day lies in ``timePeriod`` and whose meter category a
``MeterCategory`` ``In`` filter names (case-insensitively), ``page_rows`` a page. With
``throttle`` above 0 the next queries answer 429 with the three retry-after headers Cost Management sends
(seconds, ``throttle_seconds``), and no ``Retry-After``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

API_VERSION = "2025-03-01"
RETRY_AFTER_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{quota}-retry-after" for quota in ("qpu", "entity", "tenant")
)


@dataclass(frozen=True)
class BillLine:
    """One row the fake serves: a resource's meter category on one day."""

    resource_id: str
    meter_category: str
    day: date
    cost: float
    quantity: float
    currency: str = "USD"


@dataclass
class CostState:
    # (subscription lower-cased, cost type) -> lines
    bills: dict[tuple[str, str], list[BillLine]] = field(default_factory=dict)
    page_rows: int = 1000
    throttle: int = 0
    throttle_seconds: tuple[float, float, float] = (1.0, 0.0, 0.0)
    throttled: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_bill(self, subscription_id: str, cost_type: str, lines: list[BillLine]) -> None:
        with self.lock:
            self.bills[(subscription_id.lower(), cost_type)] = list(lines)

    def take_throttle(self) -> dict[str, str] | None:
        """The headers of a 429 if this query is to be throttled."""
        with self.lock:
            if self.throttle <= 0:
                return None
            self.throttle -= 1
            self.throttled += 1
            return {
                name: f"{wait:g}"
                for name, wait in zip(RETRY_AFTER_HEADERS, self.throttle_seconds, strict=True)
            }


def load_bill_file(path: Path, state: CostState) -> None:
    """``{"<subscriptionId>": {"ActualCost": [line, ...], "AmortizedCost": [...]}}``, each line
    ``{resourceId, meterCategory, day (YYYY-MM-DD), cost, quantity, currency}``, into ``state`` (the demo)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for subscription, by_type in data.items():
        for cost_type, lines in by_type.items():
            state.set_bill(subscription, cost_type, [
                BillLine(line["resourceId"], line["meterCategory"], date.fromisoformat(line["day"]),
                         float(line["cost"]), float(line["quantity"]), line.get("currency", "USD"))
                for line in lines
            ])  # fmt: skip


def answer(
    base_url: str, subscription_id: str, request: Mapping[str, Any], offset: int, state: CostState
) -> tuple[int, dict[str, Any]]:
    """The status and body answering one page of a query."""
    period = request.get("timePeriod") or {}
    cost_type = request.get("type")
    try:
        first, last = date.fromisoformat(period["from"][:10]), date.fromisoformat(period["to"][:10])
    except (KeyError, TypeError, ValueError):
        return 400, _error("BadRequest", "A custom timeframe needs timePeriod.from and timePeriod.to.")
    if cost_type not in ("ActualCost", "AmortizedCost"):
        return 400, _error("BadRequest", "Unsupported type.")
    with state.lock:
        lines = list(state.bills.get((subscription_id.lower(), str(cost_type)), []))
    wanted = _meter_categories(request)
    lines = sorted(
        (line for line in lines if first <= line.day <= last and _kept(line, wanted)),
        key=lambda line: (line.day, line.resource_id.lower(), line.meter_category),
    )
    page = lines[offset : offset + state.page_rows]
    following = offset + state.page_rows
    next_link = None
    if following < len(lines):
        next_link = f"{base_url}?{urlencode({'api-version': API_VERSION, '$skiptoken': str(following)})}"
    return 200, {
        "id": f"subscriptions/{subscription_id}/providers/Microsoft.CostManagement/query/fake",
        "name": "fake",
        "type": "Microsoft.CostManagement/query",
        "properties": {
            "nextLink": next_link,
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "UsageQuantity", "type": "Number"},
                {"name": "ResourceId", "type": "String"},
                {"name": "MeterCategory", "type": "String"},
                {"name": "UsageDate", "type": "Number"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": [
                [
                    line.cost,
                    line.quantity,
                    line.resource_id.lower(),
                    line.meter_category,
                    int(line.day.strftime("%Y%m%d")),
                    line.currency,
                ]
                for line in page
            ],
        },
    }


def _meter_categories(request: Mapping[str, Any]) -> set[str] | None:
    """The meter categories a ``MeterCategory`` ``In`` filter of the query keeps (lower-cased); ``None``
    when the query has no such filter."""
    dataset = request.get("dataset") or {}
    dimensions = (dataset.get("filter") or {}).get("dimensions") or {}
    if str(dimensions.get("name", "")).lower() != "metercategory" or dimensions.get("operator") != "In":
        return None
    return {str(value).lower() for value in dimensions.get("values") or []}


def _kept(line: BillLine, wanted: set[str] | None) -> bool:
    return wanted is None or line.meter_category.lower() in wanted


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
