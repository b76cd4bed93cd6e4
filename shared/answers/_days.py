"""Many VMs' billed, unknown and deallocated seconds over one window, summing whole UTC days.

The whole days of the window come from the day rows (one range query per month and 1,000 VMs, one row
per VM and month whatever its rate of transitions) and the open day on each current row; only the two
partial days at the window's edges are replayed from month rows (``_fleet``). So the time and memory of a
fleet answer grow with VMs x days, not with transitions. A VM whose day rows cannot answer (no open day on
its current row: rows written before day rows existed, or a rewrite waiting for the timer's rebuild; or a
closed day missing) is answered from its transitions, as before: the totals are the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shared.answers._fleet import VmWindow, accrual_end, fleet_windows, window_months
from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.days import UTC_DAY, DayTotals, day_start, exists, held, whole_day
from shared.store import CurrentRow, Ledger, decode_state


@dataclass(frozen=True)
class VmTotals:
    """A VM's seconds in a window, and whether it existed at any instant of it."""

    totals: WindowTotals
    existed: bool


def of_window(window: VmWindow, start: datetime) -> VmTotals:
    changes = ((change.time, change.state) for change in window.changes)
    states = [window.state_at_start, *(change.state for change in window.changes)]
    return VmTotals(
        window_totals(window.state_at_start, changes, start, window.accrue_until),
        any(exists(state) for state in states),
    )


def fleet_day_totals(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    whole_subscriptions: bool = False,
) -> list[VmTotals]:
    """Every row's totals over ``[start, end)`` accrued until ``as_of``, in the order of ``rows`` (key
    order, one subscription or several)."""
    accrue_until = accrual_end(start, end, as_of)
    window_months(start, accrue_until)  # the bound on months, checked before anything is read
    first_whole = _ceil_day(start)
    after_whole = day_start(accrue_until.date())
    if first_whole >= after_whole:  # no whole day inside: replay it all
        windows = fleet_windows(ledger, rows, start, end, as_of, whole_subscriptions=whole_subscriptions)
        return [of_window(window, start) for window in windows]
    marked = [row for row in rows if row.upkeep.days is not None and row.upkeep.months is not None]
    head = _edge(ledger, marked, start, first_whole, as_of, whole_subscriptions)
    tail = _edge(ledger, marked, after_whole, accrue_until, as_of, whole_subscriptions)
    days = _whole_days(
        ledger, marked, first_whole.date(), (after_whole - UTC_DAY).date(), whole_subscriptions
    )
    unanswered = [row for row in rows if id(row) not in days]
    replayed = dict(zip(map(id, unanswered), _replayed(ledger, unanswered, start, end, as_of), strict=True))
    answers: list[VmTotals] = []
    for row in rows:
        key = id(row)
        summed = days.get(key)
        if summed is None:
            answers.append(replayed[key])
            continue
        parts = [part for part in (head.get(key), tail.get(key)) if part is not None]
        answers.append(
            VmTotals(
                WindowTotals(
                    summed.billed_seconds + sum(part.totals.billed_seconds for part in parts),
                    summed.unknown_seconds + sum(part.totals.unknown_seconds for part in parts),
                    summed.deallocated_seconds + sum(part.totals.deallocated_seconds for part in parts),
                ),
                summed.present or any(part.existed for part in parts),
            )
        )
    return answers


def _ceil_day(at: datetime) -> datetime:
    midnight = day_start(at.date())
    return midnight if midnight == at else midnight + UTC_DAY


def _edge(
    ledger: Ledger, rows: list[CurrentRow], start: datetime, end: datetime, as_of: datetime, whole: bool
) -> dict[int, VmTotals]:
    """The partial day ``[start, end)``: from the current row when it tells (no transition inside, or the
    open day's totals reach it), else replayed from month rows; nothing when it is empty."""
    if not rows or start >= end:
        return {}
    found = {id(row): told for row in rows if (told := _told(row, start, end)) is not None}
    replay = [row for row in rows if id(row) not in found]
    if replay:
        windows = fleet_windows(ledger, replay, start, end, as_of, whole_subscriptions=whole)
        found.update({id(row): of_window(window, start) for row, window in zip(replay, windows, strict=True)})
    return found


def _told(row: CurrentRow, start: datetime, end: datetime) -> VmTotals | None:
    """A partial day's totals from the current row alone, when it knows them."""
    open_day, last_time, state = row.upkeep.days, row.span.last_time, row.condition.state
    if last_time < start:  # nothing recorded since before it: the state held throughout
        return _as_totals(held(state, start, end))
    if open_day is not None and start == day_start(open_day.day) and last_time < end:
        return _as_totals(open_day.running.plus(held(state, last_time, end)))
    return None


def _as_totals(totals: DayTotals) -> VmTotals:
    seconds = WindowTotals(totals.billed_seconds, totals.unknown_seconds, totals.deallocated_seconds)
    return VmTotals(seconds, totals.present)


def _whole_days(
    ledger: Ledger, rows: list[CurrentRow], first: date, last: date, whole: bool
) -> dict[int, DayTotals]:
    """Each row's whole days ``first``..``last`` summed; rows with a closed day missing are left out."""
    summed: dict[int, DayTotals] = {}
    for subscription in dict.fromkeys(row.vm.subscription_key for row in rows):
        mine = [row for row in rows if row.vm.subscription_key == subscription]
        keys = [row.vm.vm_key for row in mine]
        first_key, last_key = (None, None) if whole else (min(keys), max(keys))
        stored = ledger.months.sum_days(
            subscription, first, last, first_vm_key=first_key, last_vm_key=last_key
        )
        for row in mine:
            total = _row_days(row, first, last, stored.get(row.vm.vm_key, (DayTotals(), 0)))
            if total is not None:
                summed[id(row)] = total
    return summed


def _row_days(row: CurrentRow, first: date, last: date, stored: tuple[DayTotals, int]) -> DayTotals | None:
    open_day, mark = row.upkeep.days, row.upkeep.months
    assert open_day is not None and mark is not None
    first_day = row.span.first_time.date()
    closed_from, closed_to = max(first, first_day), min(last, open_day.day - UTC_DAY)
    expected = max((closed_to - closed_from).days + 1, 0)
    total, found = stored
    if found != expected:
        return None  # a closed day's totals are missing (rows lost): the transitions answer
    before_first = decode_state(mark.before_first, day_start(first))
    state_now, last_time = row.condition.state, row.span.last_time
    day = first
    while day <= last:
        if not closed_from <= day <= closed_to:
            counted = whole_day(day, first_day, before_first, open_day, last_time, state_now, None)
            assert counted is not None
            total = total.plus(counted)
        day += UTC_DAY
    return total


def _replayed(
    ledger: Ledger, rows: list[CurrentRow], start: datetime, end: datetime, as_of: datetime
) -> list[VmTotals]:
    """The whole window replayed, as before day rows (month rows, or each VM's transitions)."""
    if not rows:
        return []
    return [of_window(window, start) for window in fleet_windows(ledger, rows, start, end, as_of)]
