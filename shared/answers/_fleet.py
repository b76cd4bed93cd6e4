"""Many VMs over one window from their month rows: round trips grow with VMs / 1000 and months.

Each VM's state at the window's start and its transitions inside it come from the month rows of the
months the window touches, read with one range query per month for a page of VMs (or a whole
subscription). A VM whose month rows cannot answer (its current row has no mark: they are being rebuilt
after a late event or a repair, or predate month rows; rows that disagree with the mark, lost or cut short
since; or a window inside a quiet stretch longer than the rows cover) falls back to its own range query,
so the answer is always the one ``window_rows`` gives.

A window touches at most ``MAX_WINDOW_MONTHS`` months (the most a window of the API's longest span,
366 days, touches); a longer one is refused before anything is read, so the bound holds for any caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.answers._window import window_rows
from shared.domain.times import format_time, month_of, month_start, months_touched
from shared.domain.vm_state import VmState
from shared.errors import InvalidInput
from shared.store import (
    CurrentRow,
    Ledger,
    MonthEntry,
    TransitionRow,
    VmMonth,
    decode_state,
    month_rows_disagreement,
)

logger = logging.getLogger(__name__)

MAX_WINDOW_MONTHS = 14

Change = MonthEntry | TransitionRow


@dataclass(frozen=True)
class VmWindow:
    """A VM's state at ``start`` and its transitions in ``[start, accrue_until)``, in time order."""

    state_at_start: VmState | None
    changes: list[Change]
    accrue_until: datetime


def accrual_end(start: datetime, end: datetime, as_of: datetime) -> datetime:
    """Nothing accrues after ``as_of`` nor outside the window."""
    return max(min(end, as_of), start)


def window_months(start: datetime, accrue_until: datetime) -> list[str]:
    """The months ``[start, accrue_until)`` touches (``start``'s alone when it is empty); ``InvalidInput``
    beyond ``MAX_WINDOW_MONTHS``."""
    months = months_touched(start, accrue_until)
    if len(months) > MAX_WINDOW_MONTHS:
        raise InvalidInput("window", f"the window may touch at most {MAX_WINDOW_MONTHS} calendar months")
    return months


def window_from_months(
    current: CurrentRow, months: Mapping[str, VmMonth], start: datetime, accrue_until: datetime
) -> VmWindow | None:
    """The VM's window from its month rows (``months``: month -> row data, the window's months), or
    ``None`` when they cannot tell and the VM's transitions must be read."""
    span, state_now = current.span, current.condition.state
    if span.last_time < start:
        # Nothing recorded since before the window: its state held throughout (rows of any age).
        return VmWindow(state_now, [], accrue_until)
    mark = current.upkeep.months
    if mark is None:
        return None
    disagreement = month_rows_disagreement(current, months, window_months(start, accrue_until), strict=True)
    if disagreement is not None:
        logger.warning("month rows of %s disagree with its mark (%s): its transitions answer until the "
                       "timer rebuilds them", current.vm.resource_id, disagreement)  # fmt: skip
        return None
    first_month = month_of(start)
    data = months.get(first_month)
    state: VmState | None
    if data is not None and data.has_start:
        state = data.start
    elif span.last_time < month_start(first_month):
        return VmWindow(state_now, [], accrue_until)  # nothing recorded since before the window
    elif span.first_time >= month_start(first_month):
        state = decode_state(mark.before_first, start)  # the VM's history begins after the window's
    else:
        return None  # a quiet stretch longer than its rows cover
    changes: list[Change] = []
    before: MonthEntry | None = None  # the last entry before the window: only it and the window's are parsed
    start_text, until_text = format_time(start), format_time(accrue_until)
    for month in sorted(months):
        for entry in months[month].entries:
            if entry.time_text < start_text:
                before = entry
            elif entry.time_text < until_text:
                changes.append(entry)
    return VmWindow(before.state if before is not None else state, changes, accrue_until)


def fleet_windows(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    whole_subscriptions: bool = False,
) -> list[VmWindow]:
    """Every row's window, in the order of ``rows``.

    ``rows`` are in key order (a page of ``iter_current_rows``); with ``whole_subscriptions`` their
    subscriptions' month rows are read whole instead of from the first to the last VM of ``rows``.
    """
    accrue_until = accrual_end(start, end, as_of)
    months = window_months(start, accrue_until)
    read: dict[str, dict[str, dict[str, VmMonth]]] = {}
    for subscription in dict.fromkeys(row.vm.subscription_key for row in rows):
        keys = [row.vm.vm_key for row in rows if row.vm.subscription_key == subscription]
        first, last = (None, None) if whole_subscriptions else (min(keys), max(keys))
        read[subscription] = ledger.months.read(subscription, months, first_vm_key=first, last_vm_key=last)
    windows = []
    for row in rows:
        found = read[row.vm.subscription_key].get(row.vm.vm_key, {})
        window = window_from_months(row, found, start, accrue_until)
        if window is None:
            fallback = window_rows(ledger, row, start, end, as_of)
            window = VmWindow(fallback.state_at_start, list(fallback.rows), fallback.accrue_until)
        windows.append(window)
    return windows
