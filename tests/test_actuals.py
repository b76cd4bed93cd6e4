"""Cost Management's actuals beside the ledger, on Azurite with the loopback fake's Query API: the first
run's two months, paging and a 429 on the way, compute meters only and only the resources the ledger knows,
a Uniform scale set's usage compared with the sum of its instances, a day the bill revises overwritten, and
the ledger's hours kept beside the bill's for the ``billingDrift`` finding."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

import function_app
from devtools.events import SUB, at, instance_id, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import BillLine, FakeArm, make_vm
from devtools.fake_prices import FakePrices, meter
from shared.answers import daily_billed_hours, daily_digest, findings_page
from shared.domain.actuals import drift_days
from shared.domain.findings import FindingKind, Thresholds
from shared.jobs import Actuals, refresh_actuals, refresh_inventory, refresh_prices, run_timer, timer_steps
from shared.sources import ArmClient, CostManagementClient, RetailPricesClient
from shared.store import RunRecords
from shared.web.bodies import finding_body
from shared.web.pushed import digest_body
from tests.factories import deliver, http_get, sample_day
from tests.test_arm_client import SleepRecordingTransport

pytestmark = pytest.mark.azurite

DAY = date(2026, 11, 23)  # the sample day
NOW = at(hours=24 * 3)  # 2026-11-26: the sample day has been over for more than a day
WEB, DRIFTY = vm_id("web-01"), vm_id("drift-01")
POOL = scale_set_id("pool")


def instance_day(instance: str) -> list[dict]:
    """A Uniform instance started at 08:00 and deallocated at 13:00: 5 billed hours."""
    resource = instance_id(instance, "pool")
    start, stop = (scale_set_operation(verb, instance=True) for verb in ("start", "deallocate"))
    return [
        wire_event("start", at(hours=8), resource_id=resource, operation=start),
        wire_event("deallocate", at(hours=13), resource_id=resource, operation=stop),
    ]


def bill(web_cost: float = 0.48) -> list[BillLine]:
    return [
        BillLine(WEB, "Virtual Machines", DAY, web_cost, 5.0),
        BillLine(WEB, "Virtual Machines Licenses", DAY, 0.02, 5.0),  # cost, not hours
        BillLine(WEB.replace("virtualMachines/web-01", "disks/web-01-os"), "Storage", DAY, 0.1, 1.0),
        BillLine(DRIFTY, "Virtual Machines", DAY, 0.86, 9.0),  # the ledger has 5 hours
        BillLine(POOL, "Virtual Machines", DAY, 0.8, 10.0),  # two instances of 5 hours
        BillLine(vm_id("stranger"), "Virtual Machines", DAY, 9.99, 24.0),  # not in the ledger
        BillLine(WEB, "Virtual Machines", date(2026, 10, 31), 0.1, 1.0),  # the previous month
    ]


def priced(ledger) -> None:
    """web-01 and drift-01 listed as Standard_D2s_v5 in westeurope, priced 0.096 an hour."""
    models = {
        SUB: [make_vm(SUB, "rg-app", name, vm_size="Standard_D2s_v5") for name in ("web-01", "drift-01")]
    }
    with FakeArm(models) as arm, FakePrices([meter("westeurope", "Standard_D2s_v5", "0.096")]) as prices:
        listing = ArmClient(arm.url, "2024-07-01", retry_total=0)
        refresh_inventory(ledger, SUB, lambda: listing.iter_model_pages(SUB), clock=lambda: at(hours=20))
        refresh_prices(
            ledger, RetailPricesClient(prices.url, "USD", retry_total=0), clock=lambda: at(hours=21)
        )


@pytest.fixture
def fleet(ledger):
    deliver(*sample_day(WEB), *sample_day(DRIFTY), *instance_day("0"), *instance_day("1"))
    priced(ledger)
    with FakeArm({}) as fake:
        fake.costs.page_rows = 2
        fake.costs.set_bill(SUB, "ActualCost", bill())
        fake.costs.set_bill(SUB, "AmortizedCost", [BillLine(WEB, "Virtual Machines", DAY, 0.3, 5.0)])
        yield ledger, fake


def refresh(ledger, fake, now=NOW):
    client = CostManagementClient(fake.url, transport=SleepRecordingTransport(), retry_backoff_factor=0)
    return refresh_actuals(ledger, client, SUB, now=now, daily_hours=daily_billed_hours)


def test_the_first_run_stores_both_months_of_the_known_resources_compute(fleet):
    ledger, fake = fleet
    fake.costs.throttle = 1
    report = refresh(ledger, fake)
    periods = [(body["type"], body["timePeriod"]["from"][:10]) for body in fake.costs.received]
    assert sorted(set(periods)) == [
        ("ActualCost", "2026-10-01"), ("ActualCost", "2026-11-01"),
        ("AmortizedCost", "2026-10-01"), ("AmortizedCost", "2026-11-01"),
    ]  # fmt: skip
    assert fake.costs.throttled == 1 and len(fake.costs.received) > 5  # a 429, then pages of 2 rows
    stored = ledger.actuals.load(SUB, "2026-10", "2026-11")
    assert sorted(stored) == ["set|rg-app|pool", "vm|rg-app|drift-01", "vm|rg-app|web-01"]
    web = stored["vm|rg-app|web-01"][DAY]
    assert (web.actual, web.amortized, web.hours, web.ledger_hours) == (
        Decimal("0.50"),
        Decimal("0.3"),
        5.0,
        5.0,
    )
    assert stored["vm|rg-app|web-01"][date(2026, 10, 31)].actual == Decimal("0.1")
    pool = stored["set|rg-app|pool"][DAY]
    assert (pool.hours, pool.ledger_hours) == (10.0, 10.0)  # the set's bill against the sum of its instances
    assert report.resources == 3 and report.drifting_days == 1


def test_a_drifting_day_names_both_numbers(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    stored = ledger.actuals.load(SUB, "2026-11", "2026-11")
    [drift] = drift_days(stored["vm|rg-app|drift-01"].values())
    assert (drift.day, drift.bill_hours, drift.ledger_hours, drift.direction) == (
        DAY,
        9.0,
        5.0,
        "billHasMore",
    )
    assert all(not drift_days(days.values()) for key, days in stored.items() if key != "vm|rg-app|drift-01")


def test_a_day_the_bill_revises_is_overwritten_and_older_days_are_kept(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    fake.costs.received.clear()
    fake.costs.set_bill(SUB, "ActualCost", bill(web_cost=0.58))
    refresh(ledger, fake, now=at(hours=24 * 4))
    periods = {body["timePeriod"]["from"][:10] for body in fake.costs.received}
    assert periods == {"2026-11-23"}  # then only the last five days
    stored = ledger.actuals.load(SUB, "2026-10", "2026-11")
    assert stored["vm|rg-app|web-01"][DAY].actual == Decimal("0.60")
    assert stored["vm|rg-app|web-01"][date(2026, 10, 31)].actual == Decimal("0.1")


def test_a_day_not_over_for_a_day_is_not_compared_yet(fleet):
    ledger, fake = fleet
    refresh(ledger, fake, now=at(hours=30))  # the sample day ended 6 hours ago
    stored = ledger.actuals.load(SUB, "2026-11", "2026-11")
    assert stored["vm|rg-app|drift-01"][DAY].ledger_hours is None
    assert not drift_days(stored["vm|rg-app|drift-01"].values())


def drift_findings(ledger, as_of=NOW):
    page = findings_page(
        ledger, SUB, None, kinds=[FindingKind.BILLING_DRIFT], thresholds=Thresholds(), top=100, after=None,
        as_of=as_of, currency="USD",
    )  # fmt: skip
    return page.items


def test_billing_drift_is_a_finding_with_both_numbers(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    [item] = drift_findings(ledger)
    body = finding_body(item)
    assert (body["kind"], body["vmName"], body["since"]) == (
        "billingDrift",
        "drift-01",
        "2026-11-23T00:00:00.000000Z",
    )
    assert body["hours"] == 4 and body["billedHours"] == 4  # the hours the two disagree on
    assert body["drift"]["billHours"] == 9 and body["drift"]["ledgerHours"] == 5
    assert body["drift"]["direction"] == "billHasMore"
    assert body["drift"]["couldHaveMissedIt"] == ["events", "reconcile"]
    assert drift_findings(ledger, as_of=at(hours=24 * 40)) == []  # older than the lookback


def test_a_scale_sets_drift_is_shown_once_on_its_first_instance(fleet):
    ledger, fake = fleet
    lines = [line for line in bill() if line.resource_id != POOL]
    fake.costs.set_bill(
        SUB, "ActualCost", [*lines, BillLine(POOL.lower(), "Virtual Machines", DAY, 1.2, 14.0)]
    )
    refresh(ledger, fake)
    found = {(item.current.vm.display_name, item.finding.drift.bill_hours) for item in drift_findings(ledger)}
    assert found == {("drift-01", 9.0), ("pool_0", 14.0)}


def test_a_scale_sets_drift_is_shown_once_when_its_instances_span_pages(fleet):
    ledger, fake = fleet
    lines = [line for line in bill() if line.resource_id != POOL]
    fake.costs.set_bill(SUB, "ActualCost", [*lines, BillLine(POOL, "Virtual Machines", DAY, 1.2, 14.0)])
    refresh(ledger, fake)
    # every VM deallocated for a day also has a deallocatedLong: with 2 findings a page, pool_0's two fill
    # one page and pool_1 (deallocatedLong only) begins the next one
    kinds = [FindingKind.BILLING_DRIFT, FindingKind.DEALLOCATED_LONG]
    shown, after = [], None
    for _ in range(10):
        page = findings_page(
            ledger, SUB, None, kinds=kinds, thresholds=Thresholds(deallocated_min_hours=1), top=2,
            after=after, as_of=NOW, currency="USD",
        )  # fmt: skip
        shown.append([(item.current.vm.display_name, item.finding.kind.value) for item in page.items])
        after = page.next_after
        if after is None:
            break
    drifts = [name for page in shown for name, kind in page if kind == "billingDrift"]
    assert drifts == ["drift-01", "pool_0"]
    assert shown[2][0] == ("pool_1", "deallocatedLong")  # pool_1 begins a page of its own


def test_the_daily_digest_sets_the_days_bill_beside_its_estimate_and_names_the_drift(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    digest = daily_digest(ledger, DAY, as_of=NOW, currency="USD", thresholds=Thresholds())
    drift = digest_body(digest)["drift"]
    # web-01 0.50 and drift-01 0.86 billed against 2 x 5 h x 0.096; the pool (no price) is in actualCost only
    assert (drift["amount"], drift["reason"], drift["actualCost"], drift["estimatedCostSameDays"]) == (
        0.4, None, 2.16, 0.96,
    )  # fmt: skip
    assert drift["discount"] == round(1.36 / 0.96, 4) and drift["billingDriftVms"] == 1
    [line] = drift["top"]
    assert (line["resourceId"], line["day"], line["billHours"], line["ledgerHours"]) == (
        DRIFTY, DAY.isoformat(), 9, 5,
    )  # fmt: skip
    later = digest_body(daily_digest(ledger, DAY + timedelta(days=1), as_of=NOW, currency="USD",
                                     thresholds=Thresholds()))["drift"]  # fmt: skip
    assert (later["amount"], later["reason"], later["billingDriftVms"]) == (None, "NotBilledYet", 1)


def costs(**params: str) -> dict:
    window = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
    return json.loads(http_get(function_app.list_costs, "costs", **window, **params).get_body())


def test_costs_groups_show_the_bill_beside_the_estimate_of_the_same_days(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    [group] = costs()["value"]
    assert group["actualCost"] == {
        "amount": 2.16, "currency": "USD", "amortized": None, "hours": 24, "days": 1,
        "asOf": "2026-11-24T00:00:00.000000Z", "reason": None,
    }  # fmt: skip  # 0.50 + 0.86 + the scale set's 0.80; amortized known for web-01 only
    assert group["estimatedCost"]["amount"] == 0.96  # 2 priced VMs x 5 h x 0.096 (the pool has no price)
    assert group["estimatedCostSameDays"] == {"amount": 0.96, "currency": "USD"}
    assert group["discount"] == round((0.50 + 0.86) / 0.96, 4)  # over the VMs with both
    assert group["calibratedCost"]["amount"] == 0 and group["calibratedCost"]["label"] == "estimate"
    by_group = costs(groupBy="resourceGroup")
    assert by_group["total"]["actualCost"]["amount"] == 2.16


def test_before_the_bill_covers_a_day_actual_cost_is_null_with_a_reason(fleet):
    ledger, _ = fleet
    [group] = costs()["value"]
    assert group["actualCost"]["amount"] is None and group["actualCost"]["reason"] == "NotBilledYet"
    assert group["estimatedCostSameDays"]["amount"] is None and group["discount"] is None


def vm(name: str) -> dict:
    window = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
    route = {"subscriptionId": SUB, "resourceGroup": "rg-app", "vmName": name}
    return json.loads(http_get(function_app.get_vm, "vms/x", route, **window).get_body())


def test_a_vm_shows_its_bill_beside_its_estimate(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    body = vm("web-01")
    assert body["actualCost"]["amount"] == 0.5 and body["actualCost"]["amortized"] == 0.3
    assert body["actualCost"]["hours"] == 5 and body["actualCost"]["days"] == 1
    assert body["estimatedCostSameDays"]["amount"] == 0.48
    assert body["discount"] == round(0.5 / 0.48, 4)


def listed(function, route: str, **params: str) -> dict[str, dict]:
    window = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
    body = json.loads(http_get(function, route, **window, **params).get_body())
    return {item["vmName"]: item for item in body["value"]}


@pytest.mark.parametrize(
    ("function", "route"), [(function_app.list_vms, "vms"), (function_app.list_vm_timelines, "timelines")]
)
def test_vms_and_timelines_show_each_vms_bill_as_its_own_answer_does(fleet, function, route):
    ledger, fake = fleet
    before = listed(function, route)
    assert before["web-01"]["actualCost"]["reason"] == "NotBilledYet"
    assert before["web-01"]["estimatedCostSameDays"]["amount"] is None
    refresh(ledger, fake)
    items = listed(function, route)
    for name in ("web-01", "drift-01"):
        own = vm(name)
        fields = ("actualCost", "estimatedCostSameDays", "discount", "calibratedCost", "attachedActualCost")
        assert {field: items[name][field] for field in fields} == {field: own[field] for field in fields}
    assert items["web-01"]["actualCost"]["amount"] == 0.5 and items["drift-01"]["actualCost"]["hours"] == 9
    assert items["pool_0"]["actualCost"]["reason"] == "BilledAsScaleSet"
    paged = listed(function, route, top="1")  # a page of one VM reads its own bill
    assert len(paged) == 1 and paged["drift-01"]["actualCost"]["amount"] == 0.86


def test_a_uniform_instance_says_its_bill_is_its_scale_sets(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    route = {"subscriptionId": SUB, "resourceGroup": "rg-app", "scaleSetName": "pool", "instanceId": "0"}
    window = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
    body = json.loads(http_get(function_app.get_vm_instance, "x", route, **window).get_body())
    assert body["actualCost"]["amount"] is None and body["actualCost"]["reason"] == "BilledAsScaleSet"


def test_the_focus_export_has_one_row_per_vm_and_day_marked_actual_or_estimate(fleet):
    ledger, fake = fleet
    refresh(ledger, fake)
    window = {"from": at(0).isoformat(), "to": at(hours=48).isoformat()}
    response = http_get(function_app.list_costs, "costs", format="focus", **window)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    names = ["drift-01", "pool_0", "pool_1", "web-01"]  # nothing billed on the 24th
    assert [(row["ResourceName"], row["ChargePeriodStart"][:10]) for row in rows] == [
        (name, "2026-11-23") for name in names
    ]
    web = rows[-1]
    assert web["ResourceId"] == WEB.lower() and web["ResourceType"] == "microsoft.compute/virtualmachines"
    assert (web["ChargePeriodStart"], web["ChargePeriodEnd"]) == (
        "2026-11-23T00:00:00.000000Z", "2026-11-24T00:00:00.000000Z",
    )  # fmt: skip
    assert (web["ServiceCategory"], web["ServiceName"], web["ChargeCategory"], web["PricingCategory"]) == (
        "Compute", "Virtual Machines", "Usage", "Standard",
    )  # fmt: skip
    assert (web["PricingQuantity"], web["ConsumedQuantity"], web["ListUnitPrice"], web["ListCost"]) == (
        "5", "5", "0.096", "0.48",
    )  # fmt: skip
    assert (web["BilledCost"], web["EffectiveCost"], web["x_CostSource"]) == ("0.5", "0.3", "actual")
    assert (web["SubAccountId"], web["RegionId"], web["BillingCurrency"]) == (SUB, "westeurope", "USD")
    pool = rows[1]  # an instance: the bill charges its scale set, so its own row is the estimate's
    assert pool["BilledCost"] == "" and pool["x_CostSource"] == "estimate" and pool["ListCost"] == ""


def actuals_step(ledger, fake, every=timedelta(days=1)):
    client = CostManagementClient(fake.url, transport=SleepRecordingTransport(), retry_backoff_factor=0)
    arm, prices = ArmClient(fake.url, "2024-07-01", retry_total=0), RetailPricesClient(fake.url, "USD")
    steps = timer_steps(
        ledger, arm, prices, subscriptions=[SUB], inventory_every=timedelta(hours=6), backfill_days=0,
        backfill_max_vms=0, actuals=Actuals(client, every, daily_billed_hours),
    )  # fmt: skip
    return [step for step in steps if step.name == "actuals"]


def test_the_timer_runs_the_actuals_step_once_a_period_with_its_own_record(fleet):
    ledger, fake = fleet
    records = RunRecords(ledger.table)
    run_timer(actuals_step(ledger, fake), records, clock=lambda: NOW)
    record = records.get(f"actuals|{SUB}")
    assert (
        record.succeeded and "3 resource(s) billed" in record.detail and "1 drifting day(s)" in record.detail
    )
    asked = len(fake.costs.received)
    run_timer(actuals_step(ledger, fake), records, clock=lambda: NOW + timedelta(hours=23))
    assert len(fake.costs.received) == asked  # not due again within the day


def test_a_throttled_query_stores_nothing_and_is_recorded_as_failed(fleet):
    ledger, fake = fleet
    fake.costs.throttle, fake.costs.throttle_seconds = 10, (600.0, 0.0, 0.0)  # far beyond the request's cap
    records = RunRecords(ledger.table)
    run_timer(actuals_step(ledger, fake), records, clock=lambda: NOW)
    record = records.get(f"actuals|{SUB}")
    assert not record.succeeded and "429" in record.detail and "nothing stored" in record.detail
    assert ledger.actuals.load(SUB, "2026-10", "2026-11") == {}


def test_without_actuals_the_timer_has_no_actuals_record(ledger):
    with FakeArm({}) as fake:
        arm, prices = ArmClient(fake.url, "2024-07-01", retry_total=0), RetailPricesClient(fake.url, "USD")
        steps = timer_steps(
            ledger, arm, prices, subscriptions=[SUB], inventory_every=timedelta(hours=6), backfill_days=0,
            backfill_max_vms=0,
        )  # fmt: skip
    [step] = [step for step in steps if step.name == "actuals"]
    assert list(step.records()) == []
