"""The fleet's bill summed per owner (chargeback): compute, disks and IPs, total and avoided, per group.

Estimates are billed hours times the retail hourly price cached by the price refresh; disks and IPs at the
cached rates (``answers.whole_bill``). Answers only read the caches. A VM without a price gets no amount,
counted apart in its group, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.answers._days import fleet_day_totals
from shared.answers._fleet import accrual_end
from shared.answers.actuals import billed_in, fleet_shares, load_bill
from shared.answers.costs import PriceView, all_prices
from shared.answers.whole_bill import AttachedView, attached_estimate, attached_for_subscription, whole_bill
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

    One subscription at a time: its current rows (one query per 1,000 VMs), its stored actuals (one query
    per 1,000 resource-months), then its day rows (one query per month and 1,000 VMs: each day apart for
    the VMs whose resource the bill covers, their estimate per billed day) and, for a window's partial
    first and last days, the month rows of their months; then its disks and IPs (one query per 1,000 VMs
    that hold any); plus one query for the prices and one for the disk and IP rates. VMs that did not
    exist in the window are left out.
    """
    prices = all_prices(ledger, currency)
    subscriptions = [subscription_id.lower()] if subscription_id else sorted(ledger.list_subscriptions())
    fetched: list[datetime] = []
    views: list[AttachedView] = []  # the last subscription's, to pass the rates on
    charges = (
        charge
        for subscription in subscriptions
        for charge in _charges(ledger, subscription, (start, end, as_of), prices, views, fetched)
    )
    groups = chargeback(group_by, charges)  # folded as they come: one subscription's rows held at a time
    return CostsReport(start, end, as_of, group_by, currency, groups, min(fetched) if fetched else None)


def _charges(
    ledger: Ledger,
    subscription: str,
    window: tuple[datetime, datetime, datetime],
    prices: PriceView,
    views: list[AttachedView],
    fetched: list[datetime],
) -> list[VmCharge]:
    """The charges of one subscription's VMs that existed in the window (whole days from day rows); the
    oldest price time among them goes to ``fetched`` (one per subscription, not one per VM)."""
    start, end, as_of = window
    rows = list(ledger.iter_current_rows(subscription))
    if not rows:
        return []
    stored = load_bill(ledger, subscription, start, accrual_end(start, end, as_of))
    answers = fleet_day_totals(
        ledger, rows, start, end, as_of, whole_subscriptions=True, by_day=billed_in(stored)
    )
    existed = [(row, answer) for row, answer in zip(rows, answers, strict=True) if answer.existed]
    if existed and (not views or subscription not in views[-1].subscriptions):  # read when a VM needs them
        previous = views[-1] if views else None
        views[:] = [attached_for_subscription(ledger, prices.currency, subscription, previous)]
    bills = [
        whole_bill(row, answer.totals, start, min(end, as_of), prices, views[-1]) for row, answer in existed
    ]
    shares = fleet_shares(
        ledger,
        [row for row, _ in existed],
        [answer for _, answer in existed],
        window,
        [bill.compute.hourly_price for bill in bills],
        attached_estimate(views[-1]) if views else None,
        stored,
    )
    times = [bill.compute.price_as_of for bill in bills if bill.compute.price_as_of is not None]
    if times:
        fetched.append(min(times))
    charges = []
    for (row, answer), bill, share in zip(existed, bills, shares, strict=True):
        totals = answer.totals
        extra = ChargeExtra(
            bill.attached.amount, bill.attached.monthly, bill.total.amount, bill.avoided.amount,
            bill.avoided.seconds,
        )  # fmt: skip
        tags = row.profile.spec.tags if row.profile.spec else {}
        vm = row.vm
        charges.append(
            VmCharge(
                vm.subscription_id, vm.resource_group, tags, totals.billed_seconds, totals.unknown_seconds,
                bill.compute.amount, extra=extra, bill=share,
            )
        )  # fmt: skip
    return charges
