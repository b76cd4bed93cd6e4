"""End to end through the real ``on_vm_event`` and the real HTTP functions, on a real Azurite."""

from __future__ import annotations

import json
import random

import azure.functions as func
import pytest

import function_app
from devtools.events import ACTION_FAILED, WRITE_OK, at, vm_id, wire_event
from shared import context
from shared.domain.ids import parse_vm_id
from shared.store._keys import current_key
from tests.factories import deliver, sample_day

pytestmark = pytest.mark.azurite

VM = vm_id("web-01", "rg-app")
DAY = sample_day(VM)  # 08 running, 10 stopped (billed), 11 deallocated, 13 running, 15 hibernated


def get(route: str, **params: str) -> tuple[int, dict]:
    """Call the HTTP function that serves ``route`` with a real ``func.HttpRequest``."""
    parts = route.strip("/").split("/")
    url = "http://localhost:7071/api/" + route.strip("/")
    if len(parts) == 1:
        fn, route_params = function_app.list_vms, {}
    else:
        names = ("subscriptionId", "resourceGroup", "vmName")
        route_params = dict(zip(names, parts[1:4], strict=False))
        fn = function_app.list_vm_transitions if parts[-1] == "transitions" else function_app.get_vm
    response = fn(func.HttpRequest("GET", url, body=b"", params=params, route_params=route_params))
    assert response.mimetype == "application/json"
    return response.status_code, json.loads(response.get_body())


def vm_route(resource_id: str = VM) -> str:
    parts = resource_id.split("/")
    return f"vms/{parts[2]}/{parts[4]}/{parts[8]}"


def test_a_day_of_events_bills_exactly_the_running_and_stopped_hours(ledger_env):
    deliver(*DAY)
    status, body = get(vm_route(), **{"from": at(0).isoformat(), "to": at(hours=24).isoformat()})
    assert status == 200
    # 08-10 running, 10-11 stopped (billed), 13-15 running: 5 hours.
    assert body["billedSeconds"] == 5 * 3600
    assert body["unknownSeconds"] == 0
    assert body["powerState"] == "deallocated"
    assert body["hibernated"] is True
    assert body["billable"] is False
    assert body["since"] == "2026-11-23T15:00:00.000000Z"
    assert body["resourceId"] == VM
    assert body["billedPowerStates"] == ["starting", "running", "stopping", "stopped"]


def test_an_interval_that_started_before_the_window_is_clipped_to_it(ledger_env):
    deliver(*DAY)
    _, body = get(vm_route(), **{"from": at(hours=9).isoformat(), "to": at(hours=14).isoformat()})
    # 09-10 running, 10-11 stopped, 13-14 running.
    assert body["billedSeconds"] == 3 * 3600
    assert body["window"] == {"from": "2026-11-23T09:00:00.000000Z", "to": "2026-11-23T14:00:00.000000Z"}


def test_a_window_inside_one_state_is_billed_from_the_state_before_it(ledger_env):
    deliver(*DAY)
    _, body = get(vm_route(), **{"from": at(hours=8, minutes=30).isoformat(), "to": at(hours=9).isoformat()})
    assert body["billedSeconds"] == 1800


def test_duplicated_and_shuffled_deliveries_give_the_same_answers(ledger_env):
    deliveries = DAY + DAY[1:3]
    random.Random(7).shuffle(deliveries)
    deliver(*deliveries)
    _, body = get(vm_route(), **{"from": at(0).isoformat(), "to": at(hours=24).isoformat()})
    assert body["billedSeconds"] == 5 * 3600
    assert body["powerState"] == "deallocated"
    _, history = get(vm_route() + "/transitions")
    assert [row["time"][11:16] for row in history["value"]] == ["08:00", "10:00", "11:00", "13:00", "15:00"]
    assert [row["powerState"] for row in history["value"]] == [
        "running", "stopped", "deallocated", "running", "deallocated",
    ]  # fmt: skip


def test_an_update_delivered_late_takes_the_power_state_of_its_place_in_time(ledger_env):
    update = wire_event("write", at(hours=12), resource_id=VM)  # an update while deallocated
    deliver(*DAY, update)
    _, history = get(vm_route() + "/transitions")
    by_time = {row["time"][11:16]: row for row in history["value"]}
    assert by_time["12:00"]["powerState"] == "deallocated"
    assert by_time["12:00"]["billable"] is False


def test_a_late_start_recomputes_the_failures_that_followed_it(ledger_env):
    failed = wire_event("restart", at(hours=14), resource_id=VM, event_type=ACTION_FAILED)
    deliver(DAY[0], DAY[2], failed)  # write 08, deallocate 11, failed restart 14
    _, before = get(vm_route())
    assert before["powerState"] == "deallocated"
    assert before["provisioningState"] == "Failed"
    deliver(DAY[3])  # the start at 13:00 arrives last
    _, after = get(vm_route(), **{"from": at(0).isoformat(), "to": at(hours=16).isoformat()})
    assert after["powerState"] == "running"
    assert after["since"] == "2026-11-23T13:00:00.000000Z"
    # 08-11 running (3h), 13-16 running (3h)
    assert after["billedSeconds"] == 6 * 3600


def test_a_deleted_vm_stops_accruing_at_its_deletion_and_is_listed_as_deleted(ledger_env):
    deliver(DAY[0], wire_event("delete", at(hours=9), resource_id=VM))
    _, body = get(vm_route(), **{"from": at(0).isoformat(), "to": at(hours=24).isoformat()})
    assert body["billedSeconds"] == 3600
    assert body["deleted"] is True
    _, listing = get("vms")
    assert [(row["vmName"], row["deleted"]) for row in listing["value"]] == [("web-01", True)]


def test_a_failure_on_a_vm_never_seen_starts_it_with_power_unknown(ledger_env):
    deliver(
        wire_event("write", at(hours=1), resource_id=VM, event_type=WRITE_OK.replace("Success", "Failure"))
    )
    _, body = get(vm_route(), **{"to": at(hours=3).isoformat()})
    assert body["powerState"] == "unknown"
    assert body["provisioningState"] == "Failed"
    assert body["unknownSeconds"] == 2 * 3600
    assert body["billedSeconds"] == 0


def test_both_schemas_are_recorded_alike(ledger_env):
    other = vm_id("web-02", "rg-app")
    deliver(
        wire_event("write", at(hours=1), resource_id=other, schema="CloudEvents"),
        wire_event("deallocate", at(hours=2), resource_id=other, schema="CloudEvents"),
    )
    _, body = get(vm_route(other), **{"to": at(hours=5).isoformat()})
    assert body["billedSeconds"] == 3600
    assert body["powerState"] == "deallocated"


def test_the_vm_is_found_in_any_casing_and_keeps_the_casing_first_seen(ledger_env):
    shouting = VM.replace("resourceGroups/rg-app", "resourcegroups/RG-APP").replace("web-01", "WEB-01")
    deliver(DAY[0], wire_event("start", at(hours=9), resource_id=shouting))
    status, body = get(vm_route(shouting))
    assert status == 200
    assert body["resourceId"] == VM
    _, listing = get("vms")
    assert len(listing["value"]) == 1


def test_no_caller_claims_or_personal_data_reach_the_table(ledger_env, ledger):
    deliver(*DAY)
    stored = json.dumps([dict(entity) for entity in ledger.table.list_entities()])
    for secret in ("Ada Lovelace", "ada@contoso.example", "203.0.113.7", "principalId", "claims"):
        assert secret not in stored


def test_each_transition_keeps_the_events_correlation_id_for_the_activity_log(ledger_env):
    start = wire_event("start", at(hours=9), resource_id=VM)
    start["data"]["correlationId"] = "8E1F3C2A-0B4D-4E6F-9A7B-1C2D3E4F5A6B"
    forged = wire_event("restart", at(hours=10), resource_id=VM)
    forged["data"]["correlationId"] = "Ada Lovelace <ada@contoso.example>"
    deliver(DAY[0], start, forged)
    _, history = get(vm_route() + "/transitions")
    ids = [(row["operationName"].split("/")[-2], row["correlationId"]) for row in history["value"]]
    assert ids[1:] == [("start", "8e1f3c2a-0b4d-4e6f-9a7b-1c2d3e4f5a6b"), ("restart", None)]
    assert ids[0][1] == DAY[0]["data"]["correlationId"]  # factories give every event a GUID


def test_a_redelivered_late_event_repairs_a_current_row_left_behind_by_an_interrupted_write(
    ledger_env, ledger
):
    update = wire_event("write", at(hours=5), resource_id=VM)  # an update: power as before
    late = wire_event("deallocate", at(hours=3), resource_id=VM)
    deliver(DAY[0], update, late)  # the late deallocate makes the 05:00 update "deallocated" too
    vm = parse_vm_id(VM)
    # A write split over several transactions stopped before its last one: the current row lags behind,
    # and carries the marker the first transaction set (the rows from the late key on are in flux).
    stale = dict(ledger.table.get_entity(vm.subscription_key, current_key(vm)))
    first, late_row = list(ledger.iter_transitions(vm))[:2]
    stale.update(statePowerState="running", stateSince="2026-11-23T08:00:00.000000Z", stateBillable=True)
    stale.update(pendingFrom=late_row.key, pendingPrevKey=first.key)
    ledger.table.upsert_entity(stale)
    context.reset()  # a new instance, nothing cached

    deliver(late)  # Event Grid delivers it again

    _, body = get(vm_route())
    assert (body["powerState"], body["since"]) == ("deallocated", "2026-11-23T03:00:00.000000Z")


def test_a_late_event_after_a_policy_change_keeps_the_flags_recorded_before_it(ledger_env, monkeypatch):
    deliver(DAY[0], wire_event("start", at(hours=12), resource_id=VM))  # flagged by the default policy
    monkeypatch.setenv("BILLED_POWER_STATES", "stopped")  # someone narrows the billed set
    context.reset()
    deliver(wire_event("restart", at(hours=10), resource_id=VM))  # late: lands before the 12:00 start

    _, history = get(vm_route() + "/transitions")
    flags = {row["time"][11:16]: (row["billable"], row["billingPolicy"]) for row in history["value"]}
    default = "starting,running,stopping,stopped"
    assert flags == {"08:00": (True, default), "10:00": (False, "stopped"), "12:00": (True, default)}
