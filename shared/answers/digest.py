"""The daily digest: one UTC day's billed hours and estimated cost, its top VMs, and the findings now.

Billed seconds and costs come from the month rows as ``/costs`` reads them (``iter_window_costs``), the
findings from the rules over current rows (``findings_page``): one pass over the fleet each, whatever the
histories. The total cost sums the VMs that have a price; ``unpriced_vms`` says how many had none.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from shared.answers.costs import VmWindowCost, all_prices, iter_window_costs
from shared.answers.findings import VmFinding, all_findings
from shared.domain.findings import RULES, FindingKind, Thresholds
from shared.store import Ledger

TOP = 10


@dataclass(frozen=True)
class DailyDigest:
    day: date
    as_of: datetime
    currency: str
    vms: int
    billed_seconds: float
    estimated_cost: Decimal
    unpriced_vms: int
    top_by_billed: list[VmWindowCost]
    top_by_cost: list[VmWindowCost]
    finding_counts: dict[FindingKind, int]
    stopped_but_billed: list[VmFinding]  # every one, costliest first (the body shows the top)


def daily_digest(
    ledger: Ledger, day: date, *, as_of: datetime, currency: str, thresholds: Thresholds
) -> DailyDigest:
    """The digest of ``day`` (UTC midnight to midnight), with the findings as they are at ``as_of``."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    prices = all_prices(ledger, currency)
    costs = list(iter_window_costs(ledger, start, start + timedelta(days=1), as_of, prices))
    priced = [item for item in costs if item.cost.amount is not None]
    findings = list(all_findings(ledger, thresholds=thresholds, as_of=as_of, currency=currency))
    counts = Counter(item.finding.kind for item in findings)
    stopped = [item for item in findings if item.finding.kind is FindingKind.STOPPED_BUT_BILLED]
    return DailyDigest(
        day=day,
        as_of=as_of,
        currency=currency,
        vms=len(costs),
        billed_seconds=sum(item.billed_seconds for item in costs),
        estimated_cost=sum((item.cost.amount or Decimal(0) for item in priced), Decimal(0)),
        unpriced_vms=len(costs) - len(priced),
        top_by_billed=heapq.nlargest(TOP, costs, key=lambda item: item.billed_seconds),
        top_by_cost=heapq.nlargest(TOP, priced, key=lambda item: item.cost.amount or Decimal(0)),
        finding_counts={kind: counts.get(kind, 0) for kind in RULES},
        stopped_but_billed=sorted(stopped, key=_costliest),
    )


def _costliest(item: VmFinding) -> tuple[Decimal, float]:
    return (-(item.cost.amount or Decimal(0)), -item.finding.billed_hours)
