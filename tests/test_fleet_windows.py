"""Fleet answers read month rows; they must equal what each VM's own transitions say, for any window."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from devtools.events import at, vm_id, wire_event
from shared.answers import fleet_timelines, vm_timeline
from shared.domain.ids import parse_vm_id
from shared.jobs import MonthRowsReport, handle_event, rebuild_month_rows
from shared.sources import inbound_from_json

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

VERBS = ["start", "powerOff", "deallocate", "restart", "deallocate"]


def _deliver_shuffled(ledger, seed: int) -> list[str]:
    rng = random.Random(seed)
    events, ids = [], []
    for index in range(6):
        resource_id = vm_id(f"vm-{index}", f"rg-{index % 2}")
        ids.append(resource_id)
        if index == 5:
            continue  # created later, below
        hours = sorted(rng.uniform(-24 * 70, 24 * 5) for _ in range(rng.randint(1, 14)))
        events.append(wire_event("write", at(hours=hours[0] - 1), resource_id=resource_id))
        events += [wire_event(rng.choice(VERBS), at(hours=h), resource_id=resource_id) for h in hours]
    events.append(wire_event("write", at(hours=24 * 3), resource_id=ids[5]))  # after most windows
    deliveries = events + rng.sample(events, 5)
    rng.shuffle(deliveries)
    for wire in deliveries:
        handle_event(inbound_from_json(wire), ledger)
    return ids


def _shown(segments) -> list[tuple]:
    """What an answer shows of segments (``since`` is not shown: month rows do not keep it)."""
    return [
        (
            segment.start,
            segment.end,
            replace(segment.state, since=None) if segment.state else None,
            segment.cause.origin if segment.cause else None,
        )
        for segment in segments
    ]


def _compare(ledger, start, end, as_of):
    rows = list(ledger.iter_current_rows())
    fleet = fleet_timelines(ledger, rows, start, end, as_of, max_transitions=2000)
    for row, got in zip(rows, fleet, strict=True):
        want = vm_timeline(ledger, row, start, end, as_of, max_transitions=2000)
        assert got.totals == want.totals, (row.vm.name, start, end)
        assert _shown(got.segments) == _shown(want.segments), (row.vm.name, start, end)


@pytest.mark.parametrize("seed", [1, 2])
def test_month_rows_answer_every_window_as_the_transitions_do(ledger, seed, caplog):
    _deliver_shuffled(ledger, seed)
    rng = random.Random(seed)
    as_of = at(hours=24 * 4)
    windows = [(at(hours=-24 * 80), at(hours=24 * 6)), (at(hours=-24 * 31), at(0)), (at(0), at(hours=24))]
    for _ in range(8):
        a, b = sorted(rng.uniform(-24 * 75, 24 * 6) for _ in range(2))
        windows.append((at(hours=a), at(hours=b)))
    # Late events left some VMs without a mark (their transitions answer); the timer's rebuild gives all one.
    assert any(row.upkeep.months is None for row in ledger.iter_current_rows())
    for start, end in windows:
        _compare(ledger, start, end, as_of)
    rebuild_month_rows(ledger)
    assert all(row.upkeep.months is not None for row in ledger.iter_current_rows())
    caplog.clear()
    for start, end in windows:
        _compare(ledger, start, end, as_of)
    # Rows as written agree with their marks: no answer and no timer run (whichever months it draws)
    # finds a disagreement in them.
    assert "disagree" not in caplog.text
    for hour in range(12):
        assert rebuild_month_rows(ledger, now=as_of + timedelta(hours=hour)) == MonthRowsReport(0, 0, 0, 0)


def test_rows_written_before_month_rows_existed_fall_back_to_the_transitions(ledger):
    resource_id = vm_id("old")
    for hour, verb in enumerate(["write", "deallocate", "start"]):
        handle_event(
            inbound_from_json(wire_event(verb, at(hours=hour - 24 * 40), resource_id=resource_id)), ledger
        )
    vm = parse_vm_id(resource_id)
    # What a ledger written by an earlier version holds: no month rows, no mark on the current row.
    table = ledger.table
    for entity in list(table.list_entities()):
        if entity["RowKey"].startswith("mo|"):
            table.delete_entity(entity["PartitionKey"], entity["RowKey"])
    current = dict(table.get_entity(vm.subscription_key, "vm|" + vm.vm_key))
    for name in ("monthOpen", "monthCount", "monthBeforeFirst"):
        current.pop(name)
    table.upsert_entity(current, mode="replace")
    ledger._cache.forget(vm)
    handle_event(inbound_from_json(wire_event("deallocate", at(hours=2), resource_id=resource_id)), ledger)
    handle_event(inbound_from_json(wire_event("start", at(hours=3), resource_id=resource_id)), ledger)
    windows = [(at(hours=-24 * 45), at(hours=6)), (at(hours=1), at(hours=5)), (at(hours=-24), at(0))]
    assert ledger.get_current(vm).upkeep.months is None  # appends do not start month rows half way
    for start, end in windows:
        _compare(ledger, start, end, at(hours=8))
    assert rebuild_month_rows(ledger).rebuilt == 1
    assert ledger.get_current(vm).upkeep.months is not None
    for start, end in windows:
        _compare(ledger, start, end, at(hours=8))
