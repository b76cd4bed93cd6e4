"""The bill beside the estimate, read side: the ledger's billed hours per VM and UTC day (whole days from
the day rows, as every fleet answer reads them: ``_days.fleet_daily_billed``), and each VM's share of what
the stored actuals say over a window, its disks' and IPs' beside.

A Uniform instance's compute is billed under its scale set: the set's actual cost is one resource's, set
beside the sum of its instances' estimates (the first instance of the set in key order carries the set's
actual, the others only their estimates for the days it covers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from shared.answers._days import VmTotals, billed_per_day, fleet_daily_billed
from shared.answers._fleet import VmWindow, accrual_end
from shared.answers.reports import VmReport
from shared.domain.actuals import (
    DAY,
    BillShare,
    DayActual,
    GroupBill,
    day_start,
    days_between,
    resource_key,
)
from shared.domain.attached_actuals import AttachedShare, attached_key, day_runs
from shared.domain.pricing import HourlyPrice, cost_of
from shared.domain.times import months_touched
from shared.store import CurrentRow, Ledger, ResourceDays

HOUR = 3600.0

NO_ATTACHED = AttachedShare()
# The estimate (``attachedCost``'s rates) of a VM's disks and IPs over ``[start, end)``; ``None``: unknown.
AttachedEstimate = Callable[[CurrentRow, datetime, datetime], Decimal | None]


def daily_billed_hours(
    ledger: Ledger, rows: Sequence[CurrentRow], first_day: date, last_day: date, as_of: datetime
) -> list[dict[date, float]]:
    """Each row's billed hours per UTC day of ``[first_day, last_day]`` (key order, like ``rows``), from the
    day rows (``fleet_daily_billed``)."""
    start, end = day_start(first_day), day_start(last_day) + DAY
    per_day = fleet_daily_billed(ledger, rows, start, end, as_of, whole_subscriptions=True)
    return [{day: seconds / HOUR for day, seconds in seconds.items()} for seconds in per_day]


def vm_actuals(
    row: CurrentRow,
    window: VmWindow,
    start: datetime,
    bill: Mapping[date, DayActual],
    price: HourlyPrice | None,
    *,
    carries_set: bool = True,
    attached: AttachedShare = NO_ATTACHED,
) -> BillShare:
    """``row``'s actuals over ``[start, window.accrue_until)`` from its resource's stored days ``bill``."""
    until = window.accrue_until
    seconds = billed_per_day(window, start) if until > start else {}
    return share_of(row, seconds, (start, until), bill, price, carries_set=carries_set, attached=attached)


def share_of(
    row: CurrentRow,
    seconds: Mapping[date, float],
    span: tuple[datetime, datetime],
    bill: Mapping[date, DayActual],
    price: HourlyPrice | None,
    *,
    carries_set: bool = True,
    attached: AttachedShare = NO_ATTACHED,
) -> BillShare:
    """``row``'s actuals over ``span`` (start, accrued until) from its billed ``seconds`` per UTC day and
    its resource's stored days ``bill``: the bill's days beside the estimate of the same days."""
    start, until = span
    days = days_between(start, until) if until > start else []
    covered = tuple(day for day in days if day in bill)
    same = sum((seconds.get(day, 0.0) for day in covered), 0.0)
    rest = sum((value for day, value in seconds.items() if day not in bill), 0.0)
    carries = carries_set or row.vm.scale_set is None
    chosen = [bill[day] for day in covered]
    billed = carries and bool(chosen)
    return BillShare(
        covered,
        sum((day.actual for day in chosen), Decimal(0)) if billed else None,
        _amortized(chosen) if billed else None,
        sum(day.hours for day in chosen) if billed else None,
        chosen[0].currency if chosen else None,
        cost_of(same, price) if price is not None else None,
        cost_of(rest, price) if price is not None else None,
        attached,
    )


def attached_share(
    row: CurrentRow,
    bill: Mapping[date, DayActual],
    start: datetime,
    until: datetime,
    estimate_of: AttachedEstimate | None,
) -> AttachedShare:
    """``row``'s disks' and IPs' bill over ``[start, until)`` from their stored days ``bill``, beside the
    estimate of exactly the days it covers (each run of consecutive days priced as one stretch)."""
    days = days_between(start, until) if until > start else []
    covered = tuple(day for day in days if day in bill)
    if not covered:
        return NO_ATTACHED
    chosen = [bill[day] for day in covered]
    estimate: Decimal | None = None
    if estimate_of is not None:
        runs = [
            (max(start, day_start(first)), min(until, day_start(last) + DAY))
            for first, last in day_runs(covered)
        ]
        amounts = [estimate_of(row, lo, hi) for lo, hi in runs]
        if all(amount is not None for amount in amounts):
            estimate = sum((amount for amount in amounts if amount is not None), Decimal(0))
    actual = sum((day.actual for day in chosen), Decimal(0))
    return AttachedShare(covered, actual, _amortized(chosen), chosen[0].currency, estimate)


def _amortized(days: Sequence[DayActual]) -> Decimal | None:
    if any(day.amortized is None for day in days):
        return None
    return sum((day.amortized or Decimal(0) for day in days), Decimal(0))


def load_bill(
    ledger: Ledger, subscription: str, start: datetime, end: datetime
) -> dict[str, dict[date, DayActual]]:
    """The stored actuals of ``subscription``'s resources for the months ``[start, end)`` touches: one
    range query per 1,000 resource-months."""
    months = months_touched(start, max(start, end))
    return ledger.actuals.load(subscription, months[0], months[-1])


def first_of_sets(rows: Sequence[CurrentRow]) -> set[str]:
    """The VM keys of the rows that carry their scale set's actual: each set's first instance."""
    seen: set[str] = set()
    carriers = set()
    for row in rows:
        key = resource_key(row.vm)
        if key.startswith("set|") and key not in seen:
            seen.add(key)
            carriers.add(row.vm.vm_key)
    return carriers


def vm_bill(
    ledger: Ledger, report: VmReport, price: HourlyPrice | None, attached: AttachedEstimate | None = None
) -> GroupBill | None:
    """One VM's bill beside its estimate over the report's window, compute and disks and IPs (one range
    query); ``None`` for a Uniform instance, whose compute the bill charges to its scale set."""
    vm = report.current.vm
    if vm.scale_set is not None:
        return None
    start, until = report.start, report.window.accrue_until
    months = months_touched(start, max(start, until))
    found = ledger.actuals.load_prefixed(vm.subscription_key, resource_key(vm), months[0], months[-1])
    kept = attached_share(report.current, found.get(attached_key(vm.vm_key), {}), start, until, attached)
    bill = GroupBill()
    days = found.get(resource_key(vm), {})
    bill.add(vm_actuals(report.current, report.window, start, days, price, attached=kept))
    return bill


def fleet_shares(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    answers: Sequence[VmTotals],
    window: tuple[datetime, datetime, datetime],
    prices: Sequence[HourlyPrice | None],
    attached: AttachedEstimate | None = None,
    bill: ResourceDays | None = None,
) -> list[BillShare]:
    """Each row's share of its subscription's stored actuals ``bill`` (read when not given) over ``window``
    (start, end, as of), in the order of ``rows`` (one subscription, key order), from its totals in
    ``answers``; its disks and IPs beside (``attached`` prices their estimate). Only the VMs whose resource
    the bill covers need their seconds per day: ``fleet_day_totals`` reads them with the totals when asked
    (``billed_in``), else they are read here from the day rows (``fleet_daily_billed``); the others'
    compute estimate is all unbilled."""
    start, end, as_of = window
    if not rows:
        return []
    until = accrual_end(start, end, as_of)
    bill = bill if bill is not None else load_bill(ledger, rows[0].vm.subscription_key, start, until)
    carriers = first_of_sets(rows)
    billed = [index for index, row in enumerate(rows) if resource_key(row.vm) in bill]
    per_day = {index: known for index in billed if (known := answers[index].billed_by_day) is not None}
    missing = [index for index in billed if index not in per_day]
    if missing:
        read = fleet_daily_billed(
            ledger, [rows[index] for index in missing], start, end, as_of, whole_subscriptions=True
        )
        per_day.update(zip(missing, read, strict=True))
    shares = []
    for index, (row, answer, price) in enumerate(zip(rows, answers, prices, strict=True)):
        held = bill.get(attached_key(row.vm.vm_key))
        kept = attached_share(row, held, start, until, attached) if held else NO_ATTACHED
        seconds = per_day.get(index)
        if seconds is None:
            shares.append(_unbilled(answer.totals.billed_seconds, price, kept))
            continue
        days = bill[resource_key(row.vm)]
        carries = row.vm.vm_key in carriers
        shares.append(share_of(row, seconds, (start, until), days, price, carries_set=carries, attached=kept))
    return shares


def billed_in(bill: ResourceDays) -> Callable[[CurrentRow], bool]:
    """Whether the bill covers a row's compute in the window: the rows whose seconds per day it needs."""
    return lambda row: resource_key(row.vm) in bill


def page_bills(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    billed_seconds: Sequence[float],
    window: tuple[datetime, datetime, datetime],
    prices: Sequence[HourlyPrice | None],
    attached: AttachedEstimate | None = None,
    windows: Sequence[VmWindow | None] | None = None,
) -> list[GroupBill | None]:
    """Each row's bill beside its estimate over ``window`` (start, end, as of), for a page of VMs (key
    order): one range query of the stored actuals per subscription on the page, and the day rows of the
    VMs the bill covers (``fleet_daily_billed``: one query per month, the edge days' month rows when the
    current row cannot tell them; none when the page's ``windows`` are given). ``None`` for a
    Uniform instance, whose compute the bill charges to its scale set (as ``vm_bill``)."""
    start, end, as_of = window
    until = accrual_end(start, end, as_of)
    months = months_touched(start, max(start, until))
    own = [row for row in rows if row.vm.scale_set is None]
    bill: dict[tuple[str, str], dict[date, DayActual]] = {}
    for subscription in dict.fromkeys(row.vm.subscription_key for row in own):
        keys = [resource_key(row.vm) for row in own if row.vm.subscription_key == subscription]
        found = ledger.actuals.load_keys(subscription, keys, months[0], months[-1])
        bill.update({(subscription, key): days for key, days in found.items()})
    covered = [index for index, row in enumerate(rows) if _days(bill, row, resource_key(row.vm))]
    given = list(windows) if windows is not None else [None] * len(rows)
    replayed = {index: billed_per_day(read, start) for index in covered if (read := given[index]) is not None}
    missing = [index for index in covered if index not in replayed]
    if missing:
        chosen = fleet_daily_billed(ledger, [rows[index] for index in missing], start, end, as_of)
        replayed.update(zip(missing, chosen, strict=True))
    bills: list[GroupBill | None] = []
    for index, (row, seconds, price) in enumerate(zip(rows, billed_seconds, prices, strict=True)):
        if row.vm.scale_set is not None:
            bills.append(None)
            continue
        held = _days(bill, row, attached_key(row.vm.vm_key))
        kept = attached_share(row, held, start, until, attached) if held else NO_ATTACHED
        replay = replayed.get(index)
        if replay is None:
            share = _unbilled(seconds, price, kept)
        else:
            days = _days(bill, row, resource_key(row.vm))
            share = share_of(row, replay, (start, until), days, price, attached=kept)
        group = GroupBill()
        group.add(share)
        bills.append(group)
    return bills


def _days(
    bill: Mapping[tuple[str, str], dict[date, DayActual]], row: CurrentRow, key: str
) -> dict[date, DayActual]:
    return bill.get((row.vm.subscription_key, key), {})


def _unbilled(seconds: float, price: HourlyPrice | None, attached: AttachedShare) -> BillShare:
    """The share of a VM whose compute the bill does not cover in the window: all its estimate unbilled."""
    same = cost_of(0.0, price) if price is not None else None
    unbilled = cost_of(seconds, price) if price is not None else None
    return BillShare((), None, None, None, None, same, unbilled, attached)
