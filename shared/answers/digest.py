"""The daily digest: one UTC day's billed hours and estimated cost, the time billed while stopped (paid
for nothing), its top VMs, the findings now, and the whole bill's parts (``digest_bill``): the monthly
residual of deallocated VMs and of unattached disks, and what stopping VMs saved that day.

Billed seconds and costs come from the month rows as ``/costs`` reads them (``iter_window_costs``, with the
day's stored actuals: the bill beside the estimate), the finding counts and the ``billingDrift`` findings
from the rules over current rows (``all_findings``), disks and IPs from one range per subscription: one
pass over the fleet each, whatever the histories. A total cost sums the VMs that have
a price; ``unpriced_vms`` says how many had none.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from shared.answers.actuals import vm_actuals
from shared.answers.costs import PriceView, VmWindowCost, all_prices, estimate, iter_window_costs
from shared.answers.digest_bill import DigestBill, digest_bill
from shared.answers.findings import VmFinding, all_findings
from shared.domain.actuals import GroupBill
from shared.domain.findings import ALL_KINDS, FindingKind, Thresholds
from shared.domain.pricing import CostEstimate
from shared.store import Ledger

TOP = 10


@dataclass(frozen=True)
class DailyDigest:
    day: date
    as_of: datetime
    currency: str
    vms: int
    billed_seconds: float
    estimated_cost: Decimal | None  # of the VMs with a price; ``None`` when none has one
    unpriced_vms: int
    top_by_billed: list[VmWindowCost]
    top_by_cost: list[VmWindowCost]
    finding_counts: dict[FindingKind, int]  # now, at ``as_of``
    stopped: list[StoppedDay]  # VMs billed while stopped that day, costliest first
    bill: DigestBill  # deallocated VMs' and unattached disks' monthly residual, the day's savings
    actuals: GroupBill  # the stored actuals of the day beside the estimate of the VMs the bill covers
    drifts: list[VmFinding]  # the billingDrift findings now, latest day first


@dataclass(frozen=True)
class StoppedDay:
    """A VM's seconds of the day billed while stopped (allocated), and their estimated cost."""

    item: VmWindowCost
    seconds: float
    cost: CostEstimate


def daily_digest(
    ledger: Ledger, day: date, *, as_of: datetime, currency: str, thresholds: Thresholds
) -> DailyDigest:
    """The digest of ``day`` (UTC midnight to midnight), with the findings as they are at ``as_of``."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    prices = all_prices(ledger, currency)
    costs = list(iter_window_costs(ledger, start, start + timedelta(days=1), as_of, prices, with_bill=True))
    priced = [item for item in costs if item.cost.amount is not None]
    # A top list of VMs that billed nothing says nothing.
    billed = [item for item in costs if item.billed_seconds > 0]
    findings = all_findings(ledger, thresholds=thresholds, as_of=as_of, currency=currency)
    bill = digest_bill(ledger, costs, prices, as_of=as_of, thresholds=thresholds)
    found = list(findings)
    counts = Counter(item.finding.kind for item in found)
    counts[FindingKind.UNATTACHED_DISK] = len(bill.unattached)
    stopped = [_stopped(item, prices) for item in costs if item.stopped_billed_seconds > 0]
    return DailyDigest(
        day=day,
        as_of=as_of,
        currency=currency,
        vms=len(costs),
        billed_seconds=sum(item.billed_seconds for item in costs),
        estimated_cost=priced_total([item.cost for item in costs]),
        unpriced_vms=len(costs) - len(priced),
        top_by_billed=heapq.nlargest(TOP, billed, key=lambda item: item.billed_seconds),
        top_by_cost=heapq.nlargest(TOP, priced, key=lambda item: item.cost.amount or Decimal(0)),
        finding_counts={kind: counts.get(kind, 0) for kind in ALL_KINDS},
        stopped=sorted(stopped, key=_costliest),
        bill=bill,
        actuals=_day_bill(costs, start),
        drifts=sorted((item for item in found if item.finding.drift is not None), key=_latest_drift),
    )


def _day_bill(costs: list[VmWindowCost], start: datetime) -> GroupBill:
    """The day's stored actuals beside the estimate of the same VMs (from what ``costs`` already read)."""
    bill = GroupBill()
    for item in costs:
        price = item.cost.hourly_price
        bill.add(vm_actuals(item.current, item.window, start, item.bill, price, carries_set=item.carries_set))
    return bill


def _latest_drift(item: VmFinding) -> tuple[int, float]:
    drift = item.finding.drift
    if drift is None:
        return (0, 0.0)
    return (-drift.day.toordinal(), -abs(drift.bill_hours - drift.ledger_hours))


def _stopped(item: VmWindowCost, prices: PriceView) -> StoppedDay:
    seconds = item.stopped_billed_seconds
    return StoppedDay(item, seconds, estimate(item.current, seconds, prices))


def _costliest(item: StoppedDay) -> tuple[Decimal, float]:
    return (-(item.cost.amount or Decimal(0)), -item.seconds)


def priced_total(costs: list[CostEstimate]) -> Decimal | None:
    """The sum of the amounts known; ``None`` when none is (never a 0 that only means "no price")."""
    amounts = [cost.amount for cost in costs if cost.amount is not None]
    return sum(amounts, Decimal(0)) if amounts else None
