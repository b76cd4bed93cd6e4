"""Seconds per UTC day: billed, unknown and not billed, so a fleet answer over whole days sums days.

A state counts as ``domain.accounting`` counts it: from the time it was reached until the next
transition. A day's totals are kept in integer microseconds (exact, whatever the number of transitions;
seconds only when summed), with ``present``: whether a state the VM existed in (neither before its
creation nor deleted) was in force at any instant of the day, which is what a fleet answer asks to tell
whether the VM existed in a window. ``DayTotals.after`` folds a transition into the day it falls in and
closes the days it leaves behind, so the writer that records a transition in time order keeps them
without reading anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.domain.vm_state import VmState

UTC_DAY = timedelta(days=1)
_MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class DayTotals:
    """Microseconds billed, unknown and known but not billed, and whether the VM existed in the day;
    ``deallocated``: of ``not_billed``, deallocated or hibernated (what stopping saved, ``avoidedCost``)."""

    billed: int = 0
    unknown: int = 0
    not_billed: int = 0
    present: bool = False
    deallocated: int = 0

    def plus(self, other: DayTotals) -> DayTotals:
        return DayTotals(
            self.billed + other.billed,
            self.unknown + other.unknown,
            self.not_billed + other.not_billed,
            self.present or other.present,
            self.deallocated + other.deallocated,
        )

    @property
    def billed_seconds(self) -> float:
        return self.billed / _MICROSECONDS

    @property
    def unknown_seconds(self) -> float:
        return self.unknown / _MICROSECONDS

    @property
    def deallocated_seconds(self) -> float:
        return self.deallocated / _MICROSECONDS


@dataclass(frozen=True)
class OpenDay:
    """The day of a VM's last transition, its totals until that transition (``running``)."""

    day: date
    running: DayTotals


def day_of(at: datetime) -> date:
    return at.date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def exists(state: VmState | None) -> bool:
    return state is not None and not state.deleted


def held(state: VmState | None, start: datetime, end: datetime) -> DayTotals:
    """``state`` in force over ``[start, end)`` (one day at most), as ``accounting`` counts it."""
    micros = max((end - start) // timedelta(microseconds=1), 0)
    if not exists(state):
        return DayTotals()
    assert state is not None
    if state.is_unknown:
        return DayTotals(unknown=micros, present=True)
    if state.billable:
        return DayTotals(billed=micros, present=True)
    deallocated = micros if (state.power_state or "").lower() == "deallocated" else 0
    return DayTotals(not_billed=micros, present=True, deallocated=deallocated)


def first_open_day(before: VmState | None, state: VmState | None, at: datetime) -> OpenDay:
    """The open day after a VM's first transition (to ``state`` at ``at``, ``before`` it)."""
    day = day_of(at)
    return OpenDay(day, held(before, day_start(day), at).plus(DayTotals(present=exists(state))))


def after(
    open_day: OpenDay, prev: VmState | None, since: datetime, state: VmState | None, at: datetime
) -> tuple[dict[date, DayTotals], OpenDay]:
    """A transition to ``state`` at ``at`` (in time order) after ``prev`` held since ``since``: the days it
    closes (the open one and every whole day between) and the new open day."""
    reached = DayTotals(present=exists(state))
    day = day_of(at)
    if day == open_day.day:
        return {}, OpenDay(day, open_day.running.plus(held(prev, since, at)).plus(reached))
    closed = {open_day.day: open_day.running.plus(held(prev, since, day_start(open_day.day) + UTC_DAY))}
    between = open_day.day + UTC_DAY
    while between < day:
        closed[between] = held(prev, day_start(between), day_start(between) + UTC_DAY)
        between += UTC_DAY
    return closed, OpenDay(day, held(prev, day_start(day), at).plus(reached))


def whole_day(
    day: date, first_day: date, before_first: VmState | None, open_day: OpenDay, last_time: datetime,
    state_now: VmState | None, stored: DayTotals | None,
) -> DayTotals | None:  # fmt: skip
    """A whole day's totals from what a VM keeps: before its history, a stored closed day, its open day,
    or after it; ``None`` when a closed day's totals are missing."""
    if day < first_day:
        return held(before_first, day_start(day), day_start(day) + UTC_DAY)
    if day < open_day.day:
        return stored
    if day == open_day.day:
        return open_day.running.plus(held(state_now, last_time, day_start(day) + UTC_DAY))
    return held(state_now, day_start(day), day_start(day) + UTC_DAY)
