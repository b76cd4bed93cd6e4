"""The JSON bodies of a timeline's segments: one object each, or compact rows (``resolution``).

With ``shared.web.bodies``, the only place the API's field names are spelt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.answers import Segment
from shared.domain.times import format_time
from shared.web.bodies import state_body
from shared.web.numbers import as_number


def segment_body(segment: Segment) -> dict[str, Any]:
    origin = segment.cause.origin if segment.cause else None
    return {
        "from": format_time(segment.start),
        "to": format_time(segment.end),
        **state_body(segment.state),
        "operationName": (origin.operation_name or None) if origin else None,
        "source": origin.source.value if origin else None,
    }


SEGMENT_ROW_COLUMNS = (
    "from",
    "to",
    "state",
    "billedSeconds",
    "notBilledSeconds",
    "unknownSeconds",
    "segments",
)


def segment_rows(segments: Sequence[Segment], start: datetime) -> dict[str, Any]:
    """Segments compact (with ``resolution``): one array a segment in ``SEGMENT_ROW_COLUMNS`` order, times
    in seconds after ``start`` (the window's), the state an index into the VM's ``states``."""
    states: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    rows: list[list[Any]] = []
    for segment in segments:
        state = {key: value for key, value in segment_body(segment).items() if key not in ("from", "to")}
        number = index.setdefault(json.dumps(state, sort_keys=True), len(states))
        if number == len(states):
            states.append(state)
        held = segment.holds()
        begins, ends = (segment.start - start).total_seconds(), (segment.end - start).total_seconds()
        rows.append([
            as_number(begins), as_number(ends), number, as_number(held.billed_seconds),
            as_number(held.not_billed_seconds), as_number(held.unknown_seconds), held.segments,
        ])  # fmt: skip
    return {"states": states, "segmentRows": rows}
