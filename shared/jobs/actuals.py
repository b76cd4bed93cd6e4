"""Refresh one subscription's actual cost per resource and UTC day from Cost Management.

The days not yet final are asked again each time: on the first run (nothing stored for the subscription
in the current and previous month) both months, then the last ``LOOKBACK_DAYS`` days, since Cost
Management's data arrives 8 to 24 hours late and is revised. Each calendar month is one daily query per
cost type (``ActualCost``, ``AmortizedCost``). Only the resources the ledger knows are kept: its VMs' and
their Uniform scale sets' compute (the bill puts an instance's usage under its set), and the disks and
public IPs the inventory saw its VMs hold (kept per VM apart from compute: ``domain.attached_actuals``).
Each compute day keeps the ledger's billed hours of that day beside the bill's (a scale set's: the sum of
its instances), which is what the ``billingDrift`` finding compares; days before the ledger's first record
of a resource, or not over for ``COMPARE_AFTER`` yet, have none. A failed query stores nothing: the days
are asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from shared.domain.actuals import (
    BillRow,
    CostType,
    DayActual,
    billed_resource_id,
    drift_days,
    resource_key,
    roll_up,
)
from shared.domain.attached_actuals import AttachedOwners, attached_key
from shared.domain.times import month_of, month_start, next_month
from shared.sources import CostManagementClient
from shared.store import CurrentRow, Ledger, ResourceDays

logger = logging.getLogger(__name__)

LOOKBACK_DAYS = 5
# A day's bill is compared with the ledger once the day has been over this long: before, Cost Management
# may not have all of it yet (it arrives 8 to 24 hours late), and a partial day would read as drift.
COMPARE_AFTER = timedelta(hours=24)

# The ledger's billed hours per UTC day of each row, from the first day to the last (the read side's).
DailyHours = Callable[[Ledger, Sequence[CurrentRow], date, date, datetime], list[dict[date, float]]]


@dataclass(frozen=True)
class ActualsReport:
    first_day: date
    last_day: date
    resources: int
    rows_written: int
    drifting_days: int

    def summary(self) -> str:
        return (
            f"{self.first_day}..{self.last_day}: {self.resources} resource(s) billed, "
            f"{self.rows_written} row(s) written, {self.drifting_days} drifting day(s)"
        )


def refresh_actuals(
    ledger: Ledger,
    costs: CostManagementClient,
    subscription: str,
    *,
    now: datetime,
    daily_hours: DailyHours,
    deadline: float | None = None,
) -> ActualsReport:
    """Ask Cost Management for the days not yet final and store them; ``ListingError`` if a query fails."""
    rows = list(ledger.iter_current_rows(subscription))
    today = now.date()
    first_day = _first_day(ledger, subscription, now)
    resource_ids = {resource_key(row.vm): billed_resource_id(row.vm) for row in rows}
    key_of = {resource_id: key for key, resource_id in resource_ids.items()}.get
    owners = _attached_owners(ledger, subscription, rows, resource_ids)
    actual: list[BillRow] = []
    amortized: list[BillRow] = []
    for first, last in _month_spans(first_day, today):
        actual += costs.daily_costs(subscription, CostType.ACTUAL, first, last, deadline=deadline)
        amortized += costs.daily_costs(subscription, CostType.AMORTIZED, first, last, deadline=deadline)
    billed = roll_up(actual, amortized, key_of, owners.owner_on)
    with_hours = _with_ledger_hours(billed, ledger, rows, first_day, today, now, daily_hours)
    written = ledger.actuals.save(subscription, resource_ids, with_hours, now)
    drifting = sum(len(drift_days(days.values())) for days in with_hours.values())
    return ActualsReport(first_day, today, len(billed), written, drifting)


def _attached_owners(
    ledger: Ledger, subscription: str, rows: Sequence[CurrentRow], resource_ids: dict[str, str]
) -> AttachedOwners:
    """Who held each disk and IP, from the inventory (one range query per 1,000 VMs that hold any); the
    VMs' resource ids added to ``resource_ids`` under their attached keys."""
    vms = {row.vm.vm_key: row.vm for row in rows}
    held = {key: kept for key, kept in ledger.attached.load_subscription(subscription).items() if key in vms}
    for key in held:
        resource_ids[attached_key(key)] = vms[key].resource_id.lower()
    return AttachedOwners(held)


def _first_day(ledger: Ledger, subscription: str, now: datetime) -> date:
    this_month = month_of(now)
    previous = month_of(month_start(this_month) - timedelta(days=1))
    if not ledger.actuals.load(subscription, previous, this_month):
        return month_start(previous).date()
    return now.date() - timedelta(days=LOOKBACK_DAYS - 1)


def _month_spans(first: date, last: date) -> list[tuple[date, date]]:
    """``[first, last]`` cut at calendar months (a daily query covers at most one)."""
    spans = []
    while first <= last:
        following = month_start(next_month(first.strftime("%Y-%m"))).date()
        spans.append((first, min(last, following - timedelta(days=1))))
        first = following
    return spans


def _with_ledger_hours(
    billed: ResourceDays,
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    first_day: date,
    last_day: date,
    now: datetime,
    daily_hours: DailyHours,
) -> ResourceDays:
    """``billed`` with each day's ledger hours: the VM's, or the sum of a scale set's instances."""
    chosen = [row for row in rows if resource_key(row.vm) in billed]
    hours: dict[str, dict[date, float]] = {}
    for row, per_day in zip(chosen, daily_hours(ledger, chosen, first_day, last_day, now), strict=True):
        totals = hours.setdefault(resource_key(row.vm), {})
        known_from = row.span.first_time.date()  # before its first record the ledger knows nothing of it
        for day, value in per_day.items():
            if day >= known_from:
                totals[day] = totals.get(day, 0.0) + value
    comparable = (now - COMPARE_AFTER).date() - timedelta(days=1)  # the last day over for 24 hours
    return {
        key: {
            day: _set_hours(actual, hours.get(key, {}).get(day) if day <= comparable else None)
            for day, actual in days.items()
        }
        for key, days in billed.items()
    }


def _set_hours(actual: DayActual, ledger_hours: float | None) -> DayActual:
    return replace(actual, ledger_hours=ledger_hours)
