"""The whole bill's arithmetic without storage: disk bands, meter choice beside its decoys, proration at 730
hours a month, Premium SSD v2 above its free baseline, what is not priced and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from devtools.fake_arm.attached import PUBLISHED_ATTACHED, make_disk, make_nic, make_public_ip
from devtools.fake_prices.items import attached_catalogue, storage_meter
from shared.domain.attached import DiskSpec, Held, PublicIpSpec, VmAttachments, band_tier, disk_meter
from shared.domain.attached_pricing import attached_cost, choose_attached_rates, rate_key
from shared.domain.pricing import CostReason, round_money
from shared.sources.attached_listing import nic_links, parse_disk, parse_public_ip
from shared.sources.retail_prices import price_item

T0 = datetime(2026, 11, 23, tzinfo=UTC)
DAY_END = T0 + timedelta(days=1)
GUID = "00000000-0000-0000-0000-00000000c0de"
VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


def disk(
    sku: str, size: int, *, tier: str | None = None, iops: int | None = None, mbps: int | None = None
) -> DiskSpec:
    return DiskSpec(f"/d/{sku}/{size}/{tier}", sku, tier, size, iops, mbps, None, "westus", VM, "Attached")


def rates() -> dict:
    items = [price_item(item) for item in attached_catalogue("westus")]
    return choose_attached_rates([item for item in items if item is not None], DAY_END)


@pytest.mark.parametrize(
    ("sku", "size", "tier", "meter"),
    [
        ("Premium_LRS", 128, None, "P10 LRS Disk"),
        ("Premium_LRS", 100, "P20", "P20 LRS Disk"),  # a performance tier above the size's band is billed
        ("Premium_LRS", 129, None, "P15 LRS Disk"),
        ("Premium_ZRS", 128, None, "P10 ZRS Disk"),
        ("StandardSSD_LRS", 64, None, "E6 LRS Disk"),
        ("Standard_LRS", 10, None, "S4 LRS Disk"),  # Standard HDD starts at S4 (32 GiB)
        ("Premium_LRS", 32767, None, "P80 LRS Disk"),
        ("Premium_LRS", 4, "E10", "P1 LRS Disk"),  # a tier of another family is not this disk's
    ],
)
def test_a_disk_is_billed_at_its_tier_or_the_smallest_band_that_holds_it(sku, size, tier, meter):
    found = disk_meter(disk(sku, size, tier=tier))
    assert found is not None and found.meter == meter


def test_sizes_past_the_largest_band_and_provisioned_skus_have_no_band():
    assert band_tier(disk("Premium_LRS", 40_000)) is None
    assert band_tier(disk("PremiumV2_LRS", 256)) is None and band_tier(disk("UltraSSD_LRS", 256)) is None


def test_the_right_meter_is_chosen_beside_mount_operations_and_zrs_decoys():
    chosen = rates()["westus"]
    assert chosen["P10 LRS Disk"].amount == Decimal("19.71")  # not the Disk Mount row (1.18)
    assert chosen["P10 ZRS Disk"].amount == Decimal("29.57")
    assert "P10 LRS Disk Mount" not in chosen and "E10 LRS Disk Operations" not in chosen
    assert "Basic IPv4 Dynamic Public IP" not in chosen
    iops = chosen["Premium LRS Provisioned IOPS"]
    assert (iops.amount, iops.free_units, iops.per_hour) == (Decimal("0.000007"), Decimal(3000), True)


def test_a_disk_meter_in_another_product_or_unit_is_not_a_disk_price():
    wrong_product = price_item(storage_meter("westus", "Standard SSD Managed Disks", "P10 LRS Disk", 5))
    hourly = price_item(
        storage_meter("westus", "Premium SSD Managed Disks", "P10 LRS Disk", 5, unit="1 Hour")
    )
    assert rate_key(wrong_product) is None and rate_key(hourly) is None


def cost_of(*held: Held, start: datetime = T0, end: datetime = DAY_END):
    return attached_cost(VmAttachments(held, T0), rates(), "USD", start, end)


def test_a_day_of_a_p10_disk_and_a_standard_ip_to_the_cent():
    ip = PublicIpSpec("/ip/1", "Standard", "Static", "westus")
    cost = cost_of(Held(disk("Premium_LRS", 128), T0), Held(ip, T0 + timedelta(hours=1)))
    # 19.71 / 730 x 24 = 0.648 and 0.005 x 23 = 0.115
    assert [round_money(item.amount) for item in cost.items] == [Decimal("0.65"), Decimal("0.12")]
    assert round_money(cost.amount) == Decimal("0.76")  # 0.763
    assert round_money(cost.monthly) == Decimal("23.36")  # 19.71 + 0.005 x 730
    assert cost.reason is None


def test_premium_ssd_v2_pays_capacity_and_performance_above_its_free_baseline():
    v2 = disk("PremiumV2_LRS", 256, iops=5000, mbps=200)
    cost = cost_of(Held(v2, T0 - timedelta(days=3)))
    # per hour: 256 x 0.000123 + (5000 - 3000) x 0.000007 + (200 - 125) x 0.000055 = 0.049613
    assert cost.amount == Decimal("0.049613") * 24
    assert round_money(cost.amount) == Decimal("1.19") and round_money(cost.monthly) == Decimal("36.22")
    at_baseline = cost_of(Held(disk("PremiumV2_LRS", 256, iops=3000, mbps=125), T0))
    assert at_baseline.amount == 256 * Decimal("0.000123") * 24


def test_ultra_disks_and_unmatched_meters_have_no_amount_and_say_why():
    ultra = cost_of(Held(disk("UltraSSD_LRS", 256, iops=5000, mbps=200), T0))
    assert (ultra.amount, ultra.reason) == (None, CostReason.UNPRICED_SKU)
    no_meter = cost_of(Held(disk("StandardSSD_ZRS", 128), T0))
    assert (no_meter.amount, no_meter.monthly, no_meter.reason) == (None, None, CostReason.NO_PRICE)
    never_fetched = attached_cost(
        VmAttachments((Held(disk("Premium_LRS", 128), T0),), T0), None, "USD", T0, DAY_END
    )
    assert (never_fetched.amount, never_fetched.reason) == (None, CostReason.PRICES_NOT_LOADED)
    no_inventory = attached_cost(None, rates(), "USD", T0, DAY_END)
    assert (no_inventory.amount, no_inventory.reason) == (None, CostReason.NO_INVENTORY)


def test_a_basic_dynamic_ip_is_listed_unpriced_and_leaves_the_bill_known():
    basic = PublicIpSpec("/ip/basic", "Basic", "Dynamic", "westus")
    cost = cost_of(Held(disk("Standard_LRS", 32), T0), Held(basic, T0))
    assert cost.items[1].reason == CostReason.RELEASED_WHEN_DEALLOCATED and cost.items[1].amount is None
    assert cost.amount == Decimal("1.54") / 730 * 24 and cost.reason is None


def test_a_disk_counts_only_the_hours_it_was_held_inside_the_window():
    let_go = Held(disk("Premium_LRS", 128), T0 - timedelta(days=10), T0 + timedelta(hours=6))
    cost = cost_of(let_go)
    assert cost.amount == Decimal("19.71") / 730 * 6
    assert cost.monthly == 0  # let go: it costs nothing a month now


def test_the_published_listings_read_as_disks_nics_and_ips():
    published = json.loads((PUBLISHED_ATTACHED / "Disk_ListBySubscription.json").read_text())
    entries = published["responses"]["200"]["body"]["value"]
    assert [parse_disk(entry) for entry in entries] == [None, None, None]  # the example has no sku: skipped
    # The example's subscription is the placeholder "subid": a GUID in its place, as a real answer has.
    text = (PUBLISHED_ATTACHED / "NetworkInterfaceListAll.json").read_text()
    nics = json.loads(text.replace("/subscriptions/subid/", f"/subscriptions/{GUID}/"))
    first, second = nics["responses"]["200"]["body"]["value"]
    vm, ips = nic_links(first)
    assert vm is not None and vm.name == "vm1" and ips[0].endswith("/publicIPAddresses/test-ip")
    assert nic_links(second)[0] is None  # attached to no VM
    built = parse_disk(make_disk("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1",
                                 "Premium_LRS", 100, managed_by=VM, tier="P20"))  # fmt: skip
    assert built is not None and (built.sku, built.tier, built.size_gb, built.owner) == (
        "Premium_LRS",
        "P20",
        100,
        VM,
    )
    assert built.created == datetime(2016, 12, 28, 4, 41, 36, 872242, tzinfo=UTC)
    ip = parse_public_ip(make_public_ip("/ip/x", "Standard", "Static"))
    assert ip is not None and (ip.sku, ip.allocation) == ("Standard", "Static")
    assert nic_links(make_nic("/nic/x", VM, ["/ip/x", "/ip/y"]))[1] == ["/ip/x", "/ip/y"]


def test_what_a_vm_holds_is_kept_with_since_when_and_let_go_items_stay_for_past_windows():
    from shared.jobs.attached_inventory import KEPT_AFTER_RELEASE, merge_held

    old = DiskSpec(
        "/d/old", "Premium_LRS", None, 128, None, None, T0 - timedelta(days=90), "westus", VM, "Attached"
    )
    moved = DiskSpec(
        "/d/moved", "Premium_LRS", None, 128, None, None, T0 - timedelta(days=60), "westus", VM, "x"
    )
    ip = PublicIpSpec("/ip/1", "Standard", "Static", "westus")
    first = merge_held(None, [old, ip], T0)
    # a VM's first listing: a disk from its creation, an IP (no creation time) from the listing
    assert [(h.item.resource_id, h.since, h.until) for h in first.held] == [
        ("/d/old", old.created, None), ("/ip/1", T0, None),
    ]  # fmt: skip
    later = T0 + timedelta(hours=6)
    second = merge_held(first, [ip, moved], later)
    held = {h.item.resource_id: h for h in second.held}
    assert held["/d/moved"].since == T0  # created long before: attached since the previous listing at most
    assert held["/d/old"].until == later and held["/ip/1"].since == T0
    gone = merge_held(second, [ip, moved], later + KEPT_AFTER_RELEASE + timedelta(days=1))
    assert "/d/old" not in {h.item.resource_id for h in gone.held}  # let go over a year ago: dropped


def test_the_vm_models_name_their_managed_disks():
    from devtools.published import PUBLISHED
    from shared.sources import parse_model_page

    body = json.loads((PUBLISHED / "vm_models" / "VirtualMachine_ListAll_MaximumSet_Gen.json").read_text())
    models, _ = parse_model_page(body["responses"]["200"]["body"])
    os_disk = body["responses"]["200"]["body"]["value"][0]["properties"]["storageProfile"]["osDisk"]
    assert models[0].disk_ids[0] == os_disk["managedDisk"]["id"]
