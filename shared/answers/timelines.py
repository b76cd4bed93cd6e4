"""VMs' states over a window as segments, with their billed and unknown seconds there.

One VM reads its own transitions (``vm_timeline``); a page of VMs reads their month rows together
(``fleet_timelines``): the same answer, in round trips that grow with months, not with VMs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.answers._fleet import Change, VmWindow, fleet_windows
from shared.answers._summary import Summary, summary_of
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
    summary: Summary | None = None  # segments merged into this one (``summarised``): ``state`` dominated

    def holds(self) -> Summary:
        """Its seconds by billing (a summary's, or its own state's for its length)."""
        return self.summary or summary_of([(self.start, self.end, self.state)])[1]


@dataclass(frozen=True)
class VmTimeline:
    current: CurrentRow
    start: datetime
    end: datetime
    accrued_until: datetime
    totals: WindowTotals
    segments: list[Segment]
    truncated: bool  # more transitions than asked for: the segments stop at the first one left out
    window: VmWindow | None = None  # what a page's timeline was read from (its bill's days need it)


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
    resolution: timedelta | None = None,
) -> list[VmTimeline]:
    """``vm_timeline`` of each of ``rows`` (a page of VMs in key order), read from their month rows;
    with ``resolution``, its segments shorter than it merged into summaries (``summarised``)."""
    windows = fleet_windows(ledger, rows, start, end, as_of)
    timelines = [
        replace(
            _timeline(
                row, window.state_at_start, window.changes, start, end, window.accrue_until, max_transitions
            ),
            window=window,
        )
        for row, window in zip(rows, windows, strict=True)
    ]
    if resolution is None:
        return timelines
    return [replace(timeline, segments=summarised(timeline.segments, resolution)) for timeline in timelines]


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


def summarised(segments: Sequence[Segment], resolution: timedelta) -> list[Segment]:
    """Consecutive segments each shorter than ``resolution`` merged while their run is shorter than it.

    Every segment kept and every closed run spans at least ``resolution``, and a lone short segment sits
    only between two of those, so a window ``W`` long keeps at most ``2 x ceil(W / resolution) + 1``.
    """
    kept: list[Segment] = []
    run: list[Segment] = []
    for segment in segments:
        if segment.end - segment.start >= resolution:
            kept += _closed(run)
            run = []
            kept.append(segment)
            continue
        run.append(segment)
        if run[-1].end - run[0].start >= resolution:
            kept += _closed(run)
            run = []
    return kept + _closed(run)


def _closed(run: list[Segment]) -> list[Segment]:
    if len(run) <= 1:
        return run
    state, summary = summary_of([(part.start, part.end, part.state) for part in run])
    return [Segment(run[0].start, run[-1].end, state, None, summary)]


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
