"""Read-side questions to the ledger, each answered with a bounded number of Table round trips.

A VM's state at the start of a window is stored on the first transition at or after that instant (its
"state before"), so no query reads history older than its window; a window with no transitions after
its start is covered by the current row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Generic, TypeVar

from shared.accounting import WindowTotals, window_totals
from shared.errors import NotFoundError
from shared.resource_ids import VmId
from shared.store import CurrentRow, Ledger, TransitionRow, cursor_of
from shared.transitions import VmState


@dataclass(frozen=True)
class VmReport:
    current: CurrentRow
    start: datetime
    end: datetime
    totals: WindowTotals


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_after: str | None  # the last key returned, when more may follow


def require_vm(ledger: Ledger, vm: VmId) -> CurrentRow:
    current = ledger.get_current(vm)
    if current is None:
        raise NotFoundError("VmNotFound", "the ledger has no record of this virtual machine")
    return current


@dataclass(frozen=True)
class _WindowRows:
    """A VM's state at a window's start and, lazily, its transitions until ``accrue_until``."""

    state_at_start: VmState | None
    rows: Iterator[TransitionRow]
    accrue_until: datetime


def _window_rows(
    ledger: Ledger,
    current: CurrentRow,
    start: datetime,
    end: datetime,
    as_of: datetime,
    page_size: int = 1000,
) -> _WindowRows:
    """One range query from ``start``: its first row's ``prev`` is the state in force at ``start``.

    With no transition at or after ``start``, the current row's state has held since before it.
    Nothing accrues after ``as_of``.
    """
    vm = current.vm
    accrue_until = max(min(end, as_of), start)
    rows = ledger.iter_transitions(vm, start=start, page_size=page_size)
    first = next(rows, None)
    if first is None:
        return _WindowRows(current.state, iter(()), accrue_until)
    return _WindowRows(first.prev, _until(_chain(first, rows), accrue_until), accrue_until)


def vm_report(ledger: Ledger, vm: VmId, start: datetime | None, end: datetime, as_of: datetime) -> VmReport:
    """The VM's current state and its billed/unknown seconds in ``[start, end)``, accrued up to ``as_of``."""
    current = require_vm(ledger, vm)
    start = start if start is not None else min(current.first_time, end)
    window = _window_rows(ledger, current, start, end, as_of)
    changes = ((row.time, row.state) for row in window.rows)
    return VmReport(
        current, start, end, window_totals(window.state_at_start, changes, start, window.accrue_until)
    )


def transitions_page(
    ledger: Ledger, vm: VmId, start: datetime | None, end: datetime | None, top: int, after: str | None
) -> tuple[CurrentRow, Page[TransitionRow]]:
    """Up to ``top`` transitions in ``[start, end]`` after the key ``after``, in time order."""
    current = require_vm(ledger, vm)
    rows = ledger.iter_transitions(vm, start=start, end=end, after=after, page_size=min(top + 1, 1000))
    return current, _page(rows, top, lambda row: row.key)


def vms_page(
    ledger: Ledger, subscription_id: str | None, resource_group: str | None, top: int, after: str | None
) -> Page[CurrentRow]:
    """Current rows across subscriptions (or one), optionally one resource group, in key order.

    ``after`` is the cursor of the last row returned before.
    """
    rows = ledger.iter_current_rows(
        subscription_id, group=resource_group, after=after, page_size=min(top + 1, 1000)
    )
    return _page(rows, top, cursor_of)


def _page(items: Iterator[T], top: int, key_of: Callable[[T], str]) -> Page[T]:
    taken = list(islice(items, top + 1))
    if len(taken) > top:
        return Page(taken[:top], key_of(taken[top - 1]))
    return Page(taken, None)


def _chain(first: TransitionRow, rest: Iterator[TransitionRow]) -> Iterator[TransitionRow]:
    yield first
    yield from rest


def _until(rows: Iterator[TransitionRow], end: datetime) -> Iterator[TransitionRow]:
    for row in rows:
        if row.time >= end:
            return
        yield row


@dataclass(frozen=True)
class Segment:
    """``state`` in force over ``[start, end)``; ``cause`` is the transition that began it, if in the window.

    ``state`` ``None``: the VM did not exist (yet) as far as the ledger knows.
    """

    start: datetime
    end: datetime
    state: VmState | None
    cause: TransitionRow | None


@dataclass(frozen=True)
class VmTimeline:
    current: CurrentRow
    start: datetime
    end: datetime
    accrued_until: datetime
    totals: WindowTotals
    segments: list[Segment]
    truncated: bool  # more transitions than asked for: the segments stop at the first one left out


def vm_timeline(
    ledger: Ledger,
    current: CurrentRow,
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    max_transitions: int,
) -> VmTimeline:
    """One VM's states over ``[start, end)`` as segments, with its billed/unknown seconds there.

    One lazily paged range query from ``start``: the first row at or after ``start`` gives the state in
    force at ``start`` (its ``prev``), as in ``vm_report``. Segments stop at ``as_of`` and take at most
    ``max_transitions`` transitions; the totals still cover the whole window, streamed from the same query.
    """
    window = _window_rows(ledger, current, start, end, as_of, page_size=min(max_transitions + 1, 1000))
    state_at_start, accrue_until = window.state_at_start, window.accrue_until
    kept: list[TransitionRow] = []
    first_left_out: list[datetime] = []

    def changes() -> Iterator[tuple[datetime, VmState]]:
        # Segments keep the first ``max_transitions`` rows; the totals see every row of the window.
        for row in window.rows:
            if len(kept) < max_transitions:
                kept.append(row)
            elif not first_left_out:
                first_left_out.append(row.time)
            yield row.time, row.state

    totals = window_totals(state_at_start, changes(), start, accrue_until)
    segments_end = first_left_out[0] if first_left_out else accrue_until
    return VmTimeline(
        current=current,
        start=start,
        end=end,
        accrued_until=accrue_until,
        totals=totals,
        segments=_segments(state_at_start, kept, start, segments_end),
        truncated=bool(first_left_out),
    )


def _segments(
    state: VmState | None, rows: list[TransitionRow], start: datetime, end: datetime
) -> list[Segment]:
    """Consecutive segments from ``start`` to ``end``; a state that lasted no time gets none."""
    segments: list[Segment] = []
    since: datetime = start
    cause: TransitionRow | None = None
    for row in rows:
        if row.time > since:
            segments.append(Segment(since, row.time, state, cause))
        state, since, cause = row.state, row.time, row
    if end > since:
        segments.append(Segment(since, end, state, cause))
    return segments
