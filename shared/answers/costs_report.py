"""The fleet's bill summed per owner (chargeback): compute, disks and IPs, total and avoided, per group.

Estimates are billed hours times the retail hourly price cached by the price refresh; disks and IPs at the
cached rates (``answers.whole_bill``). Answers only read the caches. A VM without a price gets no amount,
counted apart in its group, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.answers.actuals import vm_actuals
from shared.answers.costs import all_prices, iter_window_costs
from shared.answers.whole_bill import AttachedView, attached_for_subscription, whole_bill
from shared.domain.chargeback import ChargeExtra, GroupBy, GroupTotal, VmCharge, chargeback
from shared.store import Ledger


@dataclass(frozen=True)
class CostsReport:
    start: datetime
    end: datetime
    as_of: datetime
    group_by: GroupBy
    currency: str
    groups: list[GroupTotal]
    prices_as_of: datetime | None  # the oldest fetch among the prices used


def costs_report(
    ledger: Ledger,
    group_by: GroupBy,
    start: datetime,
    end: datetime,
    as_of: datetime,
    currency: str,
    subscription_id: str | None = None,
) -> CostsReport:
    """Billed and unknown hours, estimated cost, the whole bill and VM count per group over ``[start, end)``.

    Per subscription: its current rows (one query per 1,000 VMs), then its month rows (one query per
    month and 1,000 rows), then its stored actuals (one query per 1,000 resource-months), then its disks
    and IPs (one query per 1,000 VMs that hold any); plus one query
    for the prices and one for the disk and IP rates. VMs that did not exist in the window are left
    out.
    """
    prices = all_prices(ledger, currency)
    view: AttachedView | None = None
    charges: list[VmCharge] = []
    fetched: list[datetime] = []
    for item in iter_window_costs(ledger, start, end, as_of, prices, subscription_id, with_bill=True):
        row = item.current
        if view is None or row.vm.subscription_key not in view.subscriptions:
            view = attached_for_subscription(ledger, currency, row.vm.subscription_key, view)
        bill = whole_bill(row, item.totals, start, min(end, as_of), prices, view)
        if item.cost.price_as_of is not None:
            fetched.append(item.cost.price_as_of)
        extra = ChargeExtra(
            bill.attached.amount,
            bill.attached.monthly,
            bill.total.amount,
            bill.avoided.amount,
            bill.avoided.seconds,
        )
        share = vm_actuals(
            row, item.window, start, item.bill, item.cost.hourly_price, carries_set=item.carries_set
        )
        tags = row.profile.spec.tags if row.profile.spec else {}
        vm = row.vm
        charges.append(
            VmCharge(
                vm.subscription_id, vm.resource_group, tags, item.billed_seconds, item.unknown_seconds,
                item.cost.amount, extra=extra, bill=share,
            )
        )  # fmt: skip
    return CostsReport(
        start,
        end,
        as_of,
        group_by,
        currency,
        chargeback(group_by, charges),
        min(fetched) if fetched else None,
    )
