"""Retail price items: copies of a published Learn sample item (``tests/data/published/retail_prices``)
with the region, size, names, type and price of another meter."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from devtools.published import PUBLISHED

PUBLISHED_PRICES = PUBLISHED / "retail_prices"


def published_item() -> dict[str, Any]:
    """Learn's sample Consumption item (Windows F16s Spot, westeurope, EUR), as published."""
    return json.loads((PUBLISHED_PRICES / "learn_sample_item_eur_consumption.json").read_text())


def meter(
    region: str,
    size: str,
    price: str | float,
    *,
    windows: bool = False,
    spot: bool = False,
    low: bool = False,
    price_type: str = "Consumption",
    currency: str = "USD",
    reservation_term: str | None = None,
    product: str | None = None,
    effective: str | None = None,
) -> dict[str, Any]:
    """The published item with the fields of another meter: ``Standard_D2s_v5`` -> ``D2s v5 [Spot]``.

    ``product`` replaces the product name built from the size (e.g. "Dasv5 Series Cloud Services"),
    ``effective`` the published ``effectiveStartDate``.
    """
    short = size.removeprefix("Standard_").replace("_", " ")
    series = short.split(" ", 1)[0].rstrip("0123456789")
    sku = short + (" Spot" if spot else " Low Priority" if low else "")
    identity = f"{region}|{size}|{sku}|{windows}|{price_type}" + (f"|{product}" if product else "")
    item = published_item()
    item.update(
        currencyCode=currency,
        retailPrice=float(price),
        unitPrice=float(price),
        armRegionName=region,
        armSkuName=size,
        skuName=sku,
        meterName=sku,
        productName=product or f"Virtual Machines {series} Series" + (" Windows" if windows else ""),
        type=price_type,
        meterId="fake-" + identity.lower().replace("|", "-").replace(" ", "-"),
        skuId="FAKE/" + hashlib.sha256(identity.encode()).hexdigest()[:4],
    )
    if effective is not None:
        item["effectiveStartDate"] = effective
    if reservation_term is not None:
        item["reservationTerm"] = reservation_term
    return item


def storage_meter(
    region: str,
    product: str,
    meter_name: str,
    price: str | float,
    *,
    unit: str = "1/Month",
    tier_minimum: float = 0,
    service: str = "Storage",
    currency: str = "USD",
) -> dict[str, Any]:
    """The published item as a disk or public IP meter (no ``armSkuName``, as those rows have none):
    ``storage_meter("eastus", "Premium SSD Managed Disks", "P10 LRS Disk", 19.71)``; public IPs pass
    ``service="Virtual Network"``, ``product="IP Addresses"``, ``unit="1 Hour"``."""
    identity = f"{region}|{product}|{meter_name}|{tier_minimum}"
    item = published_item()
    sku_name = meter_name.removesuffix(" Disk").removesuffix(" Static Public IP").split(" Provisioned")[0]
    item.update(
        currencyCode=currency,
        retailPrice=float(price),
        unitPrice=float(price),
        tierMinimumUnits=float(tier_minimum),
        armRegionName=region,
        armSkuName="",
        skuName=sku_name,
        meterName=meter_name,
        productName=product,
        serviceName=service,
        serviceFamily="Storage" if service == "Storage" else "Networking",
        unitOfMeasure=unit,
        type="Consumption",
        meterId="fake-" + identity.lower().replace("|", "-").replace(" ", "-"),
        skuId="FAKE/" + hashlib.sha256(identity.encode()).hexdigest()[:4],
    )
    return item


def attached_catalogue(region: str, currency: str = "USD") -> list[dict[str, Any]]:
    """Disk and IP meters of one region with the decoys beside the right rows: "Disk Mount", "Disk
    Operations" and ZRS rows of the same band, Premium SSD v2's free tier rows. Prices are invented, round
    so that costs check to the cent; not Microsoft's."""
    premium, ssd, hdd = (
        "Premium SSD Managed Disks",
        "Standard SSD Managed Disks",
        "Standard HDD Managed Disks",
    )
    v2 = "Azure Premium SSD v2"

    def row(product: str, name: str, price: float, **options: Any) -> dict[str, Any]:
        return storage_meter(region, product, name, price, currency=currency, **options)

    return [
        row(premium, "P10 LRS Disk", 19.71),
        row(premium, "P10 LRS Disk Mount", 1.18),
        row(premium, "P10 ZRS Disk", 29.57),
        row(premium, "P20 LRS Disk", 73.0),
        row(premium, "P30 LRS Disk", 135.17),
        row(ssd, "E10 LRS Disk", 7.3),
        row(ssd, "E10 LRS Disk Operations", 0.002, unit="10K"),
        row(hdd, "S10 LRS Disk", 5.89),
        row(hdd, "S4 LRS Disk", 1.54),
        row(v2, "Premium LRS Provisioned Capacity", 0.000123, unit="1 GiB/Hour"),
        row(v2, "Premium LRS Provisioned IOPS", 0, unit="1/Hour"),
        row(v2, "Premium LRS Provisioned IOPS", 0.000007, unit="1/Hour", tier_minimum=3000),
        row(v2, "Premium LRS Provisioned Throughput (MBps)", 0, unit="1/Hour"),
        row(v2, "Premium LRS Provisioned Throughput (MBps)", 0.000055, unit="1/Hour", tier_minimum=125),
        row(
            "IP Addresses", "Standard IPv4 Static Public IP", 0.005, unit="1 Hour", service="Virtual Network"
        ),
        row("IP Addresses", "Basic IPv4 Static Public IP", 0.0036, unit="1 Hour", service="Virtual Network"),
        row("IP Addresses", "Basic IPv4 Dynamic Public IP", 0.004, unit="1 Hour", service="Virtual Network"),
    ]


def d2as_v5_uksouth_gbp() -> list[dict[str, Any]]:
    """The 13 items a captured real answer lists for ``Standard_D2as_v5`` in uksouth in GBP.

    Each is the published item (``meter``) with the captured product, meter, type, price and effective
    date (facts recorded in ``tests/data/published/retail_prices/SOURCES.md``): pay-as-you-go, Low
    Priority and Spot rows of the Linux and Windows products, their DevTest and reservation rows, and the
    two "Dasv5 Series Cloud Services" rows, which carry the Windows prices and a later date.
    """
    vm, windows, cloud = (
        "Virtual Machines Dasv5 Series",
        "Virtual Machines Dasv5 Series Windows",
        "Dasv5 Series Cloud Services",
    )
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (cloud, "0.059783", dict(low=True, effective="2023-10-01T00:00:00Z")),
        (vm, "0.010119", dict(spot=True, effective="2024-08-01T00:00:00Z")),
        (cloud, "0.149457", dict(effective="2023-10-01T00:00:00Z")),
        (vm, "0.077842", {}),
        (vm, "402.444246", dict(price_type="Reservation", reservation_term="1 Year")),
        (vm, "777.643716", dict(price_type="Reservation", reservation_term="3 Years")),
        (windows, "0.059783", dict(low=True, windows=True)),
        (windows, "0.015568", dict(low=True, windows=True, price_type="DevTestConsumption")),
        (vm, "0.015568", dict(low=True)),
        (windows, "0.149457", dict(windows=True)),
        (windows, "0.077842", dict(windows=True, price_type="DevTestConsumption")),
        (windows, "0.019429", dict(spot=True, windows=True, effective="2024-08-01T00:00:00Z")),
        (windows, "0.010119", dict(spot=True, windows=True, price_type="DevTestConsumption",
                                   effective="2024-08-01T00:00:00Z")),
    ]  # fmt: skip
    options: dict[str, Any] = dict(currency="GBP", effective="2021-11-01T00:00:00Z")
    return [
        meter("uksouth", "Standard_D2as_v5", price, product=product, **{**options, **extra})
        for product, price, extra in rows
    ]
