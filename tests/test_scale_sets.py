"""Scale set instances billed like VMs: instance and scale-set events, reconcile, answers, on Azurite with
a loopback fake ARM answering the published scale set shapes (``tests/data/published/vmss/``)."""

from __future__ import annotations

import json

import pytest

import function_app
from devtools.events import (
    ACTION_OK,
    SUB,
    at,
    instance_id,
    scale_set_id,
    scale_set_operation,
    vm_id,
    wire_event,
)
from devtools.fake_arm import FakeArm, Faults, make_instance, make_scale_set, make_vm
from devtools.fake_prices import FakePrices, meter
from devtools.worker import event_grid_argument
from shared import context, settings
from shared.answers import vm_report
from shared.domain.ids import parse_vm_id
from shared.jobs import reconcile_subscriptions, refresh_inventory, refresh_prices
from shared.sources import ArmClient, RetailPricesClient
from tests.factories import deliver, http_get, run_queued

pytestmark = pytest.mark.azurite

SS = make_scale_set(SUB, "rg-app", "web-ss", capacity=3)
FLEX = make_scale_set(SUB, "rg-app", "flex-ss", mode="Flexible")
WINDOW = {"from": at(0).isoformat(), "to": at(hours=12).isoformat()}


def instances(**powers: str) -> list[dict]:
    """``instances(i0="running", i2="deallocated")``: instances of ``web-ss`` by id."""
    return [make_instance(SS, name[1:], power=power) for name, power in powers.items()]


@pytest.fixture
def fake(ledger_env, monkeypatch):
    """A fake ARM with one plain VM and the scale set ``web-ss``; the app's ARM client points at it."""
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "plain")]}) as server:
        server.set_scale_sets(SUB, [{"scaleSet": SS, "instances": []}])
        monkeypatch.setenv(settings.ARM_ENDPOINT, server.url)
        context.reset()
        yield server


def set_instances(fake: FakeArm, listed: list[dict], *extra: dict) -> None:
    fake.set_scale_sets(SUB, [{"scaleSet": SS, "instances": listed}, *extra])


def scale_set_event(verb: str, hours: float, **options) -> dict:
    return wire_event(verb, at(hours=hours), resource_id=scale_set_id(), operation=scale_set_operation(verb),
                      **options)  # fmt: skip


def billed_hours(ledger, resource_id: str, hours: float = 12) -> float:
    report = vm_report(ledger, parse_vm_id(resource_id), at(0), at(hours=hours), at(hours=hours))
    return report.totals.billed_seconds / 3600


def rows_of(ledger, resource_id: str) -> list:
    return list(ledger.iter_transitions(parse_vm_id(resource_id)))


def scale_out_to_three(fake: FakeArm) -> None:
    set_instances(fake, instances(i0="running", i1="running", i2="running"))
    deliver(scale_set_event("write", 8))


def test_an_instance_deallocated_by_a_scale_set_action_bills_exactly_to_the_event_time(fake, ledger):
    scale_out_to_three(fake)
    set_instances(fake, instances(i0="deallocated", i1="deallocated", i2="running"))
    deliver(scale_set_event("deallocate", 10))

    assert billed_hours(ledger, instance_id("0")) == 2  # 08:00 to 10:00, to the second
    assert billed_hours(ledger, instance_id("2")) == 4
    last = rows_of(ledger, instance_id("1"))[-1]
    # Fmt: skip.
    assert (last.time, last.evidence.source, last.evidence.operation_name) == (
        at(hours=10),
        "event",
        "Microsoft.Compute/virtualMachineScaleSets/deallocate/action",
    )
    assert len(rows_of(ledger, instance_id("2"))) == 1  # unchanged: nothing written
    listings = [r for r in fake.requests if r.path.endswith("/virtualMachines")]
    assert len(listings) == 2 and all(r.query["$expand"] == "instanceView" for r in listings)


def test_a_redelivered_scale_set_event_lists_again_and_writes_nothing(fake, ledger):
    scale_out_to_three(fake)
    set_instances(fake, instances(i0="deallocated", i1="running", i2="running"))
    event = scale_set_event("deallocate", 10)
    deliver(event)
    before = len(list(ledger.table.list_entities()))
    deliver(event)
    assert len(list(ledger.table.list_entities())) == before


def test_a_state_the_operation_does_not_lead_to_is_recorded_at_the_listing_time(fake, ledger):
    scale_out_to_three(fake)
    set_instances(fake, instances(i0="stopped", i1="running", i2="running"))  # stopped: not a start's
    deliver(scale_set_event("start", 10))
    last = rows_of(ledger, instance_id("0"))[-1]
    assert last.evidence.source == "reconcile" and last.time > at(hours=10)
    assert last.evidence.changed_after == at(hours=8)


def test_a_scale_in_deletes_the_instances_it_removed_and_nothing_else(fake, ledger):
    deliver(wire_event("write", at(hours=7), resource_id=vm_id("plain")))
    scale_out_to_three(fake)
    set_instances(fake, instances(i0="running", i2="running"))
    deliver(scale_set_event("write", 11))

    gone = ledger.get_current(parse_vm_id(instance_id("1")))
    assert gone.condition.state.deleted and gone.span.last_time == at(hours=11)
    assert billed_hours(ledger, instance_id("1")) == 3
    for kept in (instance_id("0"), instance_id("2")):
        assert (
            len(rows_of(ledger, kept)) == 1
            and not ledger.get_current(parse_vm_id(kept)).condition.state.deleted
        )
    assert len(rows_of(ledger, vm_id("plain"))) == 1


def test_deleting_the_scale_set_deletes_every_instance_at_the_event_time_without_listing(fake, ledger):
    scale_out_to_three(fake)
    listed = len(fake.requests)
    deliver(wire_event("delete", at(hours=9), resource_id=scale_set_id(),
                       operation=scale_set_operation("delete")))  # fmt: skip
    assert len(fake.requests) == listed
    for n in "012":
        current = ledger.get_current(parse_vm_id(instance_id(n)))
        assert current.condition.state.deleted and current.span.last_time == at(hours=9)


def test_a_failed_listing_raises_so_the_queue_function_is_retried_and_nothing_is_half_written(fake, ledger):
    set_instances(fake, instances(i0="running", i1="running"))
    fake.faults = Faults(fail_page=1, fail_status=403)
    # Queued: the event is answered.
    function_app.on_vm_event(event_grid_argument(scale_set_event("write", 8)))
    deliveries = run_queued()
    assert [delivery.outcome for delivery in deliveries] == ["retry"] * 4 + ["poison"]
    assert all("instances of" in (delivery.error or "") for delivery in deliveries)
    assert list(ledger.table.list_entities()) == []


def test_a_scale_set_resource_manager_says_is_not_found_has_its_instances_deleted(fake, ledger):
    scale_out_to_three(fake)
    fake.set_scale_sets(SUB, [])  # the listing of its instances answers 404 ResourceNotFound
    deliver(scale_set_event("deallocate", 9))
    assert all(ledger.get_current(parse_vm_id(instance_id(n))).condition.state.deleted for n in "012")


@pytest.mark.slow
@pytest.mark.parametrize("code", [None, "NotFound", "SubscriptionNotFound", "ResourceGroupNotFound"])
def test_any_other_404_of_the_instance_listing_raises_and_deletes_nothing(fake, ledger, code):
    scale_out_to_three(fake)
    before = list(ledger.table.list_entities())
    fake.faults = Faults(fail_page=1, fail_status=404, fail_code=code)
    function_app.on_vm_event(event_grid_argument(scale_set_event("deallocate", 9)))
    deliveries = run_queued()
    assert [delivery.outcome for delivery in deliveries][-1] == "poison"
    assert all("instances of" in (delivery.error or "") for delivery in deliveries)
    assert list(ledger.table.list_entities()) == before


def test_instance_operations_go_through_the_same_table_and_billing_rules(fake, ledger):
    target = instance_id("4")
    shouted = target.upper().replace("RESOURCEGROUPS", "resourcegroups")  # ids are case-insensitive
    deliver(
        wire_event("write", at(hours=8), resource_id=target,
                   operation=scale_set_operation("write", instance=True)),
        wire_event("powerOff", at(hours=9), resource_id=shouted,
                   operation=scale_set_operation("powerOff", instance=True)),
        wire_event("deallocate", at(hours=10), resource_id=target,
                   operation=scale_set_operation("deallocate", instance=True)),
    )  # fmt: skip
    assert billed_hours(ledger, target) == 2  # powered off still bills
    assert len(rows_of(ledger, target)) == 3
    assert fake.requests == []  # instance events need no listing


def test_reconcile_finds_an_instance_changed_without_an_event_and_counts_a_flexible_member_once(fake, ledger):
    scale_out_to_three(fake)
    member = make_vm(SUB, "rg-app", "flex-vm1")
    member["properties"]["virtualMachineScaleSet"] = {"id": FLEX["id"]}
    fake.set_vms(SUB, [make_vm(SUB, "rg-app", "plain"), member])
    set_instances(fake, instances(i0="running", i1="stopped", i2="running"), {"scaleSet": FLEX})
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)

    [report] = reconcile_subscriptions(ledger, client, [SUB])
    assert (report.listed, report.new, report.changed, report.unchanged) == (5, 2, 1, 2)
    changed = rows_of(ledger, instance_id("1"))[-1]
    assert (changed.state.power_state, changed.evidence.source) == ("stopped", "reconcile")
    assert not any("flex-ss/virtualMachines" in r.path for r in fake.requests)  # Flexible: not listed

    body = json.loads(http_get(function_app.list_vms, "vms", scaleSet="flex-ss").get_body())
    assert [vm["vmName"] for vm in body["value"]] == ["flex-vm1"]
    assert body["value"][0]["scaleSet"] == {"name": "flex-ss", "id": FLEX["id"]}
    every = json.loads(http_get(function_app.list_vms, "vms").get_body())["value"]
    assert sorted(vm["vmName"] for vm in every) == ["flex-vm1", "plain", "web-ss_0", "web-ss_1", "web-ss_2"]

    [again] = reconcile_subscriptions(ledger, client, [SUB])
    assert (again.changed, again.new, again.deleted) == (0, 0, 0)  # converged


def test_a_failed_instance_page_in_reconcile_deletes_nothing(fake, ledger):
    scale_out_to_three(fake)
    set_instances(fake, [])  # all gone, but the listing of them will fail
    fake.faults = Faults(fail_page=1, fail_status=403)
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)
    [report] = reconcile_subscriptions(ledger, client, [SUB])
    assert "403" in report.failure and report.deleted == 0
    assert not any(ledger.get_current(parse_vm_id(instance_id(n))).condition.state.deleted for n in "012")


def test_findings_filter_by_scale_set_as_the_vm_list_does(fake, ledger):
    scale_out_to_three(fake)
    deliver(wire_event("powerOff", at(hours=9), resource_id=vm_id("plain")),
            wire_event("powerOff", at(hours=9), resource_id=instance_id("1"),
                       operation=scale_set_operation("powerOff", instance=True)))  # fmt: skip
    every = json.loads(http_get(function_app.list_findings, "findings", kind="stoppedButBilled").get_body())
    assert sorted(item["vmName"] for item in every["value"]) == ["plain", "web-ss_1"]
    for scale_set in ("web-ss", "WEB-SS", scale_set_id()):
        body = json.loads(
            http_get(
                function_app.list_findings, "findings", kind="stoppedButBilled", scaleSet=scale_set
            ).get_body()
        )
        assert [item["vmName"] for item in body["value"]] == ["web-ss_1"], scale_set
    for bad in ("a/b", "/subscriptions/x"):
        response = http_get(function_app.list_findings, "findings", scaleSet=bad)
        assert (response.status_code, json.loads(response.get_body())["error"]["code"]) == (
            400,
            "InvalidParameter",
        )


def test_the_http_api_answers_for_an_instance_and_filters_by_scale_set(fake, ledger):
    deliver(wire_event("write", at(hours=7), resource_id=vm_id("plain")))
    scale_out_to_three(fake)
    route = {"subscriptionId": SUB, "resourceGroup": "RG-APP", "scaleSetName": "Web-SS", "instanceId": "1"}
    body = json.loads(http_get(function_app.get_vm_instance, "vms/x/instances/1", route, **WINDOW).get_body())
    assert body["resourceId"] == instance_id("1") and body["instanceId"] == "1"
    assert body["scaleSet"] == {"name": "web-ss", "id": scale_set_id()}
    assert body["billedSeconds"] == 4 * 3600
    history = json.loads(http_get(function_app.list_vm_instance_transitions, "t", route).get_body())
    assert [item["operationName"] for item in history["value"]] == [scale_set_operation("write")]

    timelines = json.loads(
        http_get(function_app.list_vm_timelines, "timelines", scaleSet=scale_set_id(), **WINDOW).get_body()
    )
    assert [item["vmName"] for item in timelines["value"]] == ["web-ss_0", "web-ss_1", "web-ss_2"]
    csv = http_get(function_app.list_vms, "vms", format="csv", scaleSet="web-ss").get_body().decode()
    header, *lines = csv.splitlines()
    # Where the file had them before the inventory and cost columns were added after them.
    assert "lastChange,scaleSetName,scaleSetId,instanceId,vmSize" in header and len(lines) == 3
    assert f"web-ss,{scale_set_id()},0," in lines[0]
    plain = json.loads(http_get(function_app.list_vms, "vms", resourceGroup="rg-app").get_body())["value"]
    assert "scaleSet" not in next(vm for vm in plain if vm["vmName"] == "plain")


@pytest.mark.parametrize(
    ("route_or_params", "code"),
    [
        ({"route": {"instanceId": "a/b", "scaleSetName": "web-ss"}}, "InvalidPathPart"),
        ({"route": {"instanceId": "1", "scaleSetName": "web ss"}}, "InvalidPathPart"),
        ({"params": {"scaleSet": "/subscriptions/x"}}, "InvalidParameter"),
        (
            {
                "params": {
                    "scaleSet": scale_set_id(subscription="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"),
                    "subscriptionId": SUB,
                }
            },
            "InvalidParameter",
        ),  # fmt: skip
    ],
)
def test_bad_instance_routes_and_scale_set_filters_are_400_with_their_code(ledger, route_or_params, code):
    if "route" in route_or_params:
        route = {"subscriptionId": SUB, "resourceGroup": "rg-app", **route_or_params["route"]}
        response = http_get(function_app.get_vm_instance, "vms/x", route)
    else:
        response = http_get(function_app.list_vms, "vms", **route_or_params["params"])
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"]["code"] == code


def test_an_unknown_instance_is_404(ledger):
    route = {"subscriptionId": SUB, "resourceGroup": "rg-app", "scaleSetName": "web-ss", "instanceId": "9"}
    response = http_get(function_app.get_vm_instance, "vms/x", route)
    assert response.status_code == 404


def test_a_scale_set_action_event_spelt_delete_action_deletes_listed_out_instances(fake, ledger):
    scale_out_to_three(fake)
    set_instances(fake, instances(i0="running"))
    deliver(wire_event("delete", at(hours=9), resource_id=scale_set_id(), event_type=ACTION_OK,
                       operation="Microsoft.Compute/virtualMachineScaleSets/delete/action"))  # fmt: skip
    assert [ledger.get_current(parse_vm_id(instance_id(n))).condition.state.deleted for n in "012"] == [
        False,
        True,
        True,
    ]


def test_an_instance_takes_its_scale_sets_inventory_and_price(fake, ledger):
    """List All has no Uniform instances: the inventory refresh gives them their scale set's model, tags."""
    tagged = make_scale_set(SUB, "rg-app", "web-ss", capacity=3, priority="Spot", tags={"team": "web"})
    scale_out_to_three(fake)  # running from 08:00
    fake.set_scale_sets(SUB, [{"scaleSet": tagged, "instances": instances(i0="running")}])
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)
    report = refresh_inventory(
        ledger, SUB, lambda: client.iter_model_pages(SUB),
        scale_sets=lambda: client.iter_scale_set_pages(SUB),
    )  # fmt: skip
    assert report.failure is None and report.updated == 3  # the three instances the ledger has
    spot = meter("westeurope", "Standard_D2ls_v5", "0.0217", spot=True)
    with FakePrices([meter("westeurope", "Standard_D2ls_v5", "0.0850"), spot]) as prices:
        refresh_prices(ledger, RetailPricesClient(prices.url, "USD", retry_total=0))
    route = {"subscriptionId": SUB, "resourceGroup": "rg-app", "scaleSetName": "web-ss", "instanceId": "0"}
    body = json.loads(http_get(function_app.get_vm_instance, "vms/x", route, **WINDOW).get_body())
    assert (body["vmSize"], body["priority"], body["tags"]) == ("Standard_D2ls_v5", "Spot", {"team": "web"})
    assert body["billedSeconds"] == 4 * 3600  # 08:00 to 12:00
    assert (body["estimatedCost"]["hourlyPrice"], body["estimatedCost"]["amount"]) == (0.0217, 0.09)
    costs = json.loads(http_get(function_app.list_costs, "costs", groupBy="tag:team", **WINDOW).get_body())
    web = next(group for group in costs["value"] if group["group"] == "web")
    assert (web["vmCount"], web["estimatedCost"]["amount"]) == (3, 0.26)  # 3 x 4 h x 0.0217
