"""Pricing arithmetic: which retail meter prices a VM, and what its billed time costs at that price.

Facts (Learn, "Azure Retail Prices REST API overview"; see tests/data/published/retail_prices): items
carry ``armRegionName``, ``armSkuName``, ``productName`` (Windows products say "Windows"), ``skuName``
and ``meterName`` ("Spot" / "Low Priority" in them for those), ``type`` (``Consumption``,
``Reservation``, ``DevTestConsumption``), ``unitOfMeasure`` and ``retailPrice``. Only hourly
``Consumption`` meters of a "Virtual Machines ..." product price pay-as-you-go compute: a reservation
row's price is for a whole term even though its unit says "1 Hour", DevTest rows are a different offer,
and "<Series> Cloud Services" products list the same sizes and meter names at the Windows price (captured
answers). Money is ``Decimal``: an amount is exact until it is rounded for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from shared.domain.inventory import OsType, Priority, VmSpec

CONSUMPTION = "Consumption"
HOURLY_UNIT = "1 Hour"
SERVICE_NAME = "Virtual Machines"
VM_PRODUCT_PREFIX = "Virtual Machines"  # "Virtual Machines Dasv5 Series [Windows]"
# Not a price but a bound: an hourly price above it is taken as an error of the source, which would swamp
# every sum it entered. It is set in US dollars, far above the dearest size (a few hundred dollars an
# hour), and scaled for the currencies the Retail Prices API offers that are worth far less than a dollar
# by a power of ten at or above their rate: orders of magnitude, not exchange rates, so that a true price
# in KRW or IDR is never refused while 1e30 or an infinity still is.
MAX_HOURLY_PRICE = Decimal(10_000)
_UNITS_PER_DOLLAR_AT_MOST = {
    "TWD": 100, "INR": 100, "RUB": 1_000, "TRY": 1_000, "JPY": 1_000, "KRW": 10_000, "IDR": 100_000,
    "ARS": 100_000,
}  # fmt: skip
_SECONDS_PER_HOUR = Decimal(3600)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PriceItem:
    """One item of a Retail Prices page, reduced to what meter choice needs."""

    arm_region_name: str
    arm_sku_name: str
    product_name: str
    sku_name: str
    meter_name: str
    price_type: str
    unit_of_measure: str
    retail_price: Decimal
    currency: str
    effective_start: datetime | None = None
    tier_minimum_units: Decimal = Decimal(0)
    service_name: str = SERVICE_NAME
    is_primary_meter_region: bool = True


@dataclass(frozen=True)
class MeterKind:
    os_type: OsType
    priority: Priority


@dataclass(frozen=True)
class HourlyPrice:
    amount: Decimal
    currency: str
    meter: str  # the meter's name, shown so a reader can check it against the price sheet


class CostReason(StrEnum):
    """Why an estimate has no amount: never a silent 0."""

    NO_INVENTORY = "NoInventory"  # size, region or OS not known yet (next inventory refresh)
    NO_PRICE = "NoPrice"  # no hourly Consumption meter for this region, size, OS and priority
    PRICES_NOT_LOADED = "PricesNotLoaded"  # the price refresh has not succeeded yet
    NO_WINDOW = "NoWindow"  # the answer has no window to price
    INVALID_PRICE = "InvalidPrice"  # the cached price cannot be true (an older version stored it)
    UNPRICED_SKU = "UnpricedSku"  # a disk SKU whose meters the ledger does not price (Ultra Disks)
    RELEASED_WHEN_DEALLOCATED = "ReleasedWhenDeallocated"  # a Basic dynamic IP: not part of the bill kept


@dataclass(frozen=True)
class CostEstimate:
    """``amount`` for the window at ``hourly_price``, or ``None`` with a ``reason``."""

    amount: Decimal | None
    currency: str
    hourly_price: HourlyPrice | None
    price_as_of: datetime | None
    reason: CostReason | None = None


def max_hourly_price(currency: str) -> Decimal:
    """``MAX_HOURLY_PRICE`` in ``currency``'s units (its order of magnitude against the dollar)."""
    return MAX_HOURLY_PRICE * _UNITS_PER_DOLLAR_AT_MOST.get(currency.upper(), 1)


def is_believable_hourly_price(amount: Decimal, currency: str) -> bool:
    """A finite amount from 0 to ``max_hourly_price`` (``NaN`` and infinities are not prices)."""
    return amount.is_finite() and 0 <= amount <= max_hourly_price(currency)


def prices_vm_time(item: PriceItem) -> bool:
    """Whether an item is an hourly pay-as-you-go meter of a VM product (whatever its price says)."""
    return (
        item.price_type == CONSUMPTION
        and item.unit_of_measure.strip() == HOURLY_UNIT
        and item.tier_minimum_units == 0
        and (not item.service_name or item.service_name == SERVICE_NAME)
        and item.product_name.startswith(VM_PRODUCT_PREFIX)
    )


def meter_kind(item: PriceItem) -> MeterKind | None:
    """The (OS, priority) an item prices, or ``None`` for items that do not price pay-as-you-go VM time."""
    if not prices_vm_time(item) or not is_believable_hourly_price(item.retail_price, item.currency):
        return None
    names = f"{item.sku_name} {item.meter_name}".lower()
    if "spot" in names:
        priority = Priority.SPOT
    elif "low priority" in names:
        priority = Priority.LOW
    else:
        priority = Priority.REGULAR
    os_type = OsType.WINDOWS if "windows" in item.product_name.lower() else OsType.LINUX
    return MeterKind(os_type, priority)


PriceKey = tuple[str, str, MeterKind]  # (region, size) lower case, and the meter kind


def price_key(region: str, size: str, kind: MeterKind) -> PriceKey:
    return region.strip().lower(), size.strip().lower(), kind


def choose_prices(items: Iterable[PriceItem], as_of: datetime) -> dict[PriceKey, HourlyPrice]:
    """One hourly price per (region, size, OS, priority): the meter in force at ``as_of``.

    Each meter (one product and meter name) has its row in force: primary region rows first, then the
    latest ``effectiveStartDate`` not after ``as_of``. Dates are compared only within a meter: a newer
    row of another product says nothing about this one's price. Between meters the primary region's
    wins, then the lowest price, so the choice does not depend on the order of the pages.
    """
    in_force: dict[tuple[PriceKey, str, str], tuple[tuple[object, ...], PriceItem]] = {}
    for item in items:
        kind = meter_kind(item)
        if kind is None or (item.effective_start is not None and item.effective_start > as_of):
            continue
        meter = (price_key(item.arm_region_name, item.arm_sku_name, kind), item.product_name, item.meter_name)
        effective = item.effective_start.timestamp() if item.effective_start else float("-inf")
        rank = (not item.is_primary_meter_region, -effective, item.retail_price)
        if meter not in in_force or rank < in_force[meter][0]:
            in_force[meter] = (rank, item)
    best: dict[PriceKey, tuple[tuple[object, ...], HourlyPrice]] = {}
    for (key, product, meter_name), (_, item) in in_force.items():
        order = (not item.is_primary_meter_region, item.retail_price, product, meter_name)
        if key not in best or order < best[key][0]:
            best[key] = (order, HourlyPrice(item.retail_price, item.currency, meter_name))
    return {key: price for key, (_, price) in best.items()}


def kind_for(spec: VmSpec) -> MeterKind | None:
    os_type = spec.billed_os
    return MeterKind(os_type, spec.priority) if os_type is not None else None


def cost_of(billed_seconds: float, price: HourlyPrice) -> Decimal:
    """Billed hours times the hourly price, exact (seconds are kept to the microsecond)."""
    seconds = Decimal(str(round(billed_seconds, 6)))
    return seconds * price.amount / _SECONDS_PER_HOUR


def round_money(amount: Decimal) -> Decimal:
    """To the cent, half up, as a reader would round a bill."""
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
