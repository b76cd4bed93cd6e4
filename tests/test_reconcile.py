"""Reconcile against a fake List All on 127.0.0.1 and a real Azurite."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_vm
from devtools.fake_prices import FakePrices
from shared import context, settings
from shared.answers import vm_report
from shared.domain.ids import parse_vm_id
from shared.jobs import ReconcileFailed, raise_for_failures, reconcile_subscription, reconcile_subscriptions
from shared.sources import ArmClient
from tests.factories import deliver

pytestmark = pytest.mark.azurite

OTHER_SUB = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
API = "2024-07-01"


def client_for(fake: FakeArm) -> ArmClient:
    return ArmClient(fake.url, API, retry_total=3, retry_backoff_factor=0)


def transitions(ledger, resource_id: str) -> list:
    return list(ledger.iter_transitions(parse_vm_id(resource_id)))


def state_of(ledger, resource_id: str):
    return ledger.get_current(parse_vm_id(resource_id)).condition.state


def test_a_shutdown_inside_the_guest_is_recorded_as_billed_stopped(ledger):
    deliver(wire_event("write", at(hours=1), resource_id=vm_id("db-01")))
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "db-01", power="stopped")]}) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=3)
        )
    assert (report.changed, report.unchanged, report.new) == (1, 0, 0)
    state = state_of(ledger, vm_id("db-01"))
    assert (state.power_state, state.billable) == ("stopped", True)
    last = transitions(ledger, vm_id("db-01"))[-1]
    assert last.evidence.source == "reconcile"
    assert last.time == at(hours=3)
    assert last.evidence.changed_after == at(hours=1)  # the uncertainty interval stays visible


def test_a_vm_created_outside_the_events_is_adopted_with_unknown_history_before_it(ledger):
    with FakeArm({SUB: [make_vm(SUB, "rg-data", "etl-07", power="running")]}) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
    assert report.new == 1
    vm = parse_vm_id(vm_id("etl-07", "rg-data"))
    totals = vm_report(ledger, vm, at(hours=1), at(hours=4), at(hours=4)).totals
    assert totals.billed_seconds == 2 * 3600
    assert totals.unknown_seconds == 3600  # before it was first seen


def test_a_vm_missing_from_a_complete_listing_is_recorded_as_deleted(ledger):
    deliver(
        wire_event("write", at(hours=1), resource_id=vm_id("keep")),
        wire_event("write", at(hours=1), resource_id=vm_id("gone")),
    )
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "keep")]}) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
    assert report.deleted == 1
    assert report.vanished == [vm_id("gone")]
    assert state_of(ledger, vm_id("gone")).deleted
    assert not state_of(ledger, vm_id("keep")).deleted


def test_a_listing_that_fails_part_way_deletes_nothing_and_reports_the_failure(ledger):
    names = [f"vm{i:02d}" for i in range(6)]
    deliver(*(wire_event("write", at(hours=1), resource_id=vm_id(name)) for name in names))
    vms = [make_vm(SUB, "rg-app", name) for name in names]
    with FakeArm({SUB: vms}, page_size=2, faults=Faults(fail_page=2)) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
    assert report.failure is not None and "1 page" in report.failure
    assert report.deleted == 0
    assert not any(state_of(ledger, vm_id(name)).deleted for name in names)


def test_listings_over_several_pages_are_followed_to_the_end(ledger):
    names = [f"node{i:02d}" for i in range(7)]
    with FakeArm(
        {SUB: [make_vm(SUB, "rg-pool", name, power="deallocated") for name in names]}, page_size=3
    ) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
        assert len(fake.requests) == 3
    assert (report.listed, report.new) == (7, 7)


def test_throttling_is_retried_and_the_run_still_completes(ledger):
    with FakeArm(
        {SUB: [make_vm(SUB, "rg-app", "web")]}, faults=Faults(throttle_first=2, retry_after="0")
    ) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
        assert len(fake.requests) == 3
    assert report.failure is None and report.new == 1


def test_a_missing_power_status_is_counted_unknown_and_changes_nothing(ledger):
    deliver(wire_event("write", at(hours=1), resource_id=vm_id("web")))
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "web", power=None)]}) as fake:
        report = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2)
        )
    assert (report.unknown, report.unchanged, report.changed) == (1, 1, 0)
    assert state_of(ledger, vm_id("web")).power_state == "running"
    assert len(transitions(ledger, vm_id("web"))) == 1


def test_a_second_run_with_the_same_listing_appends_nothing(ledger):
    listing = {
        SUB: [
            make_vm(SUB, "rg-app", "a", power="stopped"),
            make_vm(SUB, "rg-app", "b", hibernated=True, power="deallocated"),
        ]
    }
    with FakeArm(listing) as fake:
        reconcile_subscription(ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2))
        before = sorted(entity["RowKey"] for entity in ledger.table.list_entities())
        again = reconcile_subscription(
            ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=3)
        )
    after = sorted(entity["RowKey"] for entity in ledger.table.list_entities())
    assert (again.unchanged, again.changed, again.new) == (2, 0, 0)
    # Only the confirmations are new, in rows of their own: no transition, no month row.
    assert [key for key in after if not key.startswith("cf|")] == before
    assert [key for key in after if key.startswith("cf|")] == ["cf|rg-app|a", "cf|rg-app|b"]
    assert state_of(ledger, vm_id("b")).hibernated


def test_one_failing_subscription_does_not_stop_the_others_but_the_run_raises(ledger):
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "ok")]}) as fake:
        # OTHER_SUB is unknown to the fake: ARM answers 404 SubscriptionNotFound.
        failing, ok = reconcile_subscriptions(ledger, client_for(fake), [OTHER_SUB, SUB])
    assert "404" in failing.failure and ok.failure is None
    assert state_of(ledger, vm_id("ok")).power_state == "running"
    with pytest.raises(ReconcileFailed, match=f"1 subscription.*{OTHER_SUB}"):
        raise_for_failures([failing, ok])


def test_the_timer_function_reconciles_the_configured_subscriptions_without_a_token(ledger, monkeypatch):
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "timer-vm", power="stopped")]}) as fake:
        monkeypatch.setenv(settings.RECONCILE_SUBSCRIPTION_IDS, SUB)
        monkeypatch.setenv(settings.ARM_ENDPOINT, fake.url)
        monkeypatch.setenv(settings.COMPUTE_API_VERSION, API)
        context.reset()
        function_app.reconcile_vms(TimerRequest(past_due=False))
        request = fake.requests[0]
    assert request.query["statusOnly"] == "true"
    assert request.query["api-version"] == API
    assert "authorization" not in request.headers
    assert state_of(ledger, vm_id("timer-vm")).power_state == "stopped"


def test_the_timer_does_nothing_but_say_so_when_no_subscription_is_configured(ledger, monkeypatch, caplog):
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "unlisted")]}) as arm, FakePrices([]) as prices:
        monkeypatch.delenv(settings.RECONCILE_SUBSCRIPTION_IDS, raising=False)
        monkeypatch.setenv(settings.ARM_ENDPOINT, arm.url)
        monkeypatch.setenv(settings.RETAIL_PRICES_ENDPOINT, prices.url)
        context.reset()
        function_app.reconcile_vms(TimerRequest(past_due=True))
        asked = arm.requests + prices.requests
    assert asked == []  # neither listed nor priced anything
    assert ledger.list_subscriptions() == []  # and recorded no VM
    assert "RECONCILE_SUBSCRIPTION_IDS is empty" in caplog.text


def test_reconcile_observations_and_late_events_settle_in_time_order(ledger):
    deliver(wire_event("write", at(hours=1), resource_id=vm_id("mix")))
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "mix", power="deallocated")]}) as fake:
        reconcile_subscription(ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=5))
    deliver(wire_event("deallocate", at(hours=2), resource_id=vm_id("mix")))  # the event that was late
    rows = transitions(ledger, vm_id("mix"))
    assert [(row.time, row.evidence.source, row.state.power_state) for row in rows] == [
        (at(hours=1), "event", "running"),
        (at(hours=2), "event", "deallocated"),
        (at(hours=5), "reconcile", "deallocated"),
    ]
    assert state_of(ledger, vm_id("mix")).since == at(hours=2)


def test_the_http_api_shows_reconciled_states(ledger):
    with FakeArm({SUB: [make_vm(SUB, "rg-app", "seen", power="stopped")]}) as fake:
        reconcile_subscription(ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=2))
    request = func.HttpRequest("GET", "http://localhost/api/vms", body=b"", params={})
    [vm] = json.loads(function_app.list_vms(request).get_body())["value"]
    assert vm["resourceId"] == vm_id("seen")
    assert (vm["powerState"], vm["billable"], vm["deleted"]) == ("stopped", True, False)
    assert vm["since"] == vm["lastChange"] == "2026-11-23T02:00:00.000000Z"


def test_a_vm_listed_while_creating_is_recorded_as_creating_and_not_billed(ledger):
    listing = [make_vm(SUB, "rg-app", "new-vm", power="creating", provisioning="creating")]
    with FakeArm({SUB: listing}) as fake:
        reconcile_subscription(ledger, SUB, client_for(fake).iter_vm_pages(SUB), clock=lambda: at(hours=1))
    state = state_of(ledger, vm_id("new-vm"))
    assert (state.power_state, state.billable, state.provisioning_state) == ("creating", False, "Creating")
    report = vm_report(ledger, parse_vm_id(vm_id("new-vm")), at(hours=1), at(hours=3), at(hours=3))
    assert (report.totals.billed_seconds, report.totals.unknown_seconds) == (0, 0)
