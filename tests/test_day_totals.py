"""Fleet answers from day rows (issue 24, item 1): whole UTC days summed from the day rows and the open day
on each current row, the partial edge days replayed, and the totals exactly those of replaying every
transition, for any window; rows written before day rows, or day rows lost, answer the same, and the
timer's month-row step rebuilds them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from devtools.events import SUB, vm_id, wire_event
from shared.answers._days import _whole_days, fleet_day_totals, of_window
from shared.answers._fleet import VmWindow
from shared.answers._window import window_rows
from shared.domain.ids import parse_vm_id
from shared.jobs import rebuild_month_rows
from tests.factories import deliver

pytestmark = pytest.mark.azurite

BEGIN = datetime(2026, 10, 28, tzinfo=UTC)
AS_OF = datetime(2026, 11, 20, 13, 17, 5, 250000, tzinfo=UTC)
VERBS = ("start", "deallocate", "powerOff", "start", "deallocate", "restart", "write")


def histories(seed: int) -> dict[str, list[tuple[str, datetime]]]:
    """A few VMs, from quiet (one event in weeks) to busy (20 a day), at odd microseconds."""
    rng = random.Random(seed)
    found: dict[str, list[tuple[str, datetime]]] = {}
    for index, per_day in enumerate((0.1, 1, 4, 12)):
        at = BEGIN + timedelta(days=index, seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6))
        events = [("write", at)]
        while at < AS_OF - timedelta(hours=2):
            at += timedelta(seconds=rng.expovariate(per_day / 86_400))
            events.append((rng.choice(VERBS), min(at, AS_OF - timedelta(hours=1))))
        found[f"vm-{index}"] = events
    return found


def record(events_by_vm: dict[str, list[tuple[str, datetime]]]) -> None:
    for name, events in events_by_vm.items():
        deliver(*(wire_event(verb, at, resource_id=vm_id(name, "rg-days")) for verb, at in events))


def windows(seed: int) -> list[tuple[datetime, datetime]]:
    rng = random.Random(seed)
    found = [
        (datetime(2026, 11, 1, tzinfo=UTC), AS_OF),  # the /costs default: this month so far
        (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),  # a whole month
        (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC)),  # before most VMs existed
        (datetime(2026, 11, 20, 1, tzinfo=UTC), datetime(2026, 11, 20, 2, tzinfo=UTC)),  # inside one day
        (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)),  # past as_of
    ]
    for _ in range(12):
        start = BEGIN - timedelta(days=3) + timedelta(seconds=rng.randrange(28 * 86_400))
        found.append((start, start + timedelta(seconds=rng.randrange(1, 20 * 86_400))))
    return found


def replayed(ledger, rows, start, end):
    """What every transition says: each VM's own rows, replayed."""
    answers = []
    for row in rows:
        window = window_rows(ledger, row, start, end, AS_OF)
        answers.append(
            of_window(VmWindow(window.state_at_start, list(window.rows), window.accrue_until), start)
        )
    return answers


def assert_same_as_replay(ledger) -> None:
    rows = list(ledger.iter_current_rows(SUB))
    for start, end in windows(7):
        got = fleet_day_totals(ledger, rows, start, end, AS_OF, whole_subscriptions=True)
        want = replayed(ledger, rows, start, end)
        for row, mine, theirs in zip(rows, got, want, strict=True):
            assert mine.existed == theirs.existed, (row.vm.name, start, end)
            assert mine.totals.billed_seconds == pytest.approx(theirs.totals.billed_seconds, abs=1e-6)
            assert mine.totals.unknown_seconds == pytest.approx(theirs.totals.unknown_seconds, abs=1e-6)
            deallocated = theirs.totals.deallocated_seconds
            assert mine.totals.deallocated_seconds == pytest.approx(deallocated, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_whole_days_summed_and_edges_replayed_answer_as_every_transition_does(ledger, seed):
    record(histories(seed))
    rows = list(ledger.iter_current_rows(SUB))
    assert all(row.upkeep.days is not None for row in rows)
    assert any(entity["RowKey"].startswith("dy|") for entity in ledger.table.list_entities())
    # Every VM's whole days are answered by its day rows, none by its transitions.
    assert len(_whole_days(ledger, rows, BEGIN.date(), AS_OF.date() - timedelta(days=1), True)) == len(rows)
    assert_same_as_replay(ledger)


@pytest.mark.slow
def test_a_late_event_drops_the_days_until_the_timer_rebuilds_them_and_answers_stay_exact(ledger):
    events = histories(3)
    record(events)
    late = events["vm-2"][5][1] + timedelta(minutes=1)
    deliver(wire_event("powerOff", late, resource_id=vm_id("vm-2", "rg-days")))
    assert ledger.get_current(parse_vm_id(vm_id("vm-2", "rg-days"))).upkeep.days is None
    assert_same_as_replay(ledger)
    rebuild_month_rows(ledger)
    assert ledger.get_current(parse_vm_id(vm_id("vm-2", "rg-days"))).upkeep.days is not None
    assert_same_as_replay(ledger)


@pytest.mark.slow
def test_rows_written_before_day_rows_answer_the_same_and_the_timer_gives_them_days(ledger):
    record(histories(4))
    for entity in list(ledger.table.list_entities()):
        if entity["RowKey"].startswith("dy|"):
            ledger.table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        elif entity["RowKey"].startswith("vm|"):
            old = {key: value for key, value in entity.items() if key not in ("dayOpen", "dayRunning")}
            ledger.table.upsert_entity(old, mode="replace")
    assert all(row.upkeep.days is None for row in ledger.iter_current_rows(SUB))
    assert_same_as_replay(ledger)
    report = rebuild_month_rows(ledger)
    assert report.rebuilt == 4
    assert all(row.upkeep.days is not None for row in ledger.iter_current_rows(SUB))
    assert_same_as_replay(ledger)


@pytest.mark.slow
def test_a_lost_day_row_is_answered_from_the_transitions(ledger):
    record(histories(5))
    lost = [e for e in ledger.table.list_entities() if e["RowKey"].startswith("dy|2026-11|rg-days|vm-3")]
    assert lost
    ledger.table.delete_entity(lost[0]["PartitionKey"], lost[0]["RowKey"])
    assert_same_as_replay(ledger)
