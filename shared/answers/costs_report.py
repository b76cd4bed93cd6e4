"""The fleet's bill summed per owner (chargeback): compute, disks and IPs, total and avoided, per group.

Estimates are billed hours times the retail hourly price cached by the price refresh; disks and IPs at the
cached rates (``answers.whole_bill``). Answers only read the caches. A VM without a price gets no amount,
counted apart in its group, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.answers._fleet import VmWindow, fleet_windows
from shared.answers.costs import all_prices, totals_of
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
    month and 1,000 rows), then its disks and IPs (one query per 1,000 VMs that hold any); plus one query
    for the prices and one for the disk and IP rates. VMs that did not exist in the window are left
    out.
    """
    prices = all_prices(ledger, currency)
    attached: AttachedView | None = None
    subscriptions = [subscription_id.lower()] if subscription_id else sorted(ledger.list_subscriptions())
    charges: list[VmCharge] = []
    fetched: list[datetime] = []
    for subscription in subscriptions:
        rows = list(ledger.iter_current_rows(subscription))
        if not rows:
            continue
        windows = fleet_windows(ledger, rows, start, end, as_of, whole_subscriptions=True)
        attached = attached_for_subscription(ledger, currency, subscription, attached)
        for row, window in zip(rows, windows, strict=True):
            if not _existed(window):
                continue
            totals = totals_of(window, start)
            bill = whole_bill(row, totals, start, min(end, as_of), prices, attached)
            cost = bill.compute
            if cost.price_as_of is not None:
                fetched.append(cost.price_as_of)
            charges.append(
                VmCharge(
                    row.vm.subscription_id,
                    row.vm.resource_group,
                    row.profile.spec.tags if row.profile.spec else {},
                    totals.billed_seconds,
                    totals.unknown_seconds,
                    cost.amount,
                    ChargeExtra(
                        bill.attached.amount,
                        bill.attached.monthly,
                        bill.total.amount,
                        bill.avoided.amount,
                        bill.avoided.seconds,
                    ),
                )
            )
    return CostsReport(
        start,
        end,
        as_of,
        group_by,
        currency,
        chargeback(group_by, charges),
        min(fetched) if fetched else None,
    )


def _existed(window: VmWindow) -> bool:
    states = [window.state_at_start, *(change.state for change in window.changes)]
    return any(state is not None and not state.deleted for state in states)
