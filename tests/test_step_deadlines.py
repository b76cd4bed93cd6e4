"""Every timer step inside the run's budget (issue 24, item 3): the month-row rebuild and the inventory
refresh stop at their deadline and say where; the next run goes on from there; a periodic step the
deadline cut short stays due."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from devtools.fake_arm import FakeArm, make_vm
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.jobs import Step, StepFailed, StepRun, rebuild_month_rows, refresh_inventory, run_steps
from shared.jobs.month_rows import RESUME_RECORD as MONTH_ROWS_RESUME
from shared.sources import ArmClient
from shared.store import Ledger, RunRecords, cursor_of

SUB = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
GROUP = "rg-deadline"
T0 = datetime(2026, 11, 3, 8, tzinfo=UTC)


def record(ledger: Ledger, vm: VmId, at: datetime, verb: str, event_id: str) -> None:
    ledger.record(NewTransition(vm, at, change_for(verb, SUCCEEDED), ResourceEvent(event_id, verb)))


def with_late_events(ledger: Ledger, count: int) -> list[VmId]:
    """VMs whose history a late event rewrote: their month rows wait for the rebuild (no mark)."""
    vms = [VmId(SUB, GROUP, f"vm-{n}") for n in range(count)]
    for vm in vms:
        record(ledger, vm, T0, "write", f"create-{vm.name}")
        record(ledger, vm, T0 + timedelta(hours=2), "deallocate", f"dealloc-{vm.name}")
        record(ledger, vm, T0 + timedelta(hours=1), "powerOff", f"late-{vm.name}")
    return vms


def unmarked(ledger: Ledger) -> list[str]:
    return [row.vm.name for row in ledger.iter_current_rows(SUB) if row.upkeep.months is None]


@pytest.mark.azurite
def test_the_month_row_rebuild_begins_nothing_after_its_deadline_and_the_next_run_goes_on_after_it(
    ledger, monkeypatch
):
    vms = with_late_events(ledger, 4)
    assert unmarked(ledger) == ["vm-0", "vm-1", "vm-2", "vm-3"]
    spent = rebuild_month_rows(ledger, deadline=time.monotonic() - 1, after=None)
    assert (spent.rebuilt, spent.stopped_after) == (0, None) and len(unmarked(ledger)) == 4

    monkeypatch.setattr("shared.jobs.month_rows._PAGE", 2)
    first_page_end = cursor_of(ledger.get_current(vms[1]))  # type: ignore[arg-type]
    resumed = rebuild_month_rows(ledger, deadline=time.monotonic() + 60, after=first_page_end)
    assert (resumed.rebuilt, resumed.stopped_after) == (2, None)  # whole: from the cursor to the end
    assert unmarked(ledger) == ["vm-0", "vm-1"]  # the pages before the cursor wait for the next pass
    assert rebuild_month_rows(ledger).rebuilt == 2 and unmarked(ledger) == []


@pytest.mark.azurite
def test_the_month_rows_step_keeps_where_its_deadline_stopped_it(ledger, monkeypatch):
    from shared.jobs.refresh import _TimerRun

    with_late_events(ledger, 3)
    monkeypatch.setattr("shared.jobs.month_rows._PAGE", 1)
    # The rebuild's clock: its first page begins, rebuilds its VM and ends in time; then the deadline is past.
    ticks = iter([0.0, 0.0, 0.0] + [10.0] * 100)
    monkeypatch.setattr("shared.jobs.month_rows.time", SimpleNamespace(monotonic=lambda: next(ticks)))
    run = _TimerRun(ledger, None, None, [SUB], 0, 0)  # type: ignore[arg-type]
    detail = run.month_rows(StepRun(T0, deadline=5.0))
    stopped = RunRecords(ledger.table).get(MONTH_ROWS_RESUME)
    assert stopped is not None and stopped.detail.endswith("vm-0") and "next run goes on" in detail
    assert unmarked(ledger) == ["vm-1", "vm-2"]
    monkeypatch.undo()
    run.month_rows(StepRun(T0, deadline=time.monotonic() + 60))
    assert unmarked(ledger) == [] and RunRecords(ledger.table).get(MONTH_ROWS_RESUME).detail == ""  # type: ignore[union-attr]


@pytest.mark.azurite
def test_the_inventory_refresh_writes_nothing_after_its_deadline_and_the_next_refresh_writes_the_rest(ledger):
    listing = {SUB: [make_vm(SUB, GROUP, f"vm-{n}") for n in range(3)]}
    for n in range(3):
        record(ledger, VmId(SUB, GROUP, f"vm-{n}"), T0, "write", f"create-{n}")
    with FakeArm(listing) as fake:
        arm = ArmClient(fake.url, "2024-07-01", retry_total=0)
        ahead = time.monotonic() + 60
        cut = refresh_inventory(ledger, SUB, lambda: arm.iter_model_pages(SUB, deadline=ahead), deadline=0.0)
        assert cut.updated == 0 and cut.failure is not None and "stopped at" in cut.failure
        assert all(row.profile.spec is None for row in ledger.iter_current_rows(SUB))
        whole = refresh_inventory(ledger, SUB, lambda: arm.iter_model_pages(SUB), deadline=ahead)
    assert (whole.updated, whole.failure) == (3, None)


@pytest.mark.azurite
def test_a_periodic_step_the_deadline_cut_short_stays_due_and_one_that_failed_in_time_does_not(ledger):
    calls: list[str] = []

    def cut_by_deadline(step: StepRun) -> str:
        calls.append("cut")
        time.sleep(max(0.0, step.deadline - time.monotonic()) + 0.01)
        raise StepFailed("stopped at vm-7")

    def failed_in_time(step: StepRun) -> str:
        calls.append("failed")
        raise StepFailed("upstream 503")

    steps = [
        Step("cut", timedelta(hours=6), 0.05, cut_by_deadline),
        Step("failed", timedelta(hours=6), 60.0, failed_in_time),
    ]
    records = RunRecords(ledger.table)
    for _ in range(2):
        run_steps(steps, records, seconds=60.0, clock=lambda: T0)
    assert calls == ["cut", "failed", "cut"]
    assert records.get("cut").detail.startswith("cut short by the deadline: stopped at vm-7")  # type: ignore[union-attr]
