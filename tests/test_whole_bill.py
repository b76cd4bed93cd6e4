"""The whole bill on Azurite, from loopback fakes of the three listings (published shapes) and of the Retail
Prices (disk and IP rows beside their decoys): what each VM keeps, what it costs in the window and per
month, what stopping it saved, per VM, per group, in CSV and in findings.

Every VM lives the sample day (5 billed hours; deallocated 11:00-13:00 and hibernated from 15:00: 11 hours
that stopping saved). The listings run at 01:00 (before the OS disk was created) and at 20:00.
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
from devtools.fake_arm.attached import make_disk, make_nic, make_public_ip
from devtools.fake_prices import FakePrices, meter
from devtools.fake_prices.items import attached_catalogue
from shared import context
from shared.domain.ids import parse_vm_id
from shared.domain.pushed_events import DAILY_DIGEST
from shared.jobs import push_digest, refresh_inventory, refresh_prices, run_timer, timer_steps
from shared.jobs.attached_inventory import refresh_attached
from shared.sources import ArmClient, RetailPricesClient, list_attached
from shared.store import RunRecords
from tests.factories import (
    deliver,
    digest_in_test_http,
    http_get,
    loopback_findings_topic,
    sample_day,
    shape_differences,
)

pytestmark = pytest.mark.azurite

DAY = {"from": at(0).isoformat(), "to": at(hours=24).isoformat()}
REGION = "westeurope"
WEB, DB, V2 = vm_id("web-01", "rg-shop"), vm_id("db-01", "rg-data"), vm_id("v2-01", "rg-data")
BEFORE = (at(0) - timedelta(days=30)).isoformat()
TOPIC_KEY = "test-topic-key"


def _id(group: str, provider: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{provider}/{name}"


def disk(group: str, name: str, sku: str, size: int, owner: str | None, **options) -> dict:
    options.setdefault("created", BEFORE)
    return make_disk(
        _id(group, "Microsoft.Compute/disks", name), sku, size, managed_by=owner, location=REGION, **options
    )


def ip(group: str, name: str, sku: str, allocation: str) -> dict:
    return make_public_ip(
        _id(group, "Microsoft.Network/publicIPAddresses", name), sku, allocation, location=REGION
    )


def nic(group: str, name: str, vm: str | None, ips: list[dict]) -> dict:
    nic_id = _id(group, "Microsoft.Network/networkInterfaces", name)
    return make_nic(nic_id, vm, [entry["id"] for entry in ips], location=REGION)


WEB_IP = ip("rg-shop", "web-ip", "Standard", "Static")
V2_IP = ip("rg-data", "v2-ip", "Basic", "Dynamic")
LOOSE_IP = ip("rg-data", "loose-ip", "Standard", "Static")
DISKS_AT_ONE = [
    disk("rg-shop", "web-data", "Premium_LRS", 100, WEB, tier="P20"),
    disk("rg-data", "db-ultra", "UltraSSD_LRS", 256, DB, iops=5000, mbps=200),
    disk("rg-data", "v2-data", "PremiumV2_LRS", 256, V2, iops=5000, mbps=200),
    disk("rg-data", "old-copy", "Standard_LRS", 10, None),
]
WEB_OS = disk("rg-shop", "web-os", "Premium_LRS", 128, WEB, created=at(hours=8).isoformat())
NICS = [
    nic("rg-shop", "web-nic", WEB, [WEB_IP]),
    nic("rg-data", "v2-nic", V2, [V2_IP]),
    nic("rg-data", "spare", None, [LOOSE_IP]),
]


def models() -> dict[str, list[dict]]:
    return {
        SUB: [
            make_vm(
                SUB, "rg-shop", "web-01", vm_size="Standard_D2s_v5", location=REGION, tags={"owner": "shop"}
            ),
            make_vm(
                SUB, "rg-data", "db-01", vm_size="Standard_D2s_v5", location=REGION, tags={"owner": "data"}
            ),
            make_vm(
                SUB, "rg-data", "v2-01", vm_size="Standard_D2s_v5", location=REGION, tags={"owner": "data"}
            ),
        ]
    }


@pytest.fixture
def billed(ledger):
    for resource_id in (WEB, DB, V2):
        deliver(*sample_day(resource_id))
    catalogue = [meter(REGION, "Standard_D2s_v5", "0.096"), *attached_catalogue(REGION)]
    with FakeArm(models(), page_size=2) as arm, FakePrices(catalogue, page_size=4) as prices:
        client = ArmClient(arm.url, "2024-07-01", retry_total=0)
        arm.set_attached(SUB, disks=DISKS_AT_ONE, nics=NICS, public_ips=[WEB_IP, V2_IP, LOOSE_IP])
        first = refresh_attached(ledger, SUB, lambda: list_attached(client, SUB), now=at(hours=1))
        arm.set_attached(SUB, disks=[*DISKS_AT_ONE, WEB_OS], nics=NICS, public_ips=[WEB_IP, V2_IP, LOOSE_IP])
        second = refresh_attached(ledger, SUB, lambda: list_attached(client, SUB), now=at(hours=20))
        refresh_inventory(ledger, SUB, lambda: client.iter_model_pages(SUB), clock=lambda: at(hours=20))
        report = refresh_prices(
            ledger, RetailPricesClient(prices.url, "USD", retry_total=0), clock=lambda: at(hours=21)
        )
        yield ledger, arm, prices, (first, second, report)


def _vm(resource_id: str, **params: str) -> dict:
    parts = resource_id.split("/")
    route = {"subscriptionId": parts[2], "resourceGroup": parts[4], "vmName": parts[8]}
    return json.loads(http_get(function_app.get_vm, "vms/x", route, **{**DAY, **params}).get_body())


@pytest.fixture
def topic(billed, monkeypatch):
    with loopback_findings_topic(monkeypatch, TOPIC_KEY) as fake:
        yield fake


def test_the_daily_digest_tells_what_is_paid_for_nothing_and_what_stopping_saved_to_the_cent(topic):
    push = context.root().findings_push()
    assert push is not None
    report = push_digest(push, now=at(hours=24 + 8), deadline=float("inf"))  # the next day, 08:00
    assert report is not None and report.sent == 1
    [event] = topic.events
    data = event["data"]
    assert (event["type"], data["day"], data["currency"]) == (DAILY_DIGEST, at(0).date().isoformat(), "USD")
    # deallocated (hibernated) since 15:00, all three: web-01 96.36 a month (73 + 19.71 + 3.65), v2-01
    # 0.049613 x 730 = 36.21749 (its Basic dynamic IP is let go), db-01 unknown (Ultra): apart, never 0
    residual = data["deallocatedResidualMonthlyCost"]
    assert (residual["amount"], residual["currency"], residual["reason"]) == (132.58, "USD", None)
    assert (residual["vms"], residual["vmsWithoutPrice"]) == (3, 1)
    assert [(line["resourceId"], line["monthly"], line["reason"]) for line in residual["top"]] == [
        (WEB, 96.36, None), (V2, 36.22, None), (DB, None, "UnpricedSku"),
    ]  # fmt: skip
    assert residual["top"][0]["deallocatedSince"] == at(hours=15).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    # the Standard HDD old-copy (10 GiB: S4), no VM's since the 01:00 listing: 1.54 a month
    loose = data["unattachedDisksMonthlyCost"]
    assert (loose["amount"], loose["reason"], loose["disks"], loose["disksWithoutPrice"]) == (
        1.54,
        None,
        1,
        0,
    )
    assert loose["subscriptionsNotListed"] == 0
    [disk_line] = loose["top"]
    assert (disk_line["resourceId"].rsplit("/", 1)[-1], disk_line["tier"], disk_line["monthly"]) == (
        "old-copy", "S4", 1.54,
    )  # fmt: skip
    assert data["findingCounts"]["unattachedDisk"] == 1
    # each VM deallocated 11:00-13:00 and hibernated from 15:00: 11 hours x 0.096 = 1.056, three of them
    savings = data["savings"]
    assert (savings["amount"], savings["reason"], savings["deallocatedHours"]) == (3.17, None, 33)
    assert (savings["vms"], savings["vmsWithoutPrice"]) == (3, 0)
    assert [line["avoidedCost"]["amount"] for line in savings["top"]] == [1.06, 1.06, 1.06]
    assert {line["deallocatedHours"] for line in savings["top"]} == {11}
    assert data["drift"]["amount"] is None and data["drift"]["reason"] == "NotBilledYet"  # no actuals here
    assert shape_differences(digest_in_test_http()["data"], data) == []  # test.http's example is what is sent


def test_the_listings_go_through_the_arm_pipeline_with_their_api_versions(billed):
    _, arm, prices, (first, second, report) = billed
    versions = {
        r.path.rsplit("/", 1)[-1]: r.query["api-version"] for r in arm.requests if "api-version" in r.query
    }
    assert versions["disks"] == "2024-03-02"
    assert versions["networkInterfaces"] == versions["publicIPAddresses"] == "2024-05-01"
    assert any(
        "$skiptoken" in r.query for r in arm.requests if r.path.endswith("/disks")
    )  # pages of 2 followed
    assert (first.failure, second.failure, second.vms, second.unattached) == (None, None, 3, 1)
    assert report.failure is None and report.regions == 1
    disk_queries = [r.query["$filter"] for r in prices.requests if "'Storage'" in r.query["$filter"]]
    assert disk_queries and all("'Premium SSD Managed Disks'" in query for query in disk_queries)


def test_a_vm_bill_in_the_window_to_the_cent(billed):
    body = _vm(WEB)
    kept = body["attachedCost"]
    disks = {item["id"].rsplit("/", 1)[-1]: item for item in kept["disks"]}
    # data disk P20 (tier above its 100 GiB band), held all day: 73 / 730 x 24 = 2.40
    assert (disks["web-data"]["tier"], disks["web-data"]["amount"]) == ("P20", 2.4)
    # the OS disk, created at 08:00 between the two listings: 16 hours of P10 = 19.71 / 730 x 16 = 0.432
    assert (disks["web-os"]["tier"], disks["web-os"]["amount"]) == ("P10", 0.43)
    # the Standard static IP, first listed at 01:00: 23 hours x 0.005 = 0.115
    assert kept["publicIps"] == [{"id": WEB_IP["id"], "sku": "Standard", "amount": 0.12, "reason": None}]
    assert (kept["amount"], kept["monthly"], kept["reason"]) == (
        2.95,
        96.36,
        None,
    )  # 2.947; 73 + 19.71 + 3.65
    assert body["estimatedCost"]["amount"] == 0.48  # compute only, as before: 5 x 0.096
    assert body["totalCost"] == {"amount": 3.43, "currency": "USD", "reason": None}  # 0.48 + 2.947
    assert body["avoidedCost"] == {
        "amount": 1.06,
        "currency": "USD",
        "hours": 11,
        "reason": None,
    }  # 11 x 0.096


def test_unpriced_disks_say_why_and_never_count_as_zero(billed):
    db = _vm(DB)
    assert db["attachedCost"]["amount"] is None and db["attachedCost"]["reason"] == "UnpricedSku"
    assert db["totalCost"] == {"amount": None, "currency": "USD", "reason": "UnpricedSku"}
    assert db["estimatedCost"]["amount"] == 0.48  # compute keeps its price
    v2 = _vm(V2)
    assert v2["attachedCost"]["disks"][0]["amount"] == 1.19  # 24 x 0.049613
    assert v2["attachedCost"]["publicIps"][0]["reason"] == "ReleasedWhenDeallocated"
    assert v2["attachedCost"]["amount"] == 1.19 and v2["totalCost"]["amount"] == 1.67


def test_vms_and_timelines_carry_the_same_bill(billed):
    listed = json.loads(http_get(function_app.list_vms, "vms", **DAY).get_body())["value"]
    timelines = json.loads(http_get(function_app.list_vm_timelines, "timelines", **DAY).get_body())["value"]
    for answer in (listed, timelines):
        web = next(item for item in answer if item["resourceId"] == WEB)
        assert web["attachedCost"]["amount"] == 2.95 and web["totalCost"]["amount"] == 3.43
        assert web["avoidedCost"]["amount"] == 1.06
    plain = json.loads(http_get(function_app.list_vms, "vms").get_body())["value"]
    assert all("attachedCost" not in item for item in plain)  # no window: no bill, as estimatedCost


def test_costs_groups_sum_the_whole_bill_with_unpriced_apart(billed):
    body = json.loads(http_get(function_app.list_costs, "costs", groupBy="tag:owner", **DAY).get_body())
    groups = {group["group"]: group for group in body["value"]}
    shop, data = groups["shop"], groups["data"]
    assert shop["attachedCost"] == {"amount": 2.95, "currency": "USD", "monthly": 96.36, "unpricedVmCount": 0}
    assert shop["totalCost"] == {"amount": 3.43, "currency": "USD", "unpricedVmCount": 0}
    assert data["attachedCost"]["amount"] == 1.19 and data["attachedCost"]["unpricedVmCount"] == 1
    assert data["totalCost"] == {"amount": 1.67, "currency": "USD", "unpricedVmCount": 1}
    assert data["avoidedCost"] == {"amount": 2.11, "currency": "USD", "hours": 22}  # 2 x 1.056
    assert body["total"]["avoidedCost"]["amount"] == 3.17  # 3 x 1.056
    assert body["total"]["estimatedCost"]["amount"] == 1.44  # compute, as before
    csv_body = http_get(function_app.list_costs, "costs", groupBy="tag:owner", format="csv", **DAY).get_body()
    rows = {row["group"]: row for row in csv.DictReader(io.StringIO(csv_body.decode()))}
    assert (rows["shop"]["attachedCost"], rows["shop"]["totalCost"], rows["shop"]["avoidedCost"]) == (
        "2.95", "3.43", "1.06",
    )  # fmt: skip
    assert (rows["shop"]["attachedMonthly"], rows["shop"]["avoidedHours"]) == ("96.36", "11")


def test_findings_speak_money(billed):
    body = json.loads(http_get(function_app.list_findings, "findings", minHours="1").get_body())
    deallocated = {f["resourceId"]: f for f in body["value"] if f["kind"] == "deallocatedLong"}
    assert deallocated[WEB]["attachedCost"] == {"monthly": 96.36, "currency": "USD", "reason": None}
    assert deallocated[DB]["attachedCost"]["monthly"] is None
    assert deallocated[DB]["attachedCost"]["reason"] == "UnpricedSku"
    (loose,) = [f for f in body["value"] if f["kind"] == "unattachedDisk"]
    assert loose["diskName"] == "old-copy" and loose["tier"] == "S4" and loose["sizeGb"] == 10
    assert loose["monthlyCost"] == {"amount": 1.54, "currency": "USD", "reason": None}
    assert loose["since"] == at(hours=1).strftime("%Y-%m-%dT%H:%M:%S.000000Z")  # first listed unattached
    assert loose["timeCreated"] is not None
    only = json.loads(http_get(function_app.list_findings, "findings", kind="unattachedDisk").get_body())
    assert [f["kind"] for f in only["value"]] == ["unattachedDisk"]


def test_findings_page_through_vms_then_disks(billed):
    seen, params = [], {"minHours": "1", "top": "2"}
    while True:
        body = json.loads(http_get(function_app.list_findings, "findings", **params).get_body())
        seen += [f["kind"] for f in body["value"]]
        if "nextLink" not in body:
            break
        params["continuationToken"] = body["nextLink"].split("continuationToken=")[1].split("&")[0]
    assert seen.count("unattachedDisk") == 1 and seen[-1] == "unattachedDisk"


def test_a_listing_that_fails_part_way_keeps_the_previous_disks(billed):
    ledger, arm, _, _ = billed
    before = ledger.attached.load_subscription(SUB)
    arm.set_attached(SUB, disks=[], nics=[], public_ips=[])
    arm.faults = Faults(fail_page=1, fail_status=500)
    client = ArmClient(arm.url, "2024-07-01", retry_total=0)
    report = refresh_attached(ledger, SUB, lambda: list_attached(client, SUB), now=at(hours=22))
    assert report.failure is not None and ledger.attached.load_subscription(SUB) == before


def test_a_disk_detached_later_is_kept_for_the_hours_it_was_held(billed):
    ledger, arm, _, _ = billed
    client = ArmClient(arm.url, "2024-07-01", retry_total=0)
    arm.set_attached(SUB, disks=[WEB_OS, *DISKS_AT_ONE[1:]], nics=NICS, public_ips=[WEB_IP, V2_IP, LOOSE_IP])
    refresh_attached(ledger, SUB, lambda: list_attached(client, SUB), now=at(hours=22))
    body = _vm(WEB)
    disks = {item["id"].rsplit("/", 1)[-1]: item for item in body["attachedCost"]["disks"]}
    assert disks["web-data"]["amount"] == 2.2  # held until 22:00: 73 / 730 x 22
    assert body["attachedCost"]["monthly"] == 23.36  # 19.71 + 3.65: the data disk costs this VM nothing now
    assert Decimal(str(body["attachedCost"]["amount"])) == Decimal("2.75")  # 2.2 + 0.432 + 0.115 = 2.747


def test_the_timers_inventory_step_lists_what_vms_keep_on_its_schedule(ledger):
    for resource_id in (WEB, DB, V2):
        deliver(*sample_day(resource_id))
    records = RunRecords(ledger.table)
    with FakeArm(models(), page_size=2) as arm:
        arm.set_attached(SUB, disks=[*DISKS_AT_ONE, WEB_OS], nics=NICS, public_ips=[WEB_IP, V2_IP, LOOSE_IP])
        client = ArmClient(arm.url, "2024-07-01", retry_total=0)
        prices = RetailPricesClient("http://127.0.0.1:9", "USD", retry_total=0)
        steps = timer_steps(
            ledger, client, prices,
            subscriptions=[SUB], inventory_every=timedelta(hours=6), backfill_days=0, backfill_max_vms=0,
        )  # fmt: skip
        inventory = next(step for step in steps if step.name == "inventory")
        run_timer([inventory], records, clock=lambda: at(hours=20))
        listed = [r.path for r in arm.requests]
        run_timer([inventory], records, clock=lambda: at(hours=21))  # not due again before 6 hours
        assert len(arm.requests) == len(listed)
    record = records.get(f"inventory|{SUB}")
    assert record is not None and record.succeeded
    assert "6 disk(s) and IP(s) held by 3 VM(s), 1 unattached disk(s)" in record.detail
    assert sum(path.endswith("/Microsoft.Compute/disks") for path in listed) == 3  # 5 disks, pages of 2
    assert ledger.attached.get(parse_vm_id(WEB)) is not None


def test_a_vm_listed_with_nothing_attached_costs_nothing_and_one_never_listed_says_so(billed):
    ledger = billed[0]
    bare, late = vm_id("bare-01", "rg-shop"), vm_id("late-01", "rg-shop")
    deliver(*sample_day(bare))  # first recorded at 08:00, before the 20:00 listing that showed nothing
    deliver(wire_event("write", at(hours=22), resource_id=late))  # first seen after the last listing
    body = _vm(bare)
    assert body["attachedCost"]["amount"] == 0.0 and body["attachedCost"]["reason"] is None
    assert body["attachedCost"]["disks"] == [] and body["attachedCost"]["monthly"] == 0.0
    unknown = _vm(late)["attachedCost"]
    assert (unknown["amount"], unknown["monthly"], unknown["reason"]) == (None, None, "NoInventory")
    assert ledger.attached.listed_at(SUB) == at(hours=20)


def test_a_disk_not_yet_managed_by_its_vm_goes_to_the_vm_whose_model_names_it(billed):
    _, arm, _, _ = billed
    pending = disk("rg-shop", "web-new", "Premium_LRS", 128, None)  # attaching: no managedBy yet
    arm.set_attached(SUB, disks=[pending], nics=[], public_ips=[])
    client = ArmClient(arm.url, "2024-07-01", retry_total=0)
    owners = {pending["id"].lower(): parse_vm_id(WEB)}
    listed = list_attached(client, SUB, disk_owners=owners)
    assert [d.resource_id for d in listed.disks[parse_vm_id(WEB).vm_key]] == [pending["id"]]
    assert listed.unattached == []
    assert list_attached(client, SUB).unattached[0].resource_id == pending["id"]  # named by no model
