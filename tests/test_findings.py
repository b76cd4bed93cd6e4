"""``GET /findings`` on Azurite: each kind at its threshold, how a stopped VM got there, confirmation by
reconcile, paging, CSV and its 400s; and the reconcile's warning line for an alert."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta

import pytest

import function_app
from devtools.events import ACTION_FAILED, SUB, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from shared.domain.times import utc_now
from shared.jobs import reconcile_subscription
from shared.sources import ArmClient
from tests.factories import deliver, http_get

pytestmark = pytest.mark.azurite


def ago(hours: float = 0, days: float = 0):
    return utc_now() - timedelta(hours=hours, days=days)


def findings(**params: str) -> list[dict]:
    response = http_get(function_app.list_findings, "findings", **params)
    assert response.status_code == 200, response.get_body()
    body = json.loads(response.get_body())
    return body["value"]


def by_vm(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(item["vmName"], item["kind"]): item for item in items}


def reconcile(ledger, vms: list[dict], at) -> object:
    with FakeArm({SUB: vms}) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        return reconcile_subscription(ledger, SUB, client.iter_vm_pages(SUB), clock=lambda: at)


def test_each_kind_is_found_at_its_threshold_and_not_below(ledger):
    deliver(
        wire_event("write", ago(hours=5), resource_id=vm_id("off-2h")),
        wire_event("powerOff", ago(hours=2), resource_id=vm_id("off-2h")),
        wire_event("write", ago(hours=5), resource_id=vm_id("off-30m")),
        wire_event("powerOff", ago(hours=0.5), resource_id=vm_id("off-30m")),
        wire_event("write", ago(days=45), resource_id=vm_id("cold-31d")),
        wire_event("deallocate", ago(days=31), resource_id=vm_id("cold-31d")),
        wire_event("write", ago(days=45), resource_id=vm_id("cold-29d")),
        wire_event("deallocate", ago(days=29), resource_id=vm_id("cold-29d")),
        wire_event("write", ago(hours=5), resource_id=vm_id("failed")),
        wire_event("restart", ago(hours=3), resource_id=vm_id("failed"), event_type=ACTION_FAILED),
    )
    found = by_vm(findings())
    off = found[("off-2h", "stoppedButBilled")]
    assert off["reachedBy"] == "powerOff" and off["billable"] is True
    assert 1.99 < off["hours"] < 2.01 and off["billedHours"] == off["hours"]
    assert off["estimatedCost"]["amount"] is None and off["estimatedCost"]["reason"] == "NoInventory"
    assert off["causeOperation"].endswith("powerOff/action")
    assert ("off-30m", "stoppedButBilled") not in found  # the 1-hour default
    cold = found[("cold-31d", "deallocatedLong")]
    assert cold["billedHours"] == 0 and 31 * 24 - 0.1 < cold["hours"] < 31 * 24 + 0.1
    assert ("cold-29d", "deallocatedLong") not in found
    failed = found[("failed", "failedProvisioning")]
    assert failed["provisioningState"] == "Failed" and failed["powerState"] == "running"
    assert 2.99 < failed["hours"] < 3.01
    # minHours replaces the minimum of every kind; kind narrows the list.
    lowered = by_vm(findings(minHours="0.25", kind="stoppedButBilled,deallocatedLong"))
    assert {("off-30m", "stoppedButBilled"), ("cold-29d", "deallocatedLong")} <= set(lowered)
    assert {kind for _, kind in lowered} == {"stoppedButBilled", "deallocatedLong"}


def test_a_guest_shutdown_found_by_reconcile_says_so_and_is_logged_once_for_an_alert(ledger, caplog):
    deliver(wire_event("write", ago(hours=6), resource_id=vm_id("guest", "rg-x")))
    caplog.set_level(logging.WARNING, logger="shared.jobs.reconcile")
    listing = [make_vm(SUB, "rg-x", "guest", power="stopped")]
    reconcile(ledger, listing, ago(hours=3))
    reconcile(ledger, listing, ago(hours=2))  # still stopped: not new, no second line
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stoppedButBilled")]
    assert len(lines) == 1 and vm_id("guest", "rg-x") in lines[0]
    item = by_vm(findings())[("guest", "stoppedButBilled")]
    assert item["reachedBy"] == "foundByReconcile" and item["causeSource"] == "reconcile"
    assert 2.99 < item["hours"] < 3.01


def test_a_state_no_event_or_reconcile_confirmed_for_two_periods_is_unconfirmed_until_reconcile_runs(ledger):
    deliver(
        wire_event("write", ago(hours=2), resource_id=vm_id("quiet")),
        wire_event("write", ago(hours=0.1), resource_id=vm_id("busy")),
    )
    found = by_vm(findings(kind="unconfirmed"))
    assert ("quiet", "unconfirmed") in found and ("busy", "unconfirmed") not in found
    assert 1.99 < found[("quiet", "unconfirmed")]["hours"] < 2.01
    listing = [make_vm(SUB, "rg-app", "quiet"), make_vm(SUB, "rg-app", "busy")]
    report = reconcile(ledger, listing, ago(hours=0.1))
    assert (report.unchanged, report.confirmed) == (2, 2)
    assert findings(kind="unconfirmed") == []
    # A VM reconcile lists without its power status is not confirmed by it.
    report = reconcile(ledger, [make_vm(SUB, "rg-app", "quiet", power=None)], utc_now())
    assert report.confirmed == 0


def test_findings_page_by_vm_and_come_as_csv(ledger):
    for index in range(5):
        name = f"off-{index}"
        deliver(
            wire_event("write", ago(hours=5), resource_id=vm_id(name)),
            wire_event("powerOff", ago(hours=2), resource_id=vm_id(name)),
        )
    first = http_get(function_app.list_findings, "findings", top="2", kind="stoppedButBilled")
    body = json.loads(first.get_body())
    assert len(body["value"]) == 2 and "nextLink" in body
    names = [item["vmName"] for item in body["value"]]
    while "nextLink" in body:
        token = body["nextLink"].split("continuationToken=")[1]
        page = http_get(
            function_app.list_findings, "findings", top="2", kind="stoppedButBilled", continuationToken=token
        )
        body = json.loads(page.get_body())
        names += [item["vmName"] for item in body["value"]]
    assert names == [f"off-{index}" for index in range(5)]
    response = http_get(function_app.list_findings, "findings", format="csv", kind="stoppedButBilled")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert len(rows) == 5 and rows[0]["kind"] == "stoppedButBilled" and rows[0]["reachedBy"] == "powerOff"
    assert rows[0]["estimatedCost"] == "" and float(rows[0]["billedHours"]) > 1.9


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"kind": "idle"}, "InvalidKind"),
        ({"kind": "stoppedButBilled,"}, "InvalidKind"),
        ({"minHours": "-1"}, "InvalidMinHours"),
        ({"minHours": "abc"}, "InvalidMinHours"),
        ({"minHours": "1e9"}, "InvalidMinHours"),
        ({"minHours": "999999999"}, "InvalidMinHours"),
        ({"top": "0"}, "InvalidTop"),
        ({"subscriptionId": "nope"}, "InvalidPathPart"),
        ({"continuationToken": "eyJhZnRlciI6ICJ0eHxhIn0"}, "InvalidContinuationToken"),
        ({"format": "xml"}, "InvalidFormat"),
    ],
)
def test_bad_parameters_are_400_with_their_code(ledger, params, code):
    response = http_get(function_app.list_findings, "findings", **params)
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"]["code"] == code


def test_thresholds_come_from_the_settings(ledger, monkeypatch):
    from shared import context

    monkeypatch.setenv("FINDINGS_STOPPED_MIN_HOURS", "0")
    monkeypatch.setenv("FINDINGS_UNCONFIRMED_AFTER_MINUTES", "600")
    context.reset()
    deliver(
        wire_event("write", ago(hours=5), resource_id=vm_id("just-off")),
        wire_event("powerOff", ago(hours=0.1), resource_id=vm_id("just-off")),
    )
    response = http_get(function_app.list_findings, "findings")
    body = json.loads(response.get_body())
    assert [(item["vmName"], item["kind"]) for item in body["value"]] == [("just-off", "stoppedButBilled")]
    assert body["thresholds"]["stoppedButBilledMinHours"] == 0
    assert body["thresholds"]["unconfirmedAfterHours"] == 10
