"""``GET costs?format=focus``: one CSV row per VM and UTC day with FOCUS column names.

"FOCUS-aligned", not FOCUS: FOCUS requires billing columns an estimate cannot know (billing account,
invoice, commitment discounts...). The columns below are filled honestly from what the ledger knows:
the charge period, the resource, its region, subscription and tags, quantities in hours, the list price
and list cost of the estimate, and ``BilledCost`` / ``EffectiveCost`` from Cost Management's actual and
amortized cost of the day where the bill has covered it (else empty). ``x_CostSource`` says whether the
row's cost is the bill's (``actual``) or only the estimate's (``estimate``); ``x_ListPriceAsOf`` names
when the price was fetched. Load it as a dataset of its own, never into a FinOps hub's Costs (see
docs/costs.md).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from shared.answers.focus import VmDay
from shared.domain.times import format_time

FOCUS_FORMAT = "focus"
FOCUS_COLUMNS = (
    "ChargePeriodStart", "ChargePeriodEnd", "ResourceId", "ResourceName", "ResourceType", "RegionId",
    "SubAccountId", "Tags", "ServiceCategory", "ServiceName", "ChargeCategory", "PricingCategory",
    "PricingQuantity", "PricingUnit", "ConsumedQuantity", "ConsumedUnit", "ListUnitPrice", "ListCost",
    "BilledCost", "EffectiveCost", "BillingCurrency", "x_CostSource", "x_ListPriceAsOf", "x_EstimatedCost",
)  # fmt: skip
VM_TYPE = "microsoft.compute/virtualmachines"
INSTANCE_TYPE = "microsoft.compute/virtualmachinescalesets/virtualmachines"


def focus_row(item: VmDay, currency: str) -> dict[str, Any]:
    vm, spec = item.current.vm, item.current.profile.spec
    billed = item.billed_cost is not None
    return {
        "ChargePeriodStart": format_time(item.start),
        "ChargePeriodEnd": format_time(item.end),
        "ResourceId": vm.resource_id.lower(),
        "ResourceName": vm.display_name,
        "ResourceType": INSTANCE_TYPE if vm.scale_set is not None else VM_TYPE,
        "RegionId": spec.location.lower() if spec and spec.location else None,
        "SubAccountId": vm.subscription_key,
        "Tags": json.dumps(dict(item.tags), sort_keys=True, separators=(",", ":")),
        "ServiceCategory": "Compute",
        "ServiceName": "Virtual Machines",
        "ChargeCategory": "Usage",
        "PricingCategory": "Dynamic" if item.spot else "Standard",
        "PricingQuantity": round(item.hours, 6),
        "PricingUnit": "Hours",
        "ConsumedQuantity": round(item.hours, 6),
        "ConsumedUnit": "Hours",
        "ListUnitPrice": _amount(item.hourly_price),
        "ListCost": _amount(item.list_cost),
        "BilledCost": _amount(item.billed_cost),
        "EffectiveCost": _amount(item.effective_cost),
        "BillingCurrency": currency,
        "x_CostSource": "actual" if billed else "estimate",
        "x_ListPriceAsOf": format_time(item.price_as_of) if item.price_as_of else None,
        "x_EstimatedCost": _amount(item.list_cost),
    }


def _amount(value: Decimal | None) -> str | None:
    """An amount as plain decimal text, without trailing zeros or an exponent."""
    return None if value is None else format(value.normalize(), "f")
