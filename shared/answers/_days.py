"""Many VMs' billed, unknown and deallocated seconds over one window, summing whole UTC days.

The whole days of the window come from the day rows (one range query per month and 1,000 VMs, one row
per VM and month whatever its rate of transitions) and the open day on each current row; only the two
partial days at the window's edges are replayed from month rows (``_fleet``). So the time and memory of a
fleet answer grow with VMs x days, not with transitions. A VM whose day rows cannot answer (no open day on
its current row: rows written before day rows existed, or a rewrite waiting for the timer's rebuild; or a
closed day missing) is answered from its transitions, as before: the totals are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shared.answers._fleet import VmWindow, accrual_end, fleet_windows, window_months
from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.actuals import daily_billed_seconds
from shared.domain.days import UTC_DAY, DayTotals, day_start, exists, held, whole_day
from shared.store import CurrentRow, Ledger, decode_state


def _never(_row: CurrentRow) -> bool:
    return False


@dataclass(frozen=True)
class VmTotals:
    """A VM's seconds in a window, and whether it existed at any instant of it; ``billed_by_day`` (when
    asked for) its billed seconds per UTC day the window touches."""

    totals: WindowTotals
    existed: bool
    billed_by_day: dict[date, float] | None = None


def of_window(window: VmWindow, start: datetime, *, by_day: bool = False) -> VmTotals:
    changes = ((change.time, change.state) for change in window.changes)
    states = [window.state_at_start, *(change.state for change in window.changes)]
    return VmTotals(
        window_totals(window.state_at_start, changes, start, window.accrue_until),
        any(exists(state) for state in states),
        billed_per_day(window, start) if by_day else None,
    )


def billed_per_day(window: VmWindow, start: datetime) -> dict[date, float]:
    """A replayed window's billed seconds per UTC day."""
    changes = ((change.time, change.state) for change in window.changes)
    return daily_billed_seconds(window.state_at_start, changes, start, window.accrue_until)


def fleet_day_totals(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    whole_subscriptions: bool = False,
    by_day: Callable[[CurrentRow], bool] = _never,
) -> list[VmTotals]:
    """Every row's totals over ``[start, end)`` accrued until ``as_of``, in the order of ``rows`` (key
    order, one subscription or several); for the rows ``by_day`` picks, their billed seconds per day too
    (each whole day from its day row: the same reads)."""
    accrue_until = accrual_end(start, end, as_of)
    window_months(start, accrue_until)  # the bound on months, checked before anything is read
    first_whole = _ceil_day(start)
    after_whole = day_start(accrue_until.date())
    if first_whole >= after_whole:  # no whole day inside: replay it all
        windows = fleet_windows(ledger, rows, start, end, as_of, whole_subscriptions=whole_subscriptions)
        return [
            of_window(window, start, by_day=by_day(row)) for row, window in zip(rows, windows, strict=True)
        ]
    marked = [row for row in rows if row.upkeep.days is not None and row.upkeep.months is not None]
    head = _edge(ledger, marked, start, first_whole, as_of, whole_subscriptions)
    tail = _edge(ledger, marked, after_whole, accrue_until, as_of, whole_subscriptions)
    first_day, last_day = first_whole.date(), (after_whole - UTC_DAY).date()
    days, daily = _read_days(ledger, marked, first_day, last_day, whole_subscriptions, by_day)
    unanswered = [row for row in rows if id(row) not in days]
    again = _replayed(ledger, unanswered, start, end, as_of, by_day)
    replayed = dict(zip(map(id, unanswered), again, strict=True))
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
                _with_edges(daily[key], (start, head.get(key)), (after_whole, tail.get(key)))
                if key in daily
                else None,
            )
        )
    return answers


def fleet_daily_billed(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    whole_subscriptions: bool = False,
) -> list[dict[date, float]]:
    """Every row's billed seconds per UTC day of ``[start, end)`` accrued until ``as_of`` (every day the
    window touches), as ``fleet_day_totals`` reads them: the same seconds as replaying every transition, in
    reads that grow with VMs x days."""
    answers = fleet_day_totals(
        ledger, rows, start, end, as_of, whole_subscriptions=whole_subscriptions, by_day=lambda _row: True
    )
    return [answer.billed_by_day or {} for answer in answers]


def _with_edges(
    per_day: dict[date, DayTotals], *edges: tuple[datetime, VmTotals | None]
) -> dict[date, float]:
    billed = {day: totals.billed_seconds for day, totals in per_day.items()}
    for edge_start, edge in edges:
        if edge is not None:
            billed[edge_start.date()] = edge.totals.billed_seconds
    return dict(sorted(billed.items()))


def _sum(days: Iterable[DayTotals]) -> DayTotals:
    total = DayTotals()
    for day in days:
        total = total.plus(day)
    return total


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
    return _read_days(ledger, rows, first, last, whole, _never)[0]


def _read_days(
    ledger: Ledger,
    rows: list[CurrentRow],
    first: date,
    last: date,
    whole: bool,
    by_day: Callable[[CurrentRow], bool],
) -> tuple[dict[int, DayTotals], dict[int, dict[date, DayTotals]]]:
    """Each row's whole days ``first``..``last`` summed, and each apart for the rows ``by_day`` picks
    (one read of the day rows either way); rows with a closed day missing are left out of both."""
    summed: dict[int, DayTotals] = {}
    daily: dict[int, dict[date, DayTotals]] = {}
    for subscription in dict.fromkeys(row.vm.subscription_key for row in rows):
        mine = [row for row in rows if row.vm.subscription_key == subscription]
        keys = [row.vm.vm_key for row in mine]
        first_key, last_key = (None, None) if whole else (min(keys), max(keys))
        each_of = {row.vm.vm_key for row in mine if by_day(row)}
        stored, apart = ledger.months.sum_days(
            subscription, first, last, first_vm_key=first_key, last_vm_key=last_key, each_of=each_of
        )
        for row in mine:
            if row.vm.vm_key in each_of:
                days = _row_each_day(row, first, last, apart.get(row.vm.vm_key, {}))
                if days is not None:
                    daily[id(row)], summed[id(row)] = days, _sum(days.values())
                continue
            total = _row_days(row, first, last, stored.get(row.vm.vm_key, (DayTotals(), 0)))
            if total is not None:
                summed[id(row)] = total
    return summed, daily


def _row_days(row: CurrentRow, first: date, last: date, stored: tuple[DayTotals, int]) -> DayTotals | None:
    closed_from, closed_to = _closed_days(row, first, last)
    expected = max((closed_to - closed_from).days + 1, 0)
    total, found = stored
    if found != expected:
        return None  # a closed day's totals are missing (rows lost): the transitions answer
    for _, counted in _kept_days(row, first, last, closed_from, closed_to):
        total = total.plus(counted)
    return total


def _row_each_day(
    row: CurrentRow, first: date, last: date, stored: dict[date, DayTotals]
) -> dict[date, DayTotals] | None:
    closed_from, closed_to = _closed_days(row, first, last)
    if len(stored) != max((closed_to - closed_from).days + 1, 0):
        return None  # a closed day's totals are missing (rows lost): the transitions answer
    return {**stored, **dict(_kept_days(row, first, last, closed_from, closed_to))}


def _closed_days(row: CurrentRow, first: date, last: date) -> tuple[date, date]:
    """The days of ``first``..``last`` whose totals the VM's day rows keep (closed, after its first day)."""
    open_day = row.upkeep.days
    assert open_day is not None
    return max(first, row.span.first_time.date()), min(last, open_day.day - UTC_DAY)


def _kept_days(
    row: CurrentRow, first: date, last: date, closed_from: date, closed_to: date
) -> Iterator[tuple[date, DayTotals]]:
    """The whole days of ``first``..``last`` outside the closed ones, from what the current row keeps."""
    open_day, mark = row.upkeep.days, row.upkeep.months
    assert open_day is not None and mark is not None
    first_day = row.span.first_time.date()
    before_first = decode_state(mark.before_first, day_start(first))
    state_now, last_time = row.condition.state, row.span.last_time
    day = first
    while day <= last:
        if not closed_from <= day <= closed_to:
            counted = whole_day(day, first_day, before_first, open_day, last_time, state_now, None)
            assert counted is not None
            yield day, counted
        day += UTC_DAY


def _replayed(
    ledger: Ledger,
    rows: list[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    by_day: Callable[[CurrentRow], bool],
) -> list[VmTotals]:
    """The whole window replayed, as before day rows (month rows, or each VM's transitions)."""
    if not rows:
        return []
    windows = fleet_windows(ledger, rows, start, end, as_of)
    return [of_window(window, start, by_day=by_day(row)) for row, window in zip(rows, windows, strict=True)]
