"""Reconcile from a Resource Graph sweep against the loopback ARM (Resource Graph and Compute on one fake)
and Azurite: what the sweep says is never recorded before Compute's instance view confirms it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

import function_app
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_instance, make_row, make_scale_set, make_vm
from shared import context, settings
from shared.domain.ids import parse_vm_id
from shared.domain.watch import AUTO_SWEEP_ABOVE, ReconcileSource, parse_reconcile_source, sweeps
from shared.jobs import SubscriptionReport, Watch, reconcile_sweep, run_steps, timer_steps
from shared.sources import ArmClient, ResourceGraphClient, RetailPricesClient
from shared.store import RunRecords, WatchedSubscriptions
from tests.factories import deliver

pytestmark = pytest.mark.azurite

API = "2024-07-01"
GROUP = "mg-platform"
OTHER_SUB = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def sweep(
    ledger: Any, fake: FakeArm, subs: list[str] | None = None, **kwargs: Any
) -> list[SubscriptionReport]:
    arm = ArmClient(fake.url, API, retry_total=2, retry_backoff_factor=0)
    graph = ResourceGraphClient(fake.url, retry_total=2, retry_backoff_factor=0, sleep=lambda seconds: None)
    return reconcile_sweep(ledger, graph, arm, subs or [SUB], clock=lambda: at(hours=3), **kwargs)


def state_of(ledger: Any, resource_id: str) -> Any:
    return ledger.get_current(parse_vm_id(resource_id)).condition.state


def instance_view_reads(fake: FakeArm) -> int:
    return sum(request.path.endswith("/instanceView") for request in fake.requests)


def list_all_reads(fake: FakeArm) -> int:
    return sum(request.method == "GET" and "statusOnly" in request.query for request in fake.requests)


@pytest.fixture
def fake() -> Any:
    with FakeArm({SUB: []}) as server:
        server.graph.quota = 10_000
        yield server


def test_a_stale_row_is_overruled_by_compute_and_nothing_is_recorded(ledger: Any, fake: FakeArm) -> None:
    deliver(wire_event("start", at(hours=1), resource_id=vm_id("web-01")))
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", "web-01", power="running")])
    fake.graph.rows[vm_id("web-01").lower()] = make_row(vm_id("web-01"), "deallocated")
    [report] = sweep(ledger, fake)
    assert (report.overruled, report.changed, report.confirmed) == (1, 0, 1)
    assert state_of(ledger, vm_id("web-01")).power_state == "running"
    assert len(list(ledger.iter_transitions(parse_vm_id(vm_id("web-01"))))) == 1
    assert (instance_view_reads(fake), list_all_reads(fake)) == (1, 0)


def test_a_disagreement_compute_confirms_is_recorded_as_compute_says_with_source_reconcile(
    ledger: Any, fake: FakeArm
) -> None:
    deliver(wire_event("start", at(hours=1), resource_id=vm_id("db-01")))
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", "db-01", power="stopped")])
    [report] = sweep(ledger, fake)
    assert (report.changed, report.overruled) == (1, 0)
    state = state_of(ledger, vm_id("db-01"))
    assert (state.power_state, state.billable) == ("stopped", True)
    last = list(ledger.iter_transitions(parse_vm_id(vm_id("db-01"))))[-1]
    assert (last.evidence.source, last.time, last.evidence.changed_after) == (
        "reconcile",
        at(hours=3),
        at(hours=1),
    )


def test_a_vm_missing_from_the_sweep_is_deleted_only_when_compute_says_it_is_gone(
    ledger: Any, fake: FakeArm
) -> None:
    deliver(
        wire_event("start", at(hours=1), resource_id=vm_id("keep")),
        wire_event("start", at(hours=1), resource_id=vm_id("gone")),
    )
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", "keep")])
    fake.graph.rows[vm_id("keep").lower()] = None  # not in Resource Graph yet (or any more)
    [report] = sweep(ledger, fake)
    assert (report.deleted, report.vanished, report.overruled) == (1, [vm_id("gone")], 1)
    assert state_of(ledger, vm_id("gone")).deleted
    assert not state_of(ledger, vm_id("keep")).deleted
    assert instance_view_reads(fake) == 2


def test_a_vm_the_ledger_never_saw_is_adopted_from_its_instance_view_with_its_id_as_azure_spells_it(
    ledger: Any, fake: FakeArm
) -> None:
    fake.set_vms(SUB, [make_vm(SUB, "RG-Data", "ETL-07", power="running")])
    [report] = sweep(ledger, fake)
    assert (report.new, [vm.resource_id for vm in report.adopted]) == (1, [vm_id("ETL-07", "RG-Data")])
    current = ledger.get_current(parse_vm_id(vm_id("etl-07", "rg-data")))
    assert (current.vm.resource_id, current.condition.state.power_state) == (
        vm_id("ETL-07", "RG-Data"),
        "running",
    )


def test_a_row_of_a_vm_already_deleted_in_compute_records_nothing(ledger: Any, fake: FakeArm) -> None:
    fake.graph.extra.append(make_row(vm_id("deleted-a-minute-ago"), "running"))
    [report] = sweep(ledger, fake)
    assert (report.new, report.overruled) == (0, 1)
    assert ledger.get_current(parse_vm_id(vm_id("deleted-a-minute-ago"))) is None


def test_uniform_scale_set_instances_come_from_computeresources_and_are_confirmed_too(
    ledger: Any, fake: FakeArm
) -> None:
    scale_set = make_scale_set(SUB, "rg-pool", "pool")
    instances = [make_instance(scale_set, "0", power="deallocated"), make_instance(scale_set, "1")]
    fake.set_scale_sets(SUB, [{"scaleSet": scale_set, "instances": instances}])
    [report] = sweep(ledger, fake)
    assert report.new == 2
    instance = parse_vm_id(f"{scale_set['id']}/virtualMachines/0")
    assert instance is not None and ledger.get_current(instance).condition.state.power_state == "deallocated"
    assert {body["query"].split(" ")[0] for body in fake.graph.received} == {"resources", "computeresources"}


def test_agreeing_rows_are_confirmed_without_reading_compute(ledger: Any, fake: FakeArm) -> None:
    deliver(wire_event("start", at(hours=1), resource_id=vm_id("calm")))
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", "calm", power="running")])
    [report] = sweep(ledger, fake)
    assert (report.unchanged, report.confirmed, instance_view_reads(fake)) == (1, 1, 0)


def test_subscriptions_are_swept_in_batches_of_a_hundred(ledger: Any, fake: FakeArm) -> None:
    subs = [f"00000000-0000-4000-8000-{index:012d}" for index in range(150)]
    reports = sweep(ledger, fake, subs)
    assert len(reports) == 150 and not any(report.failure for report in reports)
    sizes = [len(body["subscriptions"]) for body in fake.graph.received]
    assert sizes == [100, 100, 50, 50]  # the VM and the instance query of each batch


def test_a_sweep_that_fails_judges_nothing(ledger: Any, fake: FakeArm) -> None:
    deliver(wire_event("start", at(hours=1), resource_id=vm_id("web-01")))
    fake.faults = Faults(throttle_first=100, retry_after="0")
    [report] = sweep(ledger, fake)
    assert report.failure is not None and "429" in report.failure
    assert not state_of(ledger, vm_id("web-01")).deleted
    assert instance_view_reads(fake) == 0


def test_instance_view_reads_past_the_run_budget_are_left_for_the_next_run(
    ledger: Any, fake: FakeArm
) -> None:
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", f"new-{index}") for index in range(3)])
    [report] = sweep(ledger, fake, max_confirmations=1)
    assert (report.new, report.deferred) == (1, 2)


def test_auto_sweeps_above_twenty_subscriptions_and_the_setting_names_its_values() -> None:
    assert not sweeps(ReconcileSource.AUTO, AUTO_SWEEP_ABOVE)
    assert sweeps(ReconcileSource.AUTO, AUTO_SWEEP_ABOVE + 1)
    assert sweeps(ReconcileSource.RESOURCE_GRAPH, 1) and not sweeps(ReconcileSource.LIST, 5_000)
    assert parse_reconcile_source("RESOURCEGRAPH") is ReconcileSource.RESOURCE_GRAPH
    with pytest.raises(ValueError, match="list, resourceGraph, auto"):
        parse_reconcile_source("graph")


def test_bad_sweep_settings_fail_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ((settings.RECONCILE_SOURCE, "sometimes"), (settings.WATCH_MANAGEMENT_GROUP, "a/b")):
        with pytest.raises(settings.ConfigurationError, match=name):
            settings.read_settings({settings.STORAGE_CONNECTION: "UseDevelopmentStorage=true", name: value})


def test_the_timer_watches_a_management_groups_subscriptions_and_sweeps_them(
    ledger: Any, fake: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.graph.management_groups[GROUP] = [
        {"subscriptionId": OTHER_SUB},
        {"subscriptionId": SUB, "state": "Disabled"},
    ]
    other_vm = make_vm(OTHER_SUB, "rg-app", "mg-vm", power="stopped")
    fake.set_vms(OTHER_SUB, [other_vm])
    for name, value in (
        (settings.ARM_ENDPOINT, fake.url),
        (settings.COMPUTE_API_VERSION, API),
        (settings.RECONCILE_SOURCE, "resourceGraph"),
        (settings.WATCH_MANAGEMENT_GROUP, GROUP),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(settings.RECONCILE_SUBSCRIPTION_IDS, raising=False)
    context.reset()
    function_app.reconcile_vms(TimerRequest(past_due=False))
    assert state_of(ledger, other_vm["id"]).power_state == "stopped"
    stored = WatchedSubscriptions(ledger.table).get(GROUP)
    assert stored is not None and stored.subscriptions == (OTHER_SUB,)
    record = RunRecords(ledger.table).get(f"watched|{GROUP}")
    assert record is not None and record.succeeded and "1 subscription(s)" in record.detail
    assert list_all_reads(fake) == 0
    assert fake.graph.received[0]["managementGroups"] == [GROUP]
    assert RunRecords(ledger.table).get(f"inventory|{OTHER_SUB}") is not None  # the later steps see it too


def watched_run(ledger: Any, fake: FakeArm, *, now: datetime, listed: tuple[str, ...] = ()) -> list[str]:
    """One run of the watched step (and nothing after it); the subscriptions the later steps would read."""
    arm = ArmClient(fake.url, API, retry_total=0)
    graph = ResourceGraphClient(fake.url, retry_total=0, sleep=lambda seconds: None)
    watch = Watch(ReconcileSource.LIST, graph, WatchedSubscriptions(ledger.table), GROUP)
    prices = RetailPricesClient("http://127.0.0.1:9", "USD")
    steps = timer_steps(
        ledger, arm, prices, subscriptions=listed, inventory_every=timedelta(hours=6),
        backfill_days=0, backfill_max_vms=0, watch=watch,
    )  # fmt: skip
    run_steps(steps[:1], RunRecords(ledger.table), seconds=60, clock=lambda: now)
    inventory = next(step for step in steps if step.name == "inventory")
    return [item for _, item in inventory.records() if item]


def test_the_management_group_is_read_once_an_inventory_period_and_kept_when_the_refresh_fails(
    ledger: Any, fake: FakeArm
) -> None:
    fake.graph.management_groups[GROUP] = [{"subscriptionId": OTHER_SUB}]
    first = watched_run(ledger, fake, now=at(hours=1), listed=(SUB,))
    assert first == [SUB, OTHER_SUB] and len(fake.graph.received) == 1
    assert watched_run(ledger, fake, now=at(hours=2), listed=(SUB,)) == [SUB, OTHER_SUB]
    assert len(fake.graph.received) == 1  # within the period: as stored
    fake.faults = Faults(throttle_first=100, retry_after="0")
    assert watched_run(ledger, fake, now=at(hours=8)) == [OTHER_SUB]  # the refresh failed: as stored
    record = RunRecords(ledger.table).get(f"watched|{GROUP}")
    assert record is not None and not record.succeeded and "refresh failed" in record.detail
