"""The bill's disk and public IP rows, matched by the inventory's resource ids to the VM that held them, shown
beside ``attachedCost`` (``attachedActualCost`` and ``attachedCostSameDays``), kept apart from compute's
``actualCost`` and from the ``billingDrift`` hours. Azurite, the whole-bill fixture's listings and prices, and
the loopback Cost Management fake's published-shape rows (the bill lower-cases resource ids)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

import function_app
from devtools.events import SUB, at
from devtools.fake_arm import BillLine, FakeArm
from shared.answers import daily_billed_hours
from shared.domain.actuals import drift_days
from shared.domain.attached import Held, PublicIpSpec, VmAttachments
from shared.domain.attached_actuals import AttachedOwners, attached_key, day_runs
from shared.jobs import refresh_actuals
from shared.sources import CostManagementClient
from tests.factories import http_get
from tests.test_arm_client import SleepRecordingTransport
from tests.test_whole_bill import DAY, DISKS_AT_ONE, WEB, WEB_IP, billed  # noqa: F401  (the fixture)

pytestmark = pytest.mark.azurite

BILL_DAY = at(0).date()  # the sample day, 2026-11-23
NOW = at(hours=24 * 3)
WEB_DATA, OLD_COPY = DISKS_AT_ONE[0]["id"], DISKS_AT_ONE[3]["id"]


def bill_lines(scale: float = 1.0) -> list[BillLine]:
    return [
        BillLine(WEB, "Virtual Machines", BILL_DAY, 0.48 * scale, 5.0),
        BillLine(WEB_DATA, "Storage", BILL_DAY, 2.0 * scale, 1.0 / 31),
        BillLine(WEB_IP["id"], "Virtual Network", BILL_DAY, 0.1 * scale, 24.0),
        BillLine(OLD_COPY, "Storage", BILL_DAY, 0.05 * scale, 1.0 / 31),  # unattached: no VM's
        BillLine(WEB_DATA, "Storage", BILL_DAY - timedelta(days=1), 2.0 * scale, 1.0 / 31),  # before listed
    ]


@pytest.fixture
def refreshed(billed):  # noqa: F811
    ledger = billed[0]
    with FakeArm({}) as fake:
        fake.costs.set_bill(SUB, "ActualCost", bill_lines())
        fake.costs.set_bill(SUB, "AmortizedCost", bill_lines(scale=0.5))
        client = CostManagementClient(fake.url, transport=SleepRecordingTransport(), retry_backoff_factor=0)
        report = refresh_actuals(ledger, client, SUB, now=NOW, daily_hours=daily_billed_hours)
    return ledger, report


def test_disk_and_ip_rows_are_stored_under_the_vm_that_held_them_apart_from_compute(refreshed):
    ledger, _ = refreshed
    stored = ledger.actuals.load(SUB, "2026-11", "2026-11")
    assert sorted(stored) == ["vm|rg-shop|web-01", "vm|rg-shop|web-01|att"]  # the loose disk is no VM's
    kept = stored[attached_key("rg-shop|web-01")]
    day = kept[BILL_DAY]
    assert (day.actual, day.amortized, day.hours, day.ledger_hours) == (
        Decimal("2.1"), Decimal("1.05"), 0.0, None,
    )  # fmt: skip
    assert kept[BILL_DAY - timedelta(days=1)].actual == Decimal("2.0")  # before the first listing
    assert stored["vm|rg-shop|web-01"][BILL_DAY].actual == Decimal("0.48")  # compute alone
    assert all(not drift_days(days.values()) for days in stored.values())


def test_a_vm_shows_its_disks_and_ips_bill_beside_their_estimate_of_the_same_days(refreshed):
    route = {"subscriptionId": SUB, "resourceGroup": "rg-shop", "vmName": "web-01"}
    body = json.loads(http_get(function_app.get_vm, "vms/x", route, **DAY).get_body())
    assert body["actualCost"]["amount"] == 0.48  # compute, as before
    assert body["attachedActualCost"] == {
        "amount": 2.1, "currency": "USD", "amortized": 1.05, "days": 1,
        "asOf": "2026-11-24T00:00:00.000000Z", "reason": None,
    }  # fmt: skip
    assert body["attachedCost"]["amount"] == 2.95
    assert body["attachedCostSameDays"] == {"amount": 2.95, "currency": "USD"}  # the window is the billed day
    two_days = {"from": (at(0) - timedelta(days=1)).isoformat(), "to": at(hours=24).isoformat()}
    wider = json.loads(http_get(function_app.get_vm, "vms/x", route, **two_days).get_body())
    assert wider["attachedActualCost"]["amount"] == 4.1 and wider["attachedActualCost"]["days"] == 2
    # the data disk, created 30 days before, is estimated on the 22nd too (2.40); the IP only from its first
    # listing (01:00 on the 23rd) and the OS disk from its creation (08:00 on the 23rd)
    assert wider["attachedCostSameDays"]["amount"] == 5.35


def test_costs_groups_sum_the_disks_and_ips_bill(refreshed):
    body = json.loads(http_get(function_app.list_costs, "costs", groupBy="tag:owner", **DAY).get_body())
    groups = {group["group"]: group for group in body["value"]}
    assert groups["shop"]["attachedActualCost"]["amount"] == 2.1
    assert groups["shop"]["attachedCostSameDays"]["amount"] == 2.95
    assert groups["data"]["attachedActualCost"]["reason"] == "NotBilledYet"
    assert groups["data"]["attachedActualCost"]["amount"] is None
    assert body["total"]["attachedActualCost"]["amount"] == 2.1
    assert body["total"]["actualCost"]["amount"] == 0.48


def _ip(name: str) -> PublicIpSpec:
    return PublicIpSpec(f"/subscriptions/{SUB}/resourceGroups/rg/providers/x/{name}", "Standard", None, None)


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "owner"),
    [
        (20, "vm|rg|a|att"),  # before the first listing: its first holder
        (21, "vm|rg|a|att"),  # a held it 0:00-18:00, b 18:00-24:00
        (22, "vm|rg|b|att"),
        (23, "vm|rg|b|att"),  # b let it go at 06:00: still the day's only holder
        (24, None),  # nobody held it
    ],
)
def test_a_days_row_goes_to_the_vm_that_held_the_resource_longest_that_day(day, owner):
    moving = _ip("moving")
    held = {
        "rg|a": VmAttachments((Held(moving, _at(21), _at(21, 18)),), _at(25)),
        "rg|b": VmAttachments((Held(moving, _at(21, 18), _at(23, 6)),), _at(25)),
    }
    owners = AttachedOwners(held)
    assert owners.owner_on(moving.resource_id.upper(), date(2026, 11, day)) == owner
    assert owners.owner_on(_ip("other").resource_id, date(2026, 11, day)) is None


def test_days_fall_into_runs_of_consecutive_days():
    days = [date(2026, 11, 3), date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 5)]
    assert day_runs(days) == [(date(2026, 11, 1), date(2026, 11, 3)), (date(2026, 11, 5), date(2026, 11, 5))]
