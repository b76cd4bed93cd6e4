"""Estimated cost and chargeback on Azurite, with loopback fakes of List All (models) and Retail Prices.

Every VM lives the sample day (created 08:00, powered off 10:00 and still billed, deallocated 11:00,
started 13:00, hibernated 15:00: 5 billed hours), so its cost is 5 x its meter's hourly price.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest

import function_app
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_vm
from devtools.fake_prices import PUBLISHED_PRICES, FakePrices, meter
from shared.domain.ids import parse_vm_id
from shared.domain.inventory import OsType, Priority
from shared.domain.pricing import MeterKind
from shared.jobs import Step, refresh_inventory, refresh_prices, run_timer, timer_steps
from shared.sources import ArmClient, RetailPricesClient
from shared.store import RunRecords
from tests.factories import deliver, http_get, sample_day

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

DAY = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
# name, group, model options, expected hourly price (None: no price), reason
FLEET = [
    ("web-01", "rg-shop", dict(vm_size="Standard_D2s_v5", tags={"owner": "shop"}), "0.096"),
    (
        "web-02",
        "rg-shop",
        dict(vm_size="Standard_D2s_v5", os_type="Windows", tags={"Owner": "Shop"}),
        "0.188",
    ),
    (
        "ahb-01",
        "rg-shop",
        dict(
            vm_size="Standard_D2s_v5",
            os_type="Windows",
            license_type="Windows_Server",
            tags={"owner": "data"},
        ),
        "0.096",
    ),  # Hybrid Benefit: the Linux rate
    (
        "spot-01",
        "rg-data",
        dict(vm_size="Standard_D2s_v5", priority="Spot", tags={"owner": "data"}),
        "0.0192",
    ),
    (
        "low-01",
        "rg-data",
        dict(vm_size="Standard_D4s_v5", os_type="Windows", priority="Low", tags={"owner": "data"}),
        "0.1",
    ),
    (
        "big-01",
        "rg-data",
        dict(vm_size="Standard_E64_v4", location="southcentralus"),
        None,
    ),  # reservation only
    ("far-01", "rg-far", dict(vm_size="Standard_D2s_v5", location="brazilsouth", tags={}), None),  # no meter
]


CLOUD_SERVICES = "Dsv5 Series Cloud Services"
LATER = "2025-10-01T00:00:00Z"  # after the published item's effectiveStartDate (2021-04-01)


def catalogue() -> list[dict]:
    reservation = json.loads((PUBLISHED_PRICES / "learn_sample_item_reservation.json").read_text())
    devtest = json.loads((PUBLISHED_PRICES / "learn_sample_item_devtest_spot_windows.json").read_text())
    return [
        meter("westeurope", "Standard_D2s_v5", "0.096"),
        meter("westeurope", "Standard_D2s_v5", "0.188", windows=True),
        meter("westeurope", "Standard_D2s_v5", "0.0192", spot=True),
        meter("westeurope", "Standard_D2s_v5", "0.0376", windows=True, spot=True),
        meter("westeurope", "Standard_D2s_v5", "0.0192", low=True),
        meter("westeurope", "Standard_D2s_v5", "0.05", price_type="DevTestConsumption"),
        meter("westeurope", "Standard_D2s_v5", "500", price_type="Reservation", reservation_term="1 Year"),
        meter("westeurope", "Standard_D2s_v5", "0.077", currency="EUR"),
        # The Cloud Services pair of the size (same size and meter names, Windows prices, a later date):
        # never a VM's price.
        meter("westeurope", "Standard_D2s_v5", "0.188", product=CLOUD_SERVICES, effective=LATER),
        meter("westeurope", "Standard_D2s_v5", "0.0376", low=True, product=CLOUD_SERVICES, effective=LATER),
        meter("westeurope", "Standard_D4s_v5", "0.192"),
        meter("westeurope", "Standard_D4s_v5", "0.1", windows=True, low=True),
        reservation,  # published: Standard_E64_v4 in southcentralus, a term price
        devtest,  # published: Standard_F16s Windows Spot, DevTest
    ]


def models() -> dict[str, list[dict]]:
    vms = []
    for name, group, options, _ in FLEET:
        options = {"location": "westeurope", **options}
        vms.append(make_vm(SUB, group, name, **options))
    return {SUB: vms}


@pytest.fixture
def priced(ledger):
    """The fleet's day recorded, its inventory listed and its prices fetched (pages of 2 items)."""
    for name, group, _, _ in FLEET:
        deliver(*sample_day(vm_id(name, group)))
    with FakeArm(models(), page_size=3) as arm, FakePrices(catalogue(), page_size=2) as prices:
        inventory = refresh_inventory(
            ledger,
            SUB,
            lambda: ArmClient(arm.url, "2024-07-01", retry_total=0).iter_model_pages(SUB),
            clock=lambda: at(hours=20),
        )
        client = RetailPricesClient(prices.url, "USD", retry_total=0)
        report = refresh_prices(ledger, client, clock=lambda: at(hours=21))
        yield ledger, prices, client, inventory, report


def test_inventory_lands_on_the_current_rows(priced):
    ledger, _, _, inventory, _ = priced
    assert (inventory.listed, inventory.updated, inventory.failure) == (len(FLEET), len(FLEET), None)
    row = ledger.get_current(parse_vm_id(vm_id("web-02", "rg-shop")))
    spec = row.profile.spec
    assert (spec.vm_size, spec.os_type.value, spec.priority.value) == (
        "Standard_D2s_v5",
        "Windows",
        "Regular",
    )
    assert dict(spec.tags) == {"Owner": "Shop"}
    assert len(list(ledger.iter_transitions(row.vm))) == 5  # inventory recorded no transition


def test_prices_follow_next_page_links_anonymously(priced):
    _, prices, _, _, report = priced
    assert report.failure is None and report.pairs == 4 and report.priced == 2
    assert len(prices.requests) > 3  # several pages per listing
    assert all("authorization" not in request.headers for request in prices.requests)
    assert all("'Consumption'" in request.query["$filter"] for request in prices.requests)


@pytest.mark.parametrize(("name", "group", "options", "price"), FLEET)
def test_get_vm_estimates_the_windows_cost_to_the_cent(priced, name, group, options, price):
    body = json.loads(http_get(function_app.get_vm, "vms/x", _route(name, group), **DAY).get_body())
    cost = body["estimatedCost"]
    assert body["billedSeconds"] == 5 * 3600
    if price is None:
        assert (cost["amount"], cost["hourlyPrice"], cost["reason"]) == (None, None, "NoPrice")
    else:
        assert cost["amount"] == float((5 * Decimal(price)).quantize(Decimal("0.01")))
        assert (cost["hourlyPrice"], cost["currency"], cost["reason"]) == (float(price), "USD", None)
        assert cost["priceAsOf"] == "2026-11-23T21:00:00.000000Z"
    assert body["vmSize"] == options["vm_size"]


def test_costs_by_tag_sum_per_owner_with_untagged_and_unpriced_apart(priced):
    body = json.loads(http_get(function_app.list_costs, "costs", groupBy="tag:owner", **DAY).get_body())
    groups = {group["group"]: group for group in body["value"]}
    assert list(groups) == ["data", "shop", None]
    assert groups["shop"]["vmCount"] == 2 and groups["shop"]["billedSeconds"] == 10 * 3600
    assert groups["shop"]["estimatedCost"] == {"amount": 1.42, "currency": "USD"}  # 5 x (0.096 + 0.188)
    assert groups["data"]["estimatedCost"]["amount"] == 1.08  # 5 x (0.096 + 0.0192 + 0.1)
    assert groups[None]["vmCount"] == 2  # big-01 has no tag at all, far-01 an empty set
    assert groups[None]["estimatedCost"]["amount"] is None  # neither has a price: never 0
    assert groups[None]["unpricedVmCount"] == 2 and groups[None]["unpricedBilledSeconds"] == 10 * 3600
    assert body["total"]["estimatedCost"]["amount"] == 2.5 and body["total"]["vmCount"] == 7
    assert body["groupBy"] == "tag:owner" and body["window"]["from"] == "2026-11-23T00:00:00.000000Z"


def test_costs_by_resource_group_and_subscription(priced):
    by_group = json.loads(
        http_get(function_app.list_costs, "costs", groupBy="resourceGroup", **DAY).get_body()
    )
    assert [(g["group"], g["vmCount"]) for g in by_group["value"]] == [
        ("rg-data", 3),
        ("rg-far", 1),
        ("rg-shop", 3),
    ]
    by_sub = json.loads(http_get(function_app.list_costs, "costs", **DAY).get_body())
    assert [(g["group"], g["vmCount"], g["estimatedCost"]["amount"]) for g in by_sub["value"]] == [
        (SUB, 7, 2.5)
    ]


def test_costs_as_csv(priced):
    response = http_get(function_app.list_costs, "costs", groupBy="tag:owner", format="csv", **DAY)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert [(row["group"], row["billedHours"], row["estimatedCost"]) for row in rows] == [
        ("data", "15", "1.08"), ("shop", "10", "1.42"), ("", "10", ""),
    ]  # fmt: skip


def test_timelines_and_vms_carry_the_cost(priced):
    timelines = json.loads(http_get(function_app.list_vm_timelines, "timelines", **DAY).get_body())
    costs = {item["vmName"]: item["estimatedCost"]["amount"] for item in timelines["value"]}
    assert costs == {"ahb-01": 0.48, "big-01": None, "far-01": None, "low-01": 0.5, "spot-01": 0.1,
                     "web-01": 0.48, "web-02": 0.94}  # fmt: skip
    vms = json.loads(http_get(function_app.list_vms, "vms", **DAY).get_body())
    assert {item["vmName"]: item["estimatedCost"]["amount"] for item in vms["value"]} == costs
    plain = json.loads(http_get(function_app.list_vms, "vms").get_body())
    assert plain["value"][0]["estimatedCost"]["reason"] in ("NoWindow", "NoPrice")
    rows = list(csv.DictReader(io.StringIO(http_get(function_app.list_vm_timelines, "timelines", format="csv",
                                                    **DAY).get_body().decode())))  # fmt: skip
    assert {row["vmName"]: row["estimatedCost"] for row in rows}["web-02"] == "0.94"


def test_a_failed_price_refresh_keeps_the_previous_prices_and_answers_never_call_the_api(priced):
    ledger, prices, client, _, _ = priced
    prices.fail_with(503)
    report = refresh_prices(ledger, client, clock=lambda: at(hours=45))
    assert report.failure is not None and "503" in report.failure
    seen = len(prices.requests)
    body = json.loads(http_get(function_app.get_vm, "vms/x", _route("web-01", "rg-shop"), **DAY).get_body())
    assert body["estimatedCost"]["amount"] == 0.48
    assert body["estimatedCost"]["priceAsOf"] == "2026-11-23T21:00:00.000000Z"  # the old fetch
    http_get(function_app.list_costs, "costs", **DAY)
    http_get(function_app.list_vm_timelines, "timelines", **DAY)
    assert len(prices.requests) == seen


def timer_step(name: str, ledger, arm: ArmClient, prices: RetailPricesClient) -> Step:
    """One step of the timer's table as the app runs it, inventory every 6 hours."""
    steps = timer_steps(
        ledger, arm, prices,
        subscriptions=[SUB], inventory_every=timedelta(hours=6), backfill_days=0, backfill_max_vms=0,
    )  # fmt: skip
    return next(step for step in steps if step.name == name)


def run_step(step: Step, ledger, hour: int) -> None:
    run_timer([step], RunRecords(ledger.table), clock=lambda: at(hours=hour))


def test_prices_are_refreshed_at_most_daily(priced):
    ledger, prices, client, _, _ = priced
    step = timer_step("prices", ledger, ArmClient("http://127.0.0.1:9", "2024-07-01"), client)
    run_step(step, ledger, 30)  # never refreshed by the timer yet: due
    seen = len(prices.requests)
    assert seen > 0 and ledger.prices.get("USD", "westeurope", "Standard_D2s_v5").fetched_at == at(hours=30)
    run_step(step, ledger, 53)  # 23 hours later
    assert len(prices.requests) == seen
    run_step(step, ledger, 54)
    assert len(prices.requests) > seen


def test_a_failed_inventory_listing_changes_nothing_and_a_resize_shows_at_the_next_refresh(priced):
    ledger = priced[0]
    resized = models()
    resized[SUB][0]["properties"]["hardwareProfile"]["vmSize"] = "Standard_D4s_v5"
    records = RunRecords(ledger.table)
    with FakeArm(resized, page_size=3) as arm:
        client = ArmClient(arm.url, "2024-07-01", retry_total=0)
        step = timer_step("inventory", ledger, client, priced[2])
        arm.faults = Faults(fail_page=2, fail_status=500)
        run_step(step, ledger, 27)
        failed = records.get(f"inventory|{SUB}")
        assert (failed.attempted_at, failed.succeeded) == (at(hours=27), False)
        vm = parse_vm_id(vm_id("web-01", "rg-shop"))
        assert ledger.get_current(vm).profile.spec.vm_size == "Standard_D2s_v5"
        asked = len(arm.requests)
        run_step(step, ledger, 28)  # at most once per INVENTORY_REFRESH, failures included
        assert len(arm.requests) == asked and records.get(f"inventory|{SUB}") == failed
        arm.faults = Faults()
        run_step(step, ledger, 33)
    later = records.get(f"inventory|{SUB}")
    assert (later.attempted_at, later.succeeded) == (at(hours=33), True) and "updated 1" in later.detail
    assert ledger.get_current(vm).profile.spec.vm_size == "Standard_D4s_v5"


def test_a_bad_group_by_is_a_400_with_its_code(ledger):
    response = http_get(function_app.list_costs, "costs", groupBy="owner")
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"]["code"] == "InvalidGroupBy"


def test_a_finding_carries_the_estimated_cost_of_its_billed_hours(priced):
    deliver(wire_event("powerOff", at(hours=16), resource_id=vm_id("web-01", "rg-shop")))  # stopped, billed
    body = json.loads(http_get(function_app.list_findings, "findings", kind="stoppedButBilled").get_body())
    [finding] = body["value"]
    cost = finding["estimatedCost"]
    assert (finding["vmName"], cost["hourlyPrice"], cost["currency"]) == ("web-01", 0.096, "USD")
    expected = (Decimal(str(finding["billedHours"])) * Decimal("0.096")).quantize(Decimal("0.01"))
    assert abs(Decimal(str(cost["amount"])) - expected) <= Decimal("0.01")  # hours are rounded in the body
    csv_body = http_get(function_app.list_findings, "findings", kind="stoppedButBilled", format="csv")
    [row] = list(csv.DictReader(io.StringIO(csv_body.get_body().decode())))
    assert (row["estimatedCost"], row["currency"], row["hourlyPrice"]) == (
        f"{cost['amount']:.2f}",
        "USD",
        "0.096",
    )


def every_answer(route: dict[str, str]) -> dict[str, dict]:
    """Each answer that carries a cost, as strict JSON (``NaN`` or ``Infinity`` in a body fails here)."""
    calls = {
        "get_vm": lambda: http_get(function_app.get_vm, "vms/x", route, **DAY),
        "costs": lambda: http_get(function_app.list_costs, "costs", groupBy="tag:owner", **DAY),
        "vms": lambda: http_get(function_app.list_vms, "vms", **DAY),
        "vms_plain": lambda: http_get(function_app.list_vms, "vms"),
        "timelines": lambda: http_get(function_app.list_vm_timelines, "timelines", **DAY),
        "findings": lambda: http_get(function_app.list_findings, "findings"),
    }
    bodies = {}
    for name, call in calls.items():
        response = call()
        assert response.status_code == 200, (name, response.get_body()[:300])
        bodies[name] = json.loads(response.get_body(), parse_constant=_refuse)
    for name, call in [
        ("timelines.csv", lambda: http_get(function_app.list_vm_timelines, "timelines", format="csv", **DAY)),
        ("costs.csv", lambda: http_get(function_app.list_costs, "costs", format="csv", **DAY)),
    ]:
        response = call()
        assert response.status_code == 200 and "nan" not in response.get_body().decode().lower(), name
    return bodies


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} in a JSON body")


def test_an_item_whose_price_cannot_be_true_is_never_stored_and_every_answer_works(priced):
    ledger, prices, client, _, _ = priced
    bad = {
        ("Virtual Machines D2s Series Windows", "D2s v5"): float("inf"),  # web-02's meter
        ("Virtual Machines D4s Series", "D4s v5"): 1e30,  # no VM uses it
    }
    prices.set_items(
        [{**item, "retailPrice": bad.get((item["productName"], item["skuName"]), item["retailPrice"])}
         for item in catalogue()]
    )  # fmt: skip
    report = refresh_prices(ledger, client, clock=lambda: at(hours=45))
    assert report.failure is None
    stored = ledger.prices.get("USD", "westeurope", "Standard_D2s_v5")
    assert stored.fetched_at == at(hours=45)
    assert all(price.amount < 1 for price in stored.prices.values())
    assert (
        MeterKind(OsType.LINUX, Priority.REGULAR)
        not in ledger.prices.get("USD", "westeurope", "Standard_D4s_v5").prices
    )  # its 1e30 was not stored either
    bodies = every_answer(_route("web-02", "rg-shop"))
    cost = bodies["get_vm"]["estimatedCost"]
    assert (cost["amount"], cost["reason"]) == (None, "NoPrice")  # its only meter was not believable
    assert {item["vmName"]: item["estimatedCost"]["amount"] for item in bodies["timelines"]["value"]}[
        "web-01"
    ] == 0.48


def test_a_listing_whose_items_are_all_invalid_keeps_the_last_good_prices(priced):
    ledger, prices, client, _, _ = priced
    prices.set_items(
        [
            {**item, "retailPrice": float("nan")}
            for item in catalogue()
            if item["armRegionName"] == "westeurope"
        ]
    )
    report = refresh_prices(ledger, client, clock=lambda: at(hours=45))
    assert report.failure is not None and "no usable item" in report.failure
    bodies = every_answer(_route("web-01", "rg-shop"))
    assert bodies["get_vm"]["estimatedCost"]["amount"] == 0.48
    assert bodies["get_vm"]["estimatedCost"]["priceAsOf"] == "2026-11-23T21:00:00.000000Z"  # the old fetch


@pytest.mark.parametrize("stored", ["Infinity", "-Infinity", "NaN", "sNaN", "1E+30", "-0.5", "not a number"])
def test_a_price_an_older_version_cached_that_cannot_be_true_is_no_price_with_a_reason(priced, stored):
    """An older version stored whatever the API sent (``str(Decimal)``): answers read it as no price."""
    ledger = priced[0]
    entity = dict(ledger.prices.table.get_entity("prices", "USD|westeurope|standard_d2s_v5"))
    entity["LinuxRegular"] = stored  # web-01's meter
    ledger.prices.table.upsert_entity(entity)
    deliver(wire_event("powerOff", at(hours=16), resource_id=vm_id("web-01", "rg-shop")))  # a finding
    bodies = every_answer(_route("web-01", "rg-shop"))
    cost = bodies["get_vm"]["estimatedCost"]
    assert (cost["amount"], cost["hourlyPrice"], cost["reason"]) == (None, None, "InvalidPrice")
    assert cost["priceAsOf"] == "2026-11-23T21:00:00.000000Z"
    [finding] = [item for item in bodies["findings"]["value"] if item["kind"] == "stoppedButBilled"]
    assert (finding["vmName"], finding["estimatedCost"]["reason"]) == ("web-01", "InvalidPrice")
    amounts = {item["vmName"]: item["estimatedCost"]["amount"] for item in bodies["timelines"]["value"]}
    assert (amounts["web-01"], amounts["web-02"]) == (None, 0.94)
    groups = {group["group"]: group for group in bodies["costs"]["value"]}
    assert groups["shop"]["estimatedCost"]["amount"] == 0.94 and groups["shop"]["unpricedVmCount"] == 1


def _route(name: str, group: str) -> dict[str, str]:
    return {"subscriptionId": SUB, "resourceGroup": group, "vmName": name}


def test_a_lone_surrogate_from_azure_is_answered_replaced_in_every_format(ledger):
    """Azure's JSON may carry a lone surrogate (an escaped ``\\ud800``); UTF-8 cannot: U+FFFD stands in."""
    deliver(*sample_day(vm_id("odd-01", "rg-shop")))
    tags = {"owner": "sh\ud800op", "cost\udfffcenter": "42"}
    with FakeArm({SUB: [make_vm(SUB, "rg-shop", "odd-01", vm_size="Standard_D2s_v5", tags=tags)]}) as arm:
        refresh_inventory(
            ledger,
            SUB,
            lambda: ArmClient(arm.url, "2024-07-01", retry_total=0).iter_model_pages(SUB),
            clock=lambda: at(hours=20),
        )
    answers = {
        "vm": http_get(function_app.get_vm, "vms/x", _route("odd-01", "rg-shop"), **DAY),
        "vms": http_get(function_app.list_vms, "vms"),
        "vms csv": http_get(function_app.list_vms, "vms", format="csv"),
        "timelines": http_get(function_app.list_vm_timelines, "timelines", **DAY),
        "timelines csv": http_get(function_app.list_vm_timelines, "timelines", format="csv", **DAY),
        "costs": http_get(function_app.list_costs, "costs", groupBy="tag:owner", **DAY),
        "costs csv": http_get(function_app.list_costs, "costs", groupBy="tag:owner", format="csv", **DAY),
    }
    for name, response in answers.items():
        assert response.status_code == 200, name
        text = response.get_body().decode("utf-8")  # strict: every byte sequence is UTF-8
        assert "sh\ufffdop" in text, name
        assert "\\ud800" not in text, name  # not escaped in JSON either: every format says the same
    assert json.loads(answers["vm"].get_body())["tags"] == {"cost\ufffdcenter": "42", "owner": "sh\ufffdop"}
    [row] = list(csv.DictReader(io.StringIO(answers["vms csv"].get_body().decode())))
    assert row["tags"] == "cost\ufffdcenter=42; owner=sh\ufffdop"


def test_costs_name_the_oldest_price_of_every_subscription_folded_one_at_a_time(ledger):
    """``/costs`` folds each subscription's charges before reading the next and keeps one price time per
    subscription: the oldest price used anywhere is still the one it names."""
    from shared.answers import costs_report
    from shared.domain.chargeback import parse_group_by
    from shared.domain.evidence import NewTransition, ResourceEvent
    from shared.domain.ids import VmId
    from shared.domain.inventory import VmSpec
    from shared.domain.operations import SUCCEEDED, change_for
    from shared.domain.pricing import HourlyPrice
    from shared.domain.times import utc_now
    from shared.store.seeding import seed_histories

    now = utc_now().replace(microsecond=0)
    sizes = {"0a": "Standard_D2s_v5", "0b": "Standard_D4s_v5"}  # the second subscription's price is older
    vms = [VmId(f"{prefix}000000-0000-4000-8000-000000000000", "rg", f"vm-{prefix}") for prefix in sizes]
    histories = [
        [
            NewTransition(
                vm, now - timedelta(days=2), change_for("write", SUCCEEDED), ResourceEvent(vm.name, "w")
            )
        ]
        for vm in vms
    ]

    def spec_of(vm: VmId) -> VmSpec:
        return VmSpec(sizes[vm.name[-2:]], "westeurope", OsType.LINUX, None, Priority.REGULAR, {})

    seed_histories(ledger.table, ledger.policy, histories, spec_of=spec_of, spec_at=now)
    fetched = {"Standard_D2s_v5": now - timedelta(hours=1), "Standard_D4s_v5": now - timedelta(hours=5)}
    for size, at_time in fetched.items():
        price = {("westeurope", size.lower(), MeterKind(OsType.LINUX, Priority.REGULAR)): HourlyPrice(
            Decimal("0.1"), "USD", size)}  # fmt: skip
        ledger.prices.save("USD", at_time, [("westeurope", size)], price)

    report = costs_report(ledger, parse_group_by("subscription"), now - timedelta(days=1), now, now, "USD")

    assert [group.vm_count for group in report.groups] == [1, 1]
    assert report.prices_as_of == fetched["Standard_D4s_v5"]
