"""``timelines?resolution=``: segments shorter than the resolution merged into summary segments, sent
compact, so a page's size is bounded by its window over the resolution whatever the transitions (issue 24,
item 2); without the parameter the answer is as it always was (the golden test holds that)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import function_app
from devtools.events import at, vm_id, wire_event
from shared.answers.timelines import Segment, summarised
from shared.domain.vm_state import VmState
from tests.factories import deliver, http_get

RUNNING = VmState("Succeeded", "running", False, False, True, at(0))
DEALLOCATED = VmState("Succeeded", "deallocated", False, False, False, at(0))
STOPPED = VmState("Succeeded", "stopped", False, False, True, at(0))


def segments(*parts: tuple[float, VmState | None]) -> list[Segment]:
    """Consecutive segments of ``minutes`` each from ``at(0)``."""
    found, start = [], at(0)
    for minutes, state in parts:
        end = start + timedelta(minutes=minutes)
        found.append(Segment(start, end, state, None))
        start = end
    return found


def test_short_segments_merge_into_a_summary_of_what_they_hold_and_long_ones_stay_whole():
    merged = summarised(
        segments(
            (120, RUNNING), (5, DEALLOCATED), (10, RUNNING), (20, DEALLOCATED), (30, STOPPED), (90, None)
        ),
        timedelta(hours=1),
    )
    assert [(s.start, s.end) for s in merged] == [
        (at(0), at(minutes=120)), (at(minutes=120), at(minutes=185)), (at(minutes=185), at(minutes=275)),
    ]  # fmt: skip
    whole, summary, last = merged
    assert whole.summary is None and last.summary is None and last.state is None
    assert summary.summary is not None and summary.summary.segments == 4
    assert summary.state == STOPPED  # 30 minutes: the longest state inside
    assert summary.summary.billed_seconds == 40 * 60  # 10 running + 30 stopped (allocated: billed)
    assert summary.summary.not_billed_seconds == 25 * 60


@pytest.mark.parametrize("seed", range(5))
def test_at_most_two_segments_per_resolution_plus_one_whatever_the_transitions(seed):
    import random

    rng = random.Random(seed)
    states = [RUNNING, DEALLOCATED, STOPPED, None]
    parts = [(rng.choice([0.1, 1, 3, 59, 61, 200]), rng.choice(states)) for _ in range(2000)]
    merged = summarised(segments(*parts), timedelta(hours=1))
    window = sum(minutes for minutes, _ in parts) / 60
    assert len(merged) <= 2 * -(-window // 1) + 1
    assert merged[0].start == at(0) and all(
        a.end == b.start for a, b in zip(merged, merged[1:], strict=False)
    )
    billed = sum(s.holds().billed_seconds for s in merged)
    assert billed == pytest.approx(sum(m * 60 for m, state in parts if state is not None and state.billable))


def timelines(**params: str):
    return http_get(function_app.list_vm_timelines, "timelines", **params)


@pytest.mark.slow
@pytest.mark.azurite
def test_a_busy_vm_comes_back_compact_with_its_totals_unchanged(ledger_env):
    vm = vm_id("busy", "rg-res")
    verbs = ["start", "deallocate"]
    deliver(wire_event("write", at(0), resource_id=vm))
    deliver(*(wire_event(verbs[i % 2], at(minutes=7 * i + 3), resource_id=vm) for i in range(1, 200)))
    window = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
    plain = json.loads(timelines(**window).get_body())
    body = json.loads(timelines(**window, resolution="PT1H").get_body())
    assert body["resolution"] == "PT1H"
    assert body["segmentColumns"] == [
        "from", "to", "state", "billedSeconds", "notBilledSeconds", "unknownSeconds", "segments",
    ]  # fmt: skip
    (item,), (full,) = body["value"], plain["value"]
    assert "segments" not in item and len(full["segments"]) == 200
    rows = item["segmentRows"]
    assert len(rows) <= 2 * 24 + 1
    assert rows[0][0] == 0 and rows[-1][1] == 24 * 3600
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:], strict=False))
    assert sum(row[3] for row in rows) == item["billedSeconds"] == full["billedSeconds"]
    assert sum(row[6] for row in rows) == 200
    assert {state["powerState"] for state in item["states"]} <= {"running", "deallocated"}
    assert len(json.dumps(body)) < len(json.dumps(plain)) / 5


@pytest.mark.azurite
@pytest.mark.parametrize("bad", ["P1M", "P1Y", "PT0S", "PT0.5S", "soon", "-PT1H", "P" + "9" * 60 + "D"])
def test_a_resolution_that_is_not_a_fixed_duration_of_a_second_or_more_is_a_400(ledger_env, bad):
    response = timelines(resolution=bad)
    assert response.status_code == 400
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "InvalidParameter"
    assert "'resolution' must be an ISO-8601 duration" in error["message"]


def test_the_start_of_a_window_is_the_origin_of_its_rows():
    assert datetime(2026, 11, 23, tzinfo=UTC) == at(0)
