"""What a summary segment of a timeline holds (``timelines.summarised`` merges them).

A summary keeps the seconds billed, not billed and unknown inside it, how many segments it holds, and the
state that lasted longest in it (the dominant state, first seen on a tie). Every segment kept whole and
every closed run spans at least ``resolution``, and a lone short segment only sits between two of those,
so a window of ``W`` yields at most ``2 x ceil(W / resolution) + 1`` segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.vm_state import VmState


@dataclass(frozen=True)
class Summary:
    """What a summary segment holds: its segments' seconds by billing, and how many it merged."""

    billed_seconds: float
    not_billed_seconds: float
    unknown_seconds: float
    segments: int


def _key(state: VmState | None) -> tuple[object, ...]:
    if state is None:
        return (None,)
    return (state.provisioning_state, state.power_state, state.hibernated, state.deleted, state.billable)


def summary_of(parts: Sequence[tuple[datetime, datetime, VmState | None]]) -> tuple[VmState | None, Summary]:
    """The dominant state of ``parts`` (start, end, state) and what they hold."""
    billed = not_billed = unknown = 0.0
    lasted: dict[tuple[object, ...], float] = {}
    first: dict[tuple[object, ...], VmState | None] = {}
    for start, end, state in parts:
        seconds = (end - start).total_seconds()
        key = _key(state)
        lasted[key] = lasted.get(key, 0.0) + seconds
        first.setdefault(key, state)
        if state is None or state.deleted:
            continue
        if state.is_unknown:
            unknown += seconds
        elif state.billable:
            billed += seconds
        else:
            not_billed += seconds
    dominant = max(lasted, key=lambda key: lasted[key])  # the first of the longest: dicts keep order
    return first[dominant], Summary(billed, not_billed, unknown, len(parts))
