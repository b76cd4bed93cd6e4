"""One ledger, three subscriptions: events and health events from each, answers filtered and grouped
by subscription, one reconcile run over the list the deployment sets."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from devtools.events import at, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from shared import context, settings
from tests.factories import deliver
from tests.health_factories import health_event

pytestmark = pytest.mark.azurite

SUBS = [
    "0a000000-0000-4000-8000-00000000000a",
    "0b000000-0000-4000-8000-00000000000b",
    "0c000000-0000-4000-8000-00000000000c",
]


def list_vms(**params: str) -> list[dict]:
    request = func.HttpRequest("GET", "http://localhost:7071/api/vms", body=b"", params=params)
    response = function_app.list_vms(request)
    assert response.status_code == 200
    return json.loads(response.get_body())["value"]


@pytest.fixture
def three(ledger_env, monkeypatch):
    """Two VMs in each subscription, started by events; the fake ARM lists them all running."""
    listings = {sub: [make_vm(sub, "rg-app", name) for name in ("a", "b")] for sub in SUBS}
    with FakeArm(listings) as fake:
        monkeypatch.setenv(settings.ARM_ENDPOINT, fake.url)
        monkeypatch.setenv(settings.RECONCILE_SUBSCRIPTION_IDS, ",".join(reversed(SUBS)))
        context.reset()
        for sub in SUBS:
            for name in ("a", "b"):
                deliver(wire_event("start", at(hours=1), resource_id=vm_id(name, "rg-app", sub)))
        yield fake
        context.reset()


def test_the_list_is_grouped_by_subscription_and_filters_to_one(three):
    everything = list_vms()
    assert [(vm["subscriptionId"], vm["vmName"]) for vm in everything] == [
        (sub, name) for sub in SUBS for name in ("a", "b")
    ]
    for sub in SUBS:
        assert {vm["subscriptionId"] for vm in list_vms(subscriptionId=sub)} == {sub}
    # Paging walks across subscriptions without losing or repeating one.
    first = function_app.list_vms(
        func.HttpRequest("GET", "http://localhost:7071/api/vms", body=b"", params={"top": "3"})
    )
    assert len(json.loads(first.get_body())["value"]) == 3


def test_a_health_event_of_one_subscription_touches_only_its_vm(three):
    stopped_inside = make_vm(SUBS[1], "rg-app", "a", power="stopped")
    three.set_vms(SUBS[1], [stopped_inside, make_vm(SUBS[1], "rg-app", "b")])
    deliver(health_event(at(hours=2), resource_id=vm_id("a", "rg-app", SUBS[1])))
    states = {(vm["subscriptionId"], vm["vmName"]): vm["powerState"] for vm in list_vms()}
    assert states.pop((SUBS[1], "a")) == "stopped"
    assert set(states.values()) == {"running"}


def test_one_reconcile_run_covers_every_configured_subscription(three):
    three.set_vms(SUBS[2], [make_vm(SUBS[2], "rg-app", "a", power="deallocated")])
    function_app.reconcile_vms(TimerRequest(past_due=False))
    listed = {sub for sub in SUBS if any("/subscriptions/" + sub in r.path for r in three.requests)}
    assert listed == set(SUBS)
    states = {(vm["subscriptionId"], vm["vmName"]): (vm["powerState"], vm["deleted"]) for vm in list_vms()}
    assert states[(SUBS[2], "a")] == ("deallocated", False)
    assert states[(SUBS[2], "b")][1] is True  # absent from a complete listing: deleted
    assert all(state == ("running", False) for key, state in states.items() if key[0] != SUBS[2])
