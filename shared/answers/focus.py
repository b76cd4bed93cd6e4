"""One row per VM and UTC day for a FOCUS-aligned export: what an estimate knows, and the bill's amounts
where the stored actuals have them.

A row is written for every day of the window a VM billed time in the ledger or the bill charged it.
Quantities are hours; list price and list cost are the retail price the estimate used (``price_as_of``);
billed and effective cost are the bill's actual and amortized cost of the day, left empty where the bill
has not covered the day (and for Uniform instances, whose compute the bill charges to the scale set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from shared.answers._days import billed_per_day
from shared.answers.actuals import HOUR
from shared.answers.costs import all_prices, iter_window_costs
from shared.domain.actuals import DAY, day_start
from shared.domain.inventory import Priority
from shared.domain.pricing import cost_of
from shared.store import CurrentRow, Ledger


@dataclass(frozen=True)
class VmDay:
    current: CurrentRow
    day: date
    start: datetime
    end: datetime
    hours: float
    hourly_price: Decimal | None
    list_cost: Decimal | None
    price_as_of: datetime | None
    billed_cost: Decimal | None  # the bill's actual cost of the day
    effective_cost: Decimal | None  # the bill's amortized cost of the day
    spot: bool
    tags: Mapping[str, str]


def vm_days(
    ledger: Ledger,
    subscription_id: str | None,
    start: datetime,
    end: datetime,
    as_of: datetime,
    currency: str,
) -> list[VmDay]:
    """The window's VM-days in VM key order, then day order (the same reads as ``costs_report``)."""
    prices = all_prices(ledger, currency)
    found: list[VmDay] = []
    for vm in iter_window_costs(ledger, start, end, as_of, prices, subscription_id, with_bill=True):
        row, spec, cost = vm.current, vm.current.profile.spec, vm.cost
        price = cost.hourly_price
        own_bill = row.vm.scale_set is None
        for day, seconds in sorted(billed_per_day(vm.window, start).items()):
            bill = vm.bill.get(day) if own_bill else None
            if seconds <= 0 and bill is None:
                continue
            found.append(
                VmDay(
                    row, day, max(day_start(day), start), min(day_start(day) + DAY, end), seconds / HOUR,
                    price.amount if price else None, cost_of(seconds, price) if price else None,
                    cost.price_as_of, bill.actual if bill else None, bill.amortized if bill else None,
                    spec is not None and spec.priority is Priority.SPOT, spec.tags if spec else {},
                )
            )  # fmt: skip
    return found
