"""Health events end to end: the real ``on_vm_event``, a real Azurite, and the fake Resource Manager
serving the published instance view shape."""

from __future__ import annotations

import csv
import io
import json

import azure.functions as func
import pytest

import function_app
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_vm
from devtools.worker import event_grid_argument
from shared import context, settings
from shared.errors import UpstreamUnavailable
from shared.jobs import reconcile_subscription
from tests.factories import deliver
from tests.health_factories import health_event

pytestmark = pytest.mark.azurite

VM = vm_id("web-01", "rg-app")
INSTANCE_VIEW = "/providers/Microsoft.Compute/virtualMachines/web-01/instanceView"


@pytest.fixture
def arm(ledger_env, monkeypatch):
    """A fake ARM for the process's client; ``arm.set_vms`` says what the instance view shows."""
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "web-01", power="running")]}) as fake:
        monkeypatch.setenv(settings.ARM_ENDPOINT, fake.url)
        context.reset()
        yield fake
        context.reset()


def show(fake: FakeArm, power: str | None, *, hibernated: bool = False) -> None:
    vms = [] if power is None else [make_vm(SUB, "rg-app", "web-01", power=power, hibernated=hibernated)]
    fake.set_vms(SUB, vms)


def instance_view_reads(fake: FakeArm) -> int:
    return sum(request.path.endswith(INSTANCE_VIEW) for request in fake.requests)


def http(fn, route: dict[str, str], **params: str) -> func.HttpResponse:
    url = "http://localhost:7071/api/vms/" + "/".join(route.values())
    return fn(func.HttpRequest("GET", url, body=b"", params=params, route_params=route))


ROUTE = {"subscriptionId": SUB, "resourceGroup": "rg-app", "vmName": "web-01"}


def transitions() -> list[dict]:
    response = http(function_app.list_vm_transitions, ROUTE)
    assert response.status_code == 200
    return json.loads(response.get_body())["value"]


def table_rows(ledger) -> list[dict]:
    return sorted((dict(entity) for entity in ledger.table.list_entities()), key=lambda e: e["RowKey"])


def started_at_one() -> None:
    deliver(wire_event("start", at(hours=1), resource_id=VM))


@pytest.mark.parametrize("schema", ["EventGrid", "CloudEvents"])
def test_a_guest_shutdown_flips_a_running_vm_to_stopped_still_billed_at_the_payloads_time(arm, schema):
    started_at_one()
    show(arm, "stopped")
    # Delivered an hour after the shutdown: the payload's time counts, not the delivery's.
    deliver(health_event(at(hours=2), resource_id=VM, schema=schema, delivered=at(hours=3)))

    assert instance_view_reads(arm) == 1
    last = transitions()[-1]
    assert (last["time"], last["powerState"], last["billable"]) == (
        "2026-11-23T02:00:00.000000Z",
        "stopped",
        True,
    )
    assert (last["source"], last["cause"]) == ("health", "guestShutdown")
    assert last["operationName"] == "health/ResourceAnnotated/VirtualMachineStoppedInternally"
    assert last["provisioningState"] == "Succeeded"
    window = {"from": at(0).isoformat(), "to": at(hours=4).isoformat()}
    body = json.loads(http(function_app.get_vm, ROUTE, **window).get_body())
    assert (body["powerState"], body["since"]) == ("stopped", "2026-11-23T02:00:00.000000Z")
    assert body["billedSeconds"] == 3 * 3600  # running 1-2, stopped (billed) 2-4
    assert body["unknownSeconds"] == 3600  # before the first record


def test_a_spot_preemption_ends_in_deallocated_with_cause_spot_eviction(arm):
    started_at_one()
    show(arm, "deallocated")
    deliver(health_event(at(hours=2), resource_id=VM, annotation="VirtualMachinePreempted"))
    last = transitions()[-1]
    assert (last["powerState"], last["billable"], last["cause"]) == ("deallocated", False, "spotEviction")
    assert last["time"] == "2026-11-23T02:00:00.000000Z"


def test_a_spot_vm_evicted_with_the_delete_policy_is_deleted_at_the_eviction_time(arm):
    started_at_one()
    show(arm, None)  # the instance view answers 404
    deliver(health_event(at(hours=2), resource_id=VM, annotation="VirtualMachinePreempted"))
    last = transitions()[-1]
    assert (last["deleted"], last["cause"], last["time"]) == (
        True,
        "spotEviction",
        "2026-11-23T02:00:00.000000Z",
    )


def test_a_vm_gone_after_any_other_annotation_is_left_to_the_reconcile(arm, ledger):
    started_at_one()
    before = table_rows(ledger)
    show(arm, None)
    deliver(health_event(at(hours=2), resource_id=VM))
    assert table_rows(ledger) == before


@pytest.mark.parametrize(
    "code",
    [
        None,  # a 404 without a body: a gateway or proxy, not Resource Manager, answered
        "NotFound",  # Compute's "The entity was not found in this Azure location": a location mismatch
        "SubscriptionNotFound",  # the subscription is not visible to this identity: proves nothing
    ],
)
def test_only_resource_not_found_says_an_evicted_vm_is_deleted_any_other_404_is_retried(arm, ledger, code):
    started_at_one()
    before = table_rows(ledger)
    arm.faults = Faults(fail_instance_view=404, fail_code=code)
    eviction = health_event(at(hours=2), resource_id=VM, annotation="VirtualMachinePreempted")
    with pytest.raises(UpstreamUnavailable) as raised:
        function_app.on_vm_event(event_grid_argument(eviction))
    assert (raised.value.status, raised.value.code) == (404, code)
    assert table_rows(ledger) == before
    # The retries end once a complete listing has recorded what became of the VM: the event is late then.
    reconcile_subscription(ledger, SUB, [[]], clock=lambda: at(hours=3))
    reads = instance_view_reads(arm)
    deliver(eviction)
    assert instance_view_reads(arm) == reads
    last = transitions()[-1]
    assert (last["deleted"], last["source"]) == (True, "reconcile")
    assert last["time"] == "2026-11-23T03:00:00.000000Z"


@pytest.mark.slow
@pytest.mark.parametrize("faults", [Faults(fail_instance_view=500), Faults(fail_instance_view=403)])
def test_a_failed_instance_view_read_raises_so_event_grid_retries_and_nothing_is_written(arm, ledger, faults):
    started_at_one()
    show(arm, "stopped")
    before = table_rows(ledger)
    arm.faults = faults
    event = health_event(at(hours=2), resource_id=VM)
    with pytest.raises(UpstreamUnavailable) as raised:
        function_app.on_vm_event(event_grid_argument(event))
    assert raised.value.status == faults.fail_instance_view and raised.value.service == "Resource Manager"
    assert table_rows(ledger) == before
    # Event Grid delivers it again once Resource Manager answers.
    arm.faults = Faults()
    deliver(event)
    assert transitions()[-1]["cause"] == "guestShutdown"


def test_a_throttled_read_is_retried_after_retry_after_within_one_delivery(arm):
    started_at_one()
    show(arm, "stopped")
    arm.faults = Faults(throttle_first=1, retry_after="0")
    deliver(health_event(at(hours=2), resource_id=VM))
    assert instance_view_reads(arm) == 2
    assert transitions()[-1]["powerState"] == "stopped"


def test_a_duplicate_annotation_changes_nothing_and_reads_nothing(arm, ledger):
    started_at_one()
    show(arm, "stopped")
    event = health_event(at(hours=2), resource_id=VM)
    deliver(event)
    after_first = table_rows(ledger)
    show(arm, "running")  # even if the VM has changed since
    deliver(event)
    deliver(health_event(at(hours=2), resource_id=VM, schema="CloudEvents", event_id=event["id"]))
    assert table_rows(ledger) == after_first
    assert instance_view_reads(arm) == 1


def test_a_late_annotation_changes_nothing(arm, ledger):
    started_at_one()
    deliver(wire_event("deallocate", at(hours=3), resource_id=VM))
    before = table_rows(ledger)
    show(arm, "running")  # what the instance view shows now says nothing about 02:00
    deliver(health_event(at(hours=2), resource_id=VM))
    assert table_rows(ledger) == before
    assert instance_view_reads(arm) == 0


def test_an_instance_view_that_shows_what_the_ledger_says_records_nothing(arm, ledger):
    started_at_one()
    before = table_rows(ledger)
    deliver(health_event(at(hours=2), resource_id=VM, availability="Available"))
    assert instance_view_reads(arm) == 1
    assert table_rows(ledger) == before


def test_an_availability_change_records_the_state_it_reveals(arm):
    started_at_one()
    show(arm, "deallocated", hibernated=True)
    deliver(health_event(at(hours=2), resource_id=VM, availability="Unavailable"))
    last = transitions()[-1]
    assert (last["powerState"], last["hibernated"], last["cause"]) == ("deallocated", True, "availability")
    assert last["operationName"] == "health/AvailabilityStatusChanged/Unavailable"


def test_a_vm_first_seen_through_a_health_event_is_adopted_with_unknown_before(arm):
    show(arm, "stopped")
    deliver(health_event(at(hours=2), resource_id=VM))
    [only] = transitions()
    assert (only["powerState"], only["cause"]) == ("stopped", "guestShutdown")
    body = json.loads(
        http(
            function_app.get_vm, ROUTE, **{"from": at(0).isoformat(), "to": at(hours=3).isoformat()}
        ).get_body()
    )
    assert (body["billedSeconds"], body["unknownSeconds"]) == (3600, 2 * 3600)


def test_no_free_text_or_personal_data_from_the_payload_reaches_the_table(arm, ledger):
    started_at_one()
    show(arm, "stopped")
    event = health_event(at(hours=2), resource_id=VM)
    deliver(event)
    stored = json.dumps(table_rows(ledger), default=str)
    properties = event["data"]["resourceInfo"]["properties"]
    for text in (
        properties["reason"],
        properties["summary"],
        properties["context"],
        event["data"]["resourceInfo"]["id"],
    ):
        assert text not in stored


def test_the_transitions_csv_has_the_cause(arm):
    started_at_one()
    show(arm, "stopped")
    deliver(health_event(at(hours=2), resource_id=VM))
    response = http(function_app.list_vm_transitions, ROUTE, format="csv")
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert [row["cause"] for row in rows] == ["", "guestShutdown"]
    assert [row["source"] for row in rows] == ["event", "health"]


def test_a_guest_shutdown_of_a_scale_set_instance_reads_the_instances_own_view(arm):
    from devtools.fake_arm import make_instance, make_scale_set

    scale_set = make_scale_set(SUB, "rg-app", "web-ss")
    instance_id = f"{scale_set['id']}/virtualMachines/3"
    arm.set_scale_sets(
        SUB, [{"scaleSet": scale_set, "instances": [make_instance(scale_set, "3", power="stopped")]}]
    )
    start = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start/action"
    deliver(wire_event("start", at(hours=1), resource_id=instance_id, operation=start))
    event = health_event(at(hours=2), resource_id=instance_id)
    event["data"]["resourceInfo"]["properties"].update(
        targetResourceId=instance_id,
        targetResourceType="Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
    )
    deliver(event)

    assert any(r.path.lower() == f"{instance_id}/instanceView".lower() for r in arm.requests)
    route = {"subscriptionId": SUB, "resourceGroup": "rg-app", "scaleSetName": "web-ss", "instanceId": "3"}
    url = f"http://localhost:7071/api/vms/{SUB}/rg-app/web-ss/instances/3/transitions"
    response = function_app.list_vm_instance_transitions(
        func.HttpRequest("GET", url, body=b"", params={}, route_params=route)
    )
    last = json.loads(response.get_body())["value"][-1]
    assert (last["time"], last["powerState"], last["billable"], last["cause"]) == (
        "2026-11-23T02:00:00.000000Z",
        "stopped",
        True,
        "guestShutdown",
    )
