"""Answers about VMs: one VM's state and billed time in a window, its transitions, the list of VMs.

Each is answered with a bounded number of Table round trips, whatever the length of the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.answers._fleet import VmWindow, fleet_windows
from shared.answers._window import window_rows
from shared.answers.paging import Page, page_of
from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.ids import ScaleSetId, VmId
from shared.errors import NotFound
from shared.store import CurrentRow, Ledger, TransitionRow, cursor_of


@dataclass(frozen=True)
class VmReport:
    current: CurrentRow
    start: datetime
    end: datetime
    totals: WindowTotals
    window: VmWindow  # what the totals were counted from (the bill's days are counted from it too)


def require_vm(ledger: Ledger, vm: VmId) -> CurrentRow:
    current = ledger.get_current(vm)
    if current is None:
        raise NotFound("vm", "the ledger has no record of this virtual machine")
    return current


def vm_report(
    ledger: Ledger,
    vm: VmId,
    start: datetime | None,
    end: datetime,
    as_of: datetime,
    *,
    earliest: datetime | None = None,
) -> VmReport:
    """The VM's current state and its billed/unknown seconds in ``[start, end)``, accrued up to ``as_of``.

    ``start`` ``None`` means the VM's first record, or ``earliest`` if that is later.
    """
    current = require_vm(ledger, vm)
    if start is None:
        start = min(current.span.first_time, end)
        start = max(start, earliest) if earliest is not None else start
    cut = ledger.retained_from(as_of)
    if cut is not None and start < cut:
        # Transitions before the retention cut are removed: the month rows, kept, answer exactly.
        window = fleet_windows(ledger, [current], start, end, as_of)[0]
    else:
        found = window_rows(ledger, current, start, end, as_of)
        window = VmWindow(found.state_at_start, list(found.rows), found.accrue_until)
    changes = ((row.time, row.state) for row in window.changes)
    totals = window_totals(window.state_at_start, changes, start, window.accrue_until)
    return VmReport(current, start, end, totals, window)


def transitions_page(
    ledger: Ledger, vm: VmId, start: datetime | None, end: datetime | None, top: int, after: str | None
) -> tuple[CurrentRow, Page[TransitionRow]]:
    """Up to ``top`` transitions in ``[start, end]`` after the cursor ``after``, in time order."""
    current = require_vm(ledger, vm)
    rows = ledger.iter_transitions(vm, start=start, end=end, after=after, page_size=min(top + 1, 1000))
    return current, page_of(rows, top, lambda row: row.key)


def vms_page(
    ledger: Ledger,
    subscription_id: str | None,
    resource_group: str | None,
    top: int,
    after: str | None,
    *,
    scale_set: ScaleSetId | str | None = None,
) -> Page[CurrentRow]:
    """Current rows across subscriptions (or one), optionally one resource group, in key order.

    ``scale_set`` (a scale set, or a name in any resource group) keeps its instances and members only:
    they are filtered from the rows read, since Flexible members are keyed by their own names.
    ``after`` is the cursor of the last row returned before.
    """
    rows = ledger.iter_current_rows(
        subscription_id, group=resource_group, after=after, page_size=min(top + 1, 1000)
    )
    if scale_set is not None:
        rows = (row for row in rows if in_scale_set(row, scale_set))
    return page_of(rows, top, cursor_of)


def in_scale_set(row: CurrentRow, scale_set: ScaleSetId | str) -> bool:
    """Is ``row`` an instance or member of ``scale_set`` (compared case-insensitively)?"""
    own = row.scale_set
    if own is None:
        return False
    if isinstance(scale_set, str):
        return own.name.lower() == scale_set.lower()
    return (own.subscription_key, own.key) == (scale_set.subscription_key, scale_set.key)
