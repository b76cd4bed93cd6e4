"""Rebuilding month rows: a late event or a repair rewrites a VM's history in the middle and drops its
month-row mark instead of rewriting its month rows in the event's path; the timer rebuilds them here, and
the day rows with them (a VM whose rows predate day rows has no open day on its current row: rebuilt too).

It also rebuilds the month rows of VMs that keep their mark but whose rows disagree with it (rows lost
or cut short since: nothing else would repair them, since the mark says they are complete). Finding them
costs what a fleet answer costs: per page of 1,000 current rows, one range query for each of at most
``MONTHS_CHECKED`` months, and each VM's rows of those months are checked against its mark
(``store.month_rows_disagreement``). The months: the two newest that the page's marks name as open (a
VM active lately is checked at every run), and two consecutive months of the page's history drawn in
turn (seeded by the hour, so that no timer schedule keeps missing some of them), so rows lost longer ago
are found within a number of runs that grows with the months of history.

Until then fleet answers read such a VM's own transitions (one query more per such VM), so answers stay
exact. A run rebuilds at most ``max_vms`` VMs (each costs a read of its transitions, 1,000 a page, and
one write per 100 month rows); the rest wait for the next run. A VM written meanwhile is skipped, and
retried next run. The timer's deadline stops it between pages; the next run goes on after the last page
it checked (the run record ``month-rows-resume``), so a large fleet is checked whole over several runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby, islice
from random import Random

from shared.domain.times import month_of, months_from, utc_now
from shared.store import CurrentRow, Ledger, RunRecord, RunRecords, cursor_of

logger = logging.getLogger(__name__)

DEFAULT_MAX_VMS = 200
# Months read per page of current rows to find month rows that disagree with their mark.
MONTHS_CHECKED = 4
_PAGE = 1000
RESUME_RECORD = "month-rows-resume"


@dataclass(frozen=True)
class MonthRowsReport:
    rebuilt: int
    raced: int  # written by another writer during the rebuild: left for the next run
    left: int  # over this run's budget
    disagreed: int = 0  # marked VMs whose month rows disagreed with the mark (rebuilt, raced or left)
    # The deadline came first: the cursor of the last VM checked, where the next run goes on.
    stopped_after: str | None = None


def rebuild_month_rows(
    ledger: Ledger,
    *,
    max_vms: int = DEFAULT_MAX_VMS,
    now: datetime | None = None,
    deadline: float | None = None,
    after: str | None = None,
) -> MonthRowsReport:
    """Rebuild the month rows of the VMs whose current row has no mark, or whose rows disagree with it,
    at most ``max_vms`` of them. ``now`` (default: the clock) draws the older months checked in turn.
    No page is begun after ``deadline`` (``time.monotonic()``); ``after`` (a ``stopped_after``) is where the
    run before stopped."""
    turn = int((now or utc_now()).timestamp() // 3600)
    rebuilt = raced = left = disagreed = 0
    stopped_after = after
    for page in _pages(ledger.iter_current_rows(after=after)):
        if _past(deadline):
            break
        reasons = ledger.months.disagreeing(page, months_to_check(page, turn))
        for row in page:
            reason = reasons.get(row.vm.vm_key)
            marked = row.upkeep.months is not None and row.upkeep.days is not None
            if row.upkeep.pending is not None or (marked and reason is None):
                continue
            if reason is not None:
                disagreed += 1
                logger.warning("month rows of %s disagree with its mark (%s): rebuilding them",
                               row.vm.resource_id, reason)  # fmt: skip
            if rebuilt + raced >= max_vms or _past(deadline):
                left += 1
            elif ledger.months.rebuild(row):
                rebuilt += 1
            else:
                raced += 1
        if _past(deadline):
            break  # the page is checked again by the next run
        stopped_after = cursor_of(page[-1])
    else:
        stopped_after = None  # every page checked
    if rebuilt or raced or left:
        logger.info("month rows rebuilt for %d VMs (%d disagreed with their mark), %d raced with a writer, "
                    "%d left for the next run", rebuilt, disagreed, raced, left)  # fmt: skip
    return MonthRowsReport(rebuilt, raced, left, disagreed, stopped_after)


def rebuild_month_rows_in_turn(ledger: Ledger, *, now: datetime, deadline: float) -> MonthRowsReport:
    """``rebuild_month_rows`` from where the deadline stopped the run before (the cursor in the run record
    ``month-rows-resume``; "": from the first VM), keeping where this one stops."""
    turns = RunRecords(ledger.table)
    last = turns.get(RESUME_RECORD)
    after = last.detail if last is not None and last.detail else None
    report = rebuild_month_rows(ledger, now=now, deadline=deadline, after=after)
    if report.stopped_after != after:
        turns.put(RESUME_RECORD, RunRecord(now, report.stopped_after is None, report.stopped_after or ""))
    return report


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def months_to_check(page: list[CurrentRow], turn: int) -> list[str]:
    """The months read for the page: the two newest open months of its marks, and two consecutive
    months between its earliest first transition and its newest open month (``turn`` draws them)."""
    marks = [(row.span.first_time, row.upkeep.months) for row in page if row.upkeep.months is not None]
    if not marks:
        return []
    open_months = sorted({mark.month_open for _, mark in marks})
    span = months_from(month_of(min(first for first, _ in marks)), open_months[-1])
    pair_at = Random(turn).randrange(max(len(span) - 1, 1))
    return sorted({*open_months[-(MONTHS_CHECKED - 2) :], *span[pair_at : pair_at + 2]})


def _pages(rows: Iterable[CurrentRow]) -> Iterator[list[CurrentRow]]:
    """Current rows in pages of at most 1,000 of one subscription (the order ``iter_current_rows`` gives)."""
    for _, same in groupby(rows, key=lambda row: row.vm.subscription_key):
        while page := list(islice(same, _PAGE)):
            yield page
