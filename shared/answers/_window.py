"""A VM's rows over a window: its state at the window's start and its transitions inside it.

A VM's state at the start of a window is stored on the first transition at or after that instant (its
"state before"), so no answer reads history older than its window; a window with no transitions after
its start is covered by the current row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from shared.domain.vm_state import VmState
from shared.store import CurrentRow, Ledger, TransitionRow


@dataclass(frozen=True)
class WindowRows:
    """A VM's state at a window's start and, lazily, its transitions until ``accrue_until``."""

    state_at_start: VmState | None
    rows: Iterator[TransitionRow]
    accrue_until: datetime


def window_rows(
    ledger: Ledger,
    current: CurrentRow,
    start: datetime,
    end: datetime,
    as_of: datetime,
    page_size: int = 1000,
) -> WindowRows:
    """One range query from ``start``: its first row's ``prev`` is the state in force at ``start``.

    With no transition at or after ``start``, the current row's state has held since before it.
    Nothing accrues after ``as_of``.
    """
    accrue_until = max(min(end, as_of), start)
    rows = ledger.iter_transitions(current.vm, start=start, page_size=page_size)
    first = next(rows, None)
    if first is None:
        return WindowRows(current.condition.state, iter(()), accrue_until)
    return WindowRows(first.prev, _until(_chain(first, rows), accrue_until), accrue_until)


def _chain(first: TransitionRow, rest: Iterator[TransitionRow]) -> Iterator[TransitionRow]:
    yield first
    yield from rest


def _until(rows: Iterator[TransitionRow], end: datetime) -> Iterator[TransitionRow]:
    for row in rows:
        if row.time >= end:
            return
        yield row
