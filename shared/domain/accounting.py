"""Seconds billed, and seconds unknown, inside a time window.

Raw seconds, no rounding: any billing granularity (per minute, per second with a minimum) belongs to
reporting. A state counts from the time it was recorded as reached (events fire when an operation ends)
until the next transition, the end of the window, or ``as_of`` (nothing accrues in the future).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.vm_state import VmState


@dataclass(frozen=True)
class WindowTotals:
    billed_seconds: float
    unknown_seconds: float
    deallocated_seconds: float = 0.0  # deallocated or hibernated: compute that stopping saved


def window_totals(
    state_at_start: VmState | None,
    changes: Iterable[tuple[datetime, VmState]],
    start: datetime,
    end: datetime,
) -> WindowTotals:
    """Sum billed and unknown time in ``[start, end)``.

    ``state_at_start`` is the state in force at ``start`` (``None``: the VM did not exist yet) and
    ``changes`` the (time, state after) pairs inside the window, in time order.
    """
    totals = [0.0, 0.0, 0.0]  # billed, unknown, deallocated
    state, since = state_at_start, start
    for at, new_state in changes:
        at = min(max(at, start), end)
        _add(state, (at - since).total_seconds(), totals)
        state, since = new_state, at
    _add(state, max((end - since).total_seconds(), 0.0), totals)
    return WindowTotals(*totals)


def _add(state: VmState | None, seconds: float, totals: list[float]) -> None:
    if state is None or state.deleted:
        return
    if state.is_unknown:
        totals[1] += seconds
    elif state.billable:
        totals[0] += seconds
    elif (state.power_state or "").lower() == "deallocated":
        totals[2] += seconds


def stopped_billed_seconds(
    state_at_start: VmState | None,
    changes: Iterable[tuple[datetime, VmState]],
    start: datetime,
    end: datetime,
) -> float:
    """Seconds of ``[start, end)`` billed while ``stopped`` (allocated, powered off): paid for nothing."""
    only_stopped = [(at, _billed_if_stopped(state)) for at, state in changes]
    first = _billed_if_stopped(state_at_start) if state_at_start is not None else None
    return window_totals(first, only_stopped, start, end).billed_seconds


def _billed_if_stopped(state: VmState) -> VmState:
    return replace(state, billable=state.billable and state.power_state == "stopped")
