"""Whether a VM's month rows, as read for some months, can be the history its current row's mark
describes (private).

The mark says the month rows hold the VM's whole history, so fleet answers trust them. Rows lost or cut
short since (a deleted row, a missing entry) would make those answers report nothing for a VM that ran,
and no event repairs them: the mark still says complete. What the months read can tell, with no round
trip more, is checked here; the fleet answers fall back to the VM's transitions when it finds something,
and the timer rebuilds the VM's month rows.

What the rows of the months from the VM's first transition to its open month must show (``_month_rows``):
the first and the open month have a ``start`` and entries, the first starting in the state before the
VM's first transition, the open one with as many entries as the mark counts; entries are numbered from 0
without a gap; the ``GAP_LIMIT`` months after a month with entries have a row; each month starts in the
state the month before it ended in (a month without a row has no transition). Months outside that span
are not looked at, and a month read after one that was not read starts afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from shared.domain.times import month_number, month_of
from shared.domain.vm_state import VmState
from shared.store._month_rows import GAP_LIMIT, VmMonth, state_from_code
from shared.store._records import CurrentRow, MonthsMark

# What a month row keeps of a state (``state_code``), compared without encoding it; () for no state.
_Kept = tuple[object, ...]


def month_rows_disagreement(
    current: CurrentRow, found: Mapping[str, VmMonth], read: Sequence[str], *, strict: bool = False
) -> str | None:
    """Why the VM's month rows ``found`` (month -> its rows, among the months ``read``, in time order)
    cannot be what ``current``'s mark describes; ``None`` when they agree as far as these months tell, or
    when there is no mark (the rows are not trusted then anyway).

    ``strict`` also refuses a month without a row right after a quiet month whose place in its quiet
    stretch is unknown: the row may be lost, or the stretch longer than ``GAP_LIMIT``. An answer must not
    guess (it reads the transitions); the timer must not rebuild such a VM at every run.
    """
    mark = current.upkeep.months
    if mark is None:
        return None
    first, last = month_number(month_of(current.span.first_time)), month_number(mark.month_open)
    ended_in: _Kept | None = None  # the state the months read so far ended in, when known
    quiet: int | None = None  # months since the last month with entries, when one was read
    after_row = False  # the month before was read and has a row
    follows: int | None = None  # the number of the month right after the last one read
    for month in read:
        number = month_number(month)
        if number != follows or not first <= number <= last:
            ended_in, quiet, after_row = None, None, False  # nothing known of the months before
        follows = number + 1
        if not first <= number <= last:
            continue
        data = found.get(month)
        if data is None or not data.has_start:
            reason = _missing(data, number in (first, last), quiet, strict and after_row)
            if reason is not None:
                return f"{month}: {reason}"
            quiet, after_row = (None if quiet is None else quiet + 1), False
            continue  # the state carries over: a month without a row has no transition
        reason = _wrong(data, mark, number == first, number == last, ended_in)
        if reason is not None:
            return f"{month}: {reason}"
        ended_in = _kept(data.entries[-1].state if data.entries else data.start)
        quiet = 0 if data.entries else (None if quiet is None else quiet + 1)
        after_row = True
    return None


def _missing(data: VmMonth | None, edge: bool, quiet: int | None, unsure: bool) -> str | None:
    """Why a month of the span without a ``start`` row cannot be one (``edge``: the first or open)."""
    if data is not None and data.entries:
        return "entries without the row that starts the month"
    if edge or (quiet is not None and quiet < GAP_LIMIT):
        return "no row"
    if quiet is None and unsure:
        return "no row after a quiet month: lost, or a quiet stretch longer than its rows"
    return None


def _wrong(data: VmMonth, mark: MonthsMark, first: bool, last: bool, ended_in: _Kept | None) -> str | None:
    """Why a month's rows cannot be what the mark and the month before say."""
    start = _kept(data.start)
    if not data.numbered:
        return "an entry is missing"
    if first and start != _kept(state_from_code(mark.before_first, datetime.min)):
        return "the first month does not start in the state before the first transition"
    if ended_in is not None and start != ended_in:
        return "it does not start in the state the month before ended in"
    if (first or last) and not data.entries:
        return "no entries"
    if last and len(data.entries) != mark.count:
        return f"{len(data.entries)} entries where the mark counts {mark.count}"
    return None


def _kept(state: VmState | None) -> _Kept:
    if state is None:
        return ()
    return (state.provisioning_state, state.power_state, state.hibernated, state.deleted, state.billable)
