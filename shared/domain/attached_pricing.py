"""Which retail meters price a VM's disks and public IPs, and what they cost over a window.

Meters (Retail Prices items; captured answers named in tests/data/published/attached/SOURCES.md):

- banded managed disks: ``serviceName`` "Storage", ``productName`` "Premium SSD Managed Disks", "Standard SSD
  Managed Disks" or "Standard HDD Managed Disks", ``meterName`` exactly "<band> <LRS|ZRS> Disk" ("P10 LRS
  Disk"), ``unitOfMeasure`` "1/Month". Never "... Disk Mount" or "... Disk Operations" (other charges);
- Premium SSD v2: ``productName`` "Azure Premium SSD v2", meters "Premium LRS Provisioned Capacity" (per GiB
  and hour), "Premium LRS Provisioned IOPS" and "Premium LRS Provisioned Throughput (MBps)" (per unit and
  hour, priced above the free baseline given by the priced row's ``tierMinimumUnits``). All three or none;
- public IPs: ``serviceName`` "Virtual Network", ``productName`` "IP Addresses", "Standard IPv4 Static Public
  IP" or "Basic IPv4 Static Public IP", per hour. A Basic dynamic address is released on deallocation: it is
  listed, not priced, and does not make the whole bill unknown.

Ultra Disks are not priced (their meters were not found in any captured answer, and an Ultra-enabled VM also
pays a per-vCPU reservation): their amount is ``null`` with the reason ``UnpricedSku``. Monthly meters are
prorated per hour at 730 hours a month, the pricing calculator's convention; hourly meters are times 730 for
``monthly``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.domain.attached import (
    DiskFamily,
    DiskSpec,
    Held,
    PublicIpSpec,
    VmAttachments,
    disk_family,
    disk_meter,
)
from shared.domain.pricing import CONSUMPTION, CostReason, PriceItem

HOURS_PER_MONTH = Decimal(730)
DISK_SERVICE = "Storage"
IP_SERVICE = "Virtual Network"
IP_PRODUCT = "IP Addresses"
V2_PRODUCT = "Azure Premium SSD v2"
MONTHLY_UNIT = "1/Month"
_BAND_METER = re.compile(r"^([PES])\d{1,2} (LRS|ZRS) Disk$")
_BAND_PRODUCTS = {
    "P": "Premium SSD Managed Disks",
    "E": "Standard SSD Managed Disks",
    "S": "Standard HDD Managed Disks",
}
ATTACHED_DISK_PRODUCTS = (*_BAND_PRODUCTS.values(), V2_PRODUCT)
V2_CAPACITY, V2_IOPS, V2_MBPS = (
    "Premium LRS Provisioned Capacity",
    "Premium LRS Provisioned IOPS",
    "Premium LRS Provisioned Throughput (MBps)",
)
_V2_UNITS = {V2_CAPACITY: "1 GiB/Hour", V2_IOPS: "1/Hour", V2_MBPS: "1/Hour"}
IP_METERS = {"standard": "Standard IPv4 Static Public IP", "basic": "Basic IPv4 Static Public IP"}
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class Rate:
    """A meter's price per unit, by the hour or by the month; units up to ``free_units`` cost nothing."""

    amount: Decimal
    per_hour: bool
    free_units: Decimal = Decimal(0)

    @property
    def hourly(self) -> Decimal:
        return self.amount if self.per_hour else self.amount / HOURS_PER_MONTH


@dataclass(frozen=True)
class ItemCost:
    resource_id: str
    is_disk: bool
    sku: str | None
    tier: str | None
    amount: Decimal | None
    monthly: Decimal | None
    reason: CostReason | None = None


@dataclass(frozen=True)
class AttachedCost:
    """The disks and IPs of a VM over a window (``amount``) and per month now (``monthly``)."""

    amount: Decimal | None
    currency: str
    items: tuple[ItemCost, ...]
    monthly: Decimal | None
    reason: CostReason | None = None


def rate_key(item: PriceItem) -> str | None:
    """The key a usable item prices (its meter name), or ``None`` for every other item."""
    if item.price_type != CONSUMPTION or not item.retail_price.is_finite() or item.retail_price < 0:
        return None
    unit = item.unit_of_measure.strip()
    if item.service_name == DISK_SERVICE:
        band = _BAND_METER.match(item.meter_name)
        if band and unit == MONTHLY_UNIT and item.tier_minimum_units == 0:
            return item.meter_name if item.product_name == _BAND_PRODUCTS[band.group(1)] else None
        if item.product_name == V2_PRODUCT and _V2_UNITS.get(item.meter_name) == unit:
            return item.meter_name
        return None
    if item.service_name == IP_SERVICE and item.product_name == IP_PRODUCT and unit == "1 Hour":
        return (
            item.meter_name
            if item.meter_name in IP_METERS.values() and item.tier_minimum_units == 0
            else None
        )
    return None


def choose_attached_rates(items: Iterable[PriceItem], as_of: datetime) -> dict[str, dict[str, Rate]]:
    """Per region (lower case), the rate in force at ``as_of`` of each disk and IP meter.

    Primary-region rows first, then the latest ``effectiveStartDate`` not after ``as_of``. A tiered meter
    (Premium SSD v2 IOPS and throughput: a free row at 0 units, a priced one from the baseline) keeps the
    priced row, with the baseline as its free units.
    """
    chosen: dict[tuple[str, str, Decimal], tuple[tuple[object, ...], PriceItem]] = {}
    for item in items:
        key = rate_key(item)
        if key is None or (item.effective_start is not None and item.effective_start > as_of):
            continue
        effective = item.effective_start.timestamp() if item.effective_start else float("-inf")
        rank = (not item.is_primary_meter_region, -effective, item.retail_price)
        slot = (item.arm_region_name.strip().lower(), key, item.tier_minimum_units)
        if slot not in chosen or rank < chosen[slot][0]:
            chosen[slot] = (rank, item)
    rates: dict[str, dict[str, Rate]] = {}
    for (region, key, tier), (_, item) in sorted(chosen.items(), key=lambda entry: entry[0]):
        per_hour = item.unit_of_measure.strip() != MONTHLY_UNIT
        if tier > 0 and item.retail_price > 0:
            rates.setdefault(region, {})[key] = Rate(item.retail_price, per_hour, tier)
        elif tier == 0 and key not in rates.get(region, {}):
            rates.setdefault(region, {})[key] = Rate(item.retail_price, per_hour)
    return rates


def attached_cost(
    attachments: VmAttachments | None,
    rates: Mapping[str, Mapping[str, Rate]] | None,
    currency: str,
    start: datetime | None,
    end: datetime,
) -> AttachedCost:
    """What the held disks and IPs cost over ``[start, end)`` (each for the hours it was held in it) and per
    month now; ``None`` amounts with a reason, never a silent 0. ``start`` ``None``: no window (monthly only).
    ``rates`` ``None``: the price refresh has not run."""
    if attachments is None:
        return AttachedCost(None, currency, (), None, CostReason.NO_INVENTORY)
    items = tuple(_item_cost(held, rates, start, end) for held in attachments.held)
    counted = [item for item in items if item.reason != CostReason.RELEASED_WHEN_DEALLOCATED]
    reasons = [item.reason for item in counted if item.amount is None and item.reason is not None]
    current = [
        item for item, held in zip(items, attachments.held, strict=True)
        if held.until is None and item.reason != CostReason.RELEASED_WHEN_DEALLOCATED
    ]  # fmt: skip
    monthly_reasons = [item.reason for item in current if item.monthly is None and item.reason is not None]
    monthly = None if monthly_reasons else sum((item.monthly or Decimal(0) for item in current), Decimal(0))
    if start is None:  # no window: the monthly cost alone, and why it is unknown
        return AttachedCost(None, currency, items, monthly, monthly_reasons[0] if monthly_reasons else None)
    if reasons:
        return AttachedCost(None, currency, items, monthly, reasons[0])
    total = sum((item.amount or Decimal(0) for item in counted), Decimal(0))
    return AttachedCost(total, currency, items, monthly)


def _item_cost(
    held: Held, rates: Mapping[str, Mapping[str, Rate]] | None, start: datetime | None, end: datetime
) -> ItemCost:
    item = held.item
    is_disk = isinstance(item, DiskSpec)
    meter = disk_meter(item) if isinstance(item, DiskSpec) else None
    tier = meter.tier if meter else None
    if isinstance(item, PublicIpSpec) and item.released_when_deallocated:
        return ItemCost(
            item.resource_id, False, item.sku, None, None, None, CostReason.RELEASED_WHEN_DEALLOCATED
        )
    if rates is None:
        return ItemCost(item.resource_id, is_disk, item.sku, tier, None, None, CostReason.PRICES_NOT_LOADED)
    regional = rates.get((item.location or "").strip().lower())
    hourly, reason = _hourly(item, regional)
    if hourly is None:
        return ItemCost(item.resource_id, is_disk, item.sku, tier, None, None, reason)
    monthly = hourly * HOURS_PER_MONTH
    amount = hourly * _held_hours(held, start, end) if start is not None else None
    return ItemCost(item.resource_id, is_disk, item.sku, tier, amount, monthly)


def _hourly(
    item: DiskSpec | PublicIpSpec, rates: Mapping[str, Rate] | None
) -> tuple[Decimal | None, CostReason | None]:
    if rates is None:
        return None, CostReason.PRICES_NOT_LOADED
    if isinstance(item, PublicIpSpec):
        rate = rates.get(IP_METERS.get((item.sku or "basic").lower(), ""))
        return (rate.hourly, None) if rate else (None, CostReason.NO_PRICE)
    family = disk_family(item.sku)
    if family is None or family[0] == DiskFamily.ULTRA:
        return None, CostReason.UNPRICED_SKU
    if family[0] == DiskFamily.PREMIUM_V2:
        return _v2_hourly(item, rates)
    meter = disk_meter(item)
    rate = rates.get(meter.meter) if meter else None
    return (rate.hourly, None) if rate else (None, CostReason.NO_PRICE)


def _v2_hourly(disk: DiskSpec, rates: Mapping[str, Rate]) -> tuple[Decimal | None, CostReason | None]:
    capacity, iops, mbps = rates.get(V2_CAPACITY), rates.get(V2_IOPS), rates.get(V2_MBPS)
    if capacity is None or iops is None or mbps is None:
        return None, CostReason.NO_PRICE
    if disk.size_gb is None or disk.iops is None or disk.mbps is None:
        return None, CostReason.NO_INVENTORY
    hourly = Decimal(disk.size_gb) * capacity.hourly
    hourly += max(Decimal(disk.iops) - iops.free_units, Decimal(0)) * iops.hourly
    hourly += max(Decimal(disk.mbps) - mbps.free_units, Decimal(0)) * mbps.hourly
    return hourly, None


def _held_hours(held: Held, start: datetime | None, end: datetime) -> Decimal:
    begin = max(held.since, start) if start is not None else held.since
    finish = min(held.until, end) if held.until is not None else end
    seconds = max((finish - begin).total_seconds(), 0.0)
    return Decimal(str(round(seconds, 6))) / _SECONDS_PER_HOUR
