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
