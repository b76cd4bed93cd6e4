"""VMs' states over a window as segments, with their billed and unknown seconds there.

One VM reads its own transitions (``vm_timeline``); a page of VMs reads their month rows together
(``fleet_timelines``): the same answer, in round trips that grow with months, not with VMs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.answers._fleet import Change, fleet_windows
from shared.answers._window import window_rows
from shared.domain.accounting import WindowTotals, window_totals
from shared.domain.vm_state import VmState
from shared.store import CurrentRow, Ledger


@dataclass(frozen=True)
class Segment:
    """``state`` in force over ``[start, end)``; ``cause`` is the transition that began it, if in the window.

    ``state`` ``None``: the VM did not exist (yet) as far as the ledger knows.
    """

    start: datetime
    end: datetime
    state: VmState | None
    cause: Change | None  # has ``operation_name`` and ``source``


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
    window = window_rows(ledger, current, start, end, as_of, page_size=min(max_transitions + 1, 1000))
    return _timeline(
        current, window.state_at_start, window.rows, start, end, window.accrue_until, max_transitions
    )


def fleet_timelines(
    ledger: Ledger,
    rows: Sequence[CurrentRow],
    start: datetime,
    end: datetime,
    as_of: datetime,
    *,
    max_transitions: int,
) -> list[VmTimeline]:
    """``vm_timeline`` of each of ``rows`` (a page of VMs in key order), read from their month rows."""
    windows = fleet_windows(ledger, rows, start, end, as_of)
    return [
        _timeline(
            row, window.state_at_start, window.changes, start, end, window.accrue_until, max_transitions
        )
        for row, window in zip(rows, windows, strict=True)
    ]


def _timeline(
    current: CurrentRow,
    state_at_start: VmState | None,
    rows: Iterable[Change],
    start: datetime,
    end: datetime,
    accrue_until: datetime,
    max_transitions: int,
) -> VmTimeline:
    kept: list[Change] = []
    first_left_out: list[datetime] = []

    def changes() -> Iterator[tuple[datetime, VmState]]:
        # Segments keep the first ``max_transitions`` rows; the totals see every row of the window.
        for row in rows:
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
        segments=segments_of(state_at_start, kept, start, segments_end),
        truncated=bool(first_left_out),
    )


def segments_of(state: VmState | None, rows: list[Change], start: datetime, end: datetime) -> list[Segment]:
    """Consecutive segments from ``start`` to ``end``; a state that lasted no time gets none."""
    segments: list[Segment] = []
    since: datetime = start
    cause: Change | None = None
    for row in rows:
        if row.time > since:
            segments.append(Segment(since, row.time, state, cause))
        state, since, cause = row.state, row.time, row
    if end > since:
        segments.append(Segment(since, end, state, cause))
    return segments
