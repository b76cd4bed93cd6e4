"""The reconcile timer's whole run (``run_timer`` over ``timer_steps``): each step (reconcile, the backfill
of adopted VMs, month-row rebuild, inventory, prices) runs whatever another step or one source does, keeps
its own run record, and the run ends by its deadline. On Azurite, with the loopback fakes of Resource
Manager (List All, scale sets, Activity Log) and Retail Prices; a hang is shown by counting requests,
never by timing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, RecordedRequest, make_vm, operation_records
from devtools.fake_prices import FakePrices, meter
from devtools.faultproxy import FaultProxy, FaultRule
from shared import context, settings
from shared.domain.ids import parse_vm_id
from shared.domain.times import utc_now
from shared.jobs import TimerRunFailed, refresh_inventory, run_timer, timer_steps
from shared.sources import ArmClient, RetailPricesClient
from shared.sources.arm import MAX_VM_PAGES
from shared.store import Ledger, RunRecords
from tests.factories import deliver

pytestmark = pytest.mark.azurite

SIZE = "Standard_D2s_v5"
START = "Microsoft.Compute/virtualMachines/start/action"
# Every run record of a run on SUB, in the order the steps run.
RECORDS = [
    "reconcile", "adopted-backfill", "month-rows", "retention", f"inventory|{SUB}", "prices|USD",
    "findings-topic", "daily-digest",
]  # fmt: skip


def listed(name: str, power: str = "running") -> dict:
    return make_vm(SUB, "rg-app", name, power=power, vm_size=SIZE)


def with_late_event(name: str) -> None:
    """A VM whose history was rewritten by a late event: its month rows wait for the timer's rebuild."""
    resource_id = vm_id(name)
    deliver(wire_event("write", at(hours=1), resource_id=resource_id))
    deliver(wire_event("deallocate", at(hours=3), resource_id=resource_id))
    deliver(wire_event("start", at(hours=2), resource_id=resource_id))


def run(ledger: Ledger, arm: FakeArm, prices: FakePrices, *, seconds: float | None = None) -> None:
    """One timer run on ``SUB`` as the composition root starts it, with clients that do not retry."""
    steps = timer_steps(
        ledger,
        ArmClient(arm.url, "2024-07-01", retry_total=0),
        RetailPricesClient(prices.url, "USD", retry_total=0),
        subscriptions=[SUB],
        inventory_every=timedelta(hours=6),
        backfill_days=90,
        backfill_max_vms=50,
    )
    run_timer(steps, RunRecords(ledger.table), **({} if seconds is None else {"seconds": seconds}))


@pytest.mark.slow
def test_with_every_arm_listing_endless_the_timer_stops_at_the_caps_and_its_other_steps_run(ledger):
    with_late_event("late")
    late = parse_vm_id(vm_id("late"))
    assert ledger.get_current(late).upkeep.months is None
    day_ago = utc_now() - timedelta(days=1)
    with FakeArm({SUB: [listed("late")]}) as arm:  # yesterday's inventory, so prices have sizes to look up
        models = ArmClient(arm.url, "2024-07-01", retry_total=0).iter_model_pages
        refresh_inventory(ledger, SUB, lambda: models(SUB), clock=lambda: day_ago)
    endless = Faults(endless=True, stop_after=2 * MAX_VM_PAGES + 50)
    with (
        FakeArm({SUB: [listed("late")]}, faults=endless) as arm,
        FakePrices([meter("westeurope", SIZE, "0.1")]) as prices,
    ):
        with pytest.raises(TimerRunFailed, match="reconcile failed for 1 subscription"):
            run(ledger, arm, prices)
        arm_requests = len(arm.requests)
    assert arm_requests == 2 * MAX_VM_PAGES  # List All for reconcile, then for the inventory: each at its cap
    assert ledger.get_current(late).upkeep.months is not None  # month rows rebuilt all the same
    assert ledger.prices.get("USD", "westeurope", SIZE) is not None
    records = RunRecords(ledger.table)
    outcomes = {name: records.get(name).succeeded for name in RECORDS}
    assert outcomes == {"reconcile": False, "adopted-backfill": True, "month-rows": True, "retention": True,
                        f"inventory|{SUB}": False, "prices|USD": True, "findings-topic": True,
                        "daily-digest": True}  # fmt: skip
    assert "previous inventory kept" in records.get(f"inventory|{SUB}").detail


@pytest.mark.slow
def test_a_storage_outage_during_the_adopted_vms_backfill_stops_no_other_step(
    ledger_env, azurite, monkeypatch, caplog
):
    """Storage fails every transaction from the moment the backfill reads the Activity Log until the
    inventory refresh begins: the backfill records nothing, and the refreshes still run."""
    now = utc_now()
    history = operation_records(vm_id("new-a"), START, now - timedelta(days=3), seed="a")
    history += operation_records(vm_id("new-b"), START, now - timedelta(days=2), seed="b")
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(settings.STORAGE_CONNECTION, proxy.connection_string)
        context.reset()
        ledger = context.get_ledger()

        def outage(request: RecordedRequest) -> None:
            if "Insights" in request.path:
                proxy.set_faults([FaultRule("500", 1.0, kinds=frozenset({"batch"}))])
            elif "statusOnly" not in request.query and "virtualMachines" in request.path:
                proxy.heal()  # the models listing: the inventory refresh has begun

        listing = {SUB: [listed("new-a"), listed("new-b")]}
        with (
            FakeArm(listing, activity_log={SUB: history}) as arm,
            FakePrices([meter("westeurope", SIZE, "0.1")]) as prices,
        ):
            arm.on_request(outage)
            with caplog.at_level(logging.WARNING):
                run(ledger, arm, prices)
        for name in ("new-a", "new-b"):
            current = ledger.get_current(parse_vm_id(vm_id(name)))
            assert current.profile.spec is not None and current.profile.spec.vm_size == SIZE
            assert [row.evidence.source for row in ledger.iter_transitions(current.vm)] == ["reconcile"]
        assert ledger.prices.get("USD", "westeurope", SIZE) is not None
        backfill = RunRecords(ledger.table).get("adopted-backfill")
    context.reset()
    assert "FAILED for 2 VM(s) (adopted VMs)" in caplog.text
    assert not backfill.succeeded and "run python -m shared.cli backfill" in backfill.detail


def test_a_run_whose_deadline_has_passed_requests_nothing_and_leaves_the_refreshes_due(ledger, caplog):
    with_late_event("late")
    with FakeArm({SUB: [listed("late")]}) as arm, FakePrices([meter("westeurope", SIZE, "0.1")]) as prices:
        with caplog.at_level(logging.WARNING), pytest.raises(TimerRunFailed, match="reconcile: not started"):
            run(ledger, arm, prices, seconds=0)
        assert arm.requests == [] and prices.requests == []
    records = RunRecords(ledger.table)
    assert {name: records.get(name) for name in RECORDS} == dict.fromkeys(RECORDS)  # the next run does all
    assert ledger.get_current(parse_vm_id(vm_id("late"))).upkeep.months is None
    assert caplog.text.count("not started: the run's deadline has passed") == len(RECORDS)
