"""Pricing arithmetic, meter choice, inventory bounds and chargeback grouping: pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.chargeback import GroupBy, GroupKind, VmCharge, chargeback, parse_group_by
from shared.domain.inventory import MAX_TAGS, OsType, Priority, VmSpec, bound_tags
from shared.domain.pricing import (
    MAX_HOURLY_PRICE,
    HourlyPrice,
    MeterKind,
    PriceItem,
    choose_prices,
    cost_of,
    is_believable_hourly_price,
    kind_for,
    meter_kind,
    price_key,
    round_money,
)
from shared.errors import InvalidInput

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(**overrides) -> PriceItem:
    values = dict(
        arm_region_name="westeurope", arm_sku_name="Standard_D2s_v5",
        product_name="Virtual Machines Dsv5 Series",
        sku_name="D2s v5", meter_name="D2s v5", price_type="Consumption", unit_of_measure="1 Hour",
        retail_price=Decimal("0.096"), currency="USD", effective_start=datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    values.update(overrides)
    return PriceItem(**values)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, MeterKind(OsType.LINUX, Priority.REGULAR)),
        (
            {"product_name": "Virtual Machines Dsv5 Series Windows"},
            MeterKind(OsType.WINDOWS, Priority.REGULAR),
        ),
        ({"sku_name": "D2s v5 Spot", "meter_name": "D2s v5 Spot"}, MeterKind(OsType.LINUX, Priority.SPOT)),
        (
            {
                "sku_name": "D2s v5 Low Priority",
                "meter_name": "D2s v5 Low Priority",
                "product_name": "Virtual Machines Dsv5 Series Windows",
            },
            MeterKind(OsType.WINDOWS, Priority.LOW),
        ),  # fmt: skip
        ({"price_type": "Reservation"}, None),  # a term price, although its unit says "1 Hour"
        ({"price_type": "DevTestConsumption"}, None),
        ({"unit_of_measure": "1/Month"}, None),
        ({"tier_minimum_units": Decimal(10)}, None),
        ({"service_name": "Cloud Services"}, None),
        # Listed under serviceName "Virtual Machines" with the VM's size and meter name, at the Windows
        # price: the product of the Cloud Services offer, not of a VM (see retail_prices/SOURCES.md).
        ({"product_name": "Dsv5 Series Cloud Services"}, None),
        ({"product_name": "Dsv5 Series Cloud Services", "sku_name": "D2s v5 Low Priority"}, None),
        ({"product_name": "DSv5 Series Dedicated Host"}, None),
    ],
)
def test_meter_kind_follows_product_sku_and_type(overrides, expected):
    assert meter_kind(item(**overrides)) == expected


def test_the_price_in_force_now_wins_and_future_prices_wait():
    prices = choose_prices(
        [
            item(retail_price=Decimal("0.100"), effective_start=datetime(2023, 1, 1, tzinfo=UTC)),
            item(retail_price=Decimal("0.096"), effective_start=datetime(2025, 1, 1, tzinfo=UTC)),
            item(retail_price=Decimal("0.200"), effective_start=datetime(2027, 1, 1, tzinfo=UTC)),
            item(retail_price=Decimal("0.050"), is_primary_meter_region=False),
        ],
        NOW,
    )
    assert prices == {
        price_key("WestEurope", "standard_d2s_v5", MeterKind(OsType.LINUX, Priority.REGULAR)): HourlyPrice(
            Decimal("0.096"), "USD", "D2s v5"
        )
    }


def test_effective_dates_are_compared_only_within_one_product_and_meter():
    """A newer row of another meter does not replace a meter's price: the lowest price of the meters in
    force wins, whatever their dates (a VM product's own newer row still replaces its older one)."""
    linux = MeterKind(OsType.LINUX, Priority.REGULAR)
    prices = choose_prices(
        [
            item(retail_price=Decimal("0.080"), effective_start=datetime(2021, 11, 1, tzinfo=UTC)),
            item(retail_price=Decimal("0.077842"), effective_start=datetime(2022, 11, 1, tzinfo=UTC)),
            item(
                retail_price=Decimal("0.149457"),
                meter_name="D2s v5 Legacy",
                effective_start=datetime(2025, 10, 1, tzinfo=UTC),
            ),
        ],
        NOW,
    )
    assert prices[price_key("westeurope", "Standard_D2s_v5", linux)] == HourlyPrice(
        Decimal("0.077842"), "USD", "D2s v5"
    )


@pytest.mark.parametrize(
    "price", ["Infinity", "-Infinity", "NaN", "sNaN", "1E+30", "10000.01", "-0.01"]
)  # fmt: skip
def test_an_hourly_price_that_cannot_be_true_prices_nothing(price):
    assert meter_kind(item(retail_price=Decimal(price))) is None
    assert choose_prices([item(retail_price=Decimal(price))], NOW) == {}


@pytest.mark.parametrize("price", ["0", "0.096", str(MAX_HOURLY_PRICE)])
def test_hourly_prices_from_0_to_the_limit_are_believable(price):
    assert is_believable_hourly_price(Decimal(price), "USD")
    assert meter_kind(item(retail_price=Decimal(price))) == MeterKind(OsType.LINUX, Priority.REGULAR)


# The dearest sizes cost a few hundred dollars an hour: about 600,000 KRW or 6,500,000 IDR.
@pytest.mark.parametrize(("price", "currency"), [("600000", "KRW"), ("6500000", "IDR"), ("60000", "JPY")])
def test_a_true_price_of_a_large_size_in_a_currency_worth_far_less_than_a_dollar_is_believable(
    price, currency
):
    assert is_believable_hourly_price(Decimal(price), currency)
    assert meter_kind(item(retail_price=Decimal(price), currency=currency)) is not None
    assert not is_believable_hourly_price(Decimal(price), "USD")
    assert not is_believable_hourly_price(Decimal("1E+30"), currency)


@pytest.mark.parametrize(
    ("os_type", "license_type", "priority", "expected"),
    [
        (OsType.LINUX, None, Priority.REGULAR, MeterKind(OsType.LINUX, Priority.REGULAR)),
        (OsType.WINDOWS, None, Priority.SPOT, MeterKind(OsType.WINDOWS, Priority.SPOT)),
        (OsType.WINDOWS, "Windows_Server", Priority.REGULAR, MeterKind(OsType.LINUX, Priority.REGULAR)),
        (OsType.LINUX, "RHEL_BYOS", Priority.LOW, MeterKind(OsType.LINUX, Priority.LOW)),
        (None, None, Priority.REGULAR, None),
    ],
)
def test_the_meter_of_a_vm_follows_its_os_license_and_priority(os_type, license_type, priority, expected):
    spec = VmSpec("Standard_D2s_v5", "westeurope", os_type, license_type, priority)
    assert kind_for(spec) == expected


@pytest.mark.parametrize(
    ("seconds", "price", "exact", "cents"),
    [
        (5 * 3600, "0.096", "0.48", "0.48"),
        (1800, "0.192", "0.096", "0.10"),
        (1, "3.6", "0.001", "0.00"),
        (0, "0.5", "0", "0.00"),
        (3600.5, "0.36", "0.36005", "0.36"),
        (7 * 3600 + 0.25, "1.0", "7.000069444444444444444444444", "7.00"),
    ],
)
def test_cost_is_billed_hours_times_the_hourly_price(seconds, price, exact, cents):
    amount = cost_of(seconds, HourlyPrice(Decimal(price), "USD", "m"))
    assert amount == Decimal(exact)
    assert round_money(amount) == Decimal(cents)


def test_tags_are_bounded_in_count_and_size():
    tags = {f"k{index:03d}": "v" * 300 for index in range(MAX_TAGS + 5)}
    tags["owner"] = "ada"
    kept, dropped = bound_tags({**tags, 7: "not a string name", "cost": 12})
    assert len(kept) == MAX_TAGS
    assert all(len(value) <= 256 for value in kept.values())
    assert dropped == 5 + 1 + 2
    assert bound_tags(None) == ({}, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, GroupBy(GroupKind.SUBSCRIPTION)),
        ("subscription", GroupBy(GroupKind.SUBSCRIPTION)),
        ("resourceGroup", GroupBy(GroupKind.RESOURCE_GROUP)),
        ("tag:cost-center", GroupBy(GroupKind.TAG, "cost-center")),
    ],
)
def test_group_by_parses_the_three_kinds(text, expected):
    assert parse_group_by(text) == expected


@pytest.mark.parametrize("text", ["", "tag:", "owner", "resourcegroup", "tag:\x00"])
def test_group_by_refuses_anything_else(text):
    with pytest.raises(InvalidInput) as raised:
        parse_group_by(text)
    assert raised.value.field == "groupBy"


def charge(group: str, tags: dict[str, str], billed: float, amount: str | None, sub: str = "s1") -> VmCharge:
    return VmCharge(sub, group, tags, billed, 60.0, Decimal(amount) if amount is not None else None)


def test_chargeback_by_tag_sums_per_owner_and_keeps_untagged_and_unpriced_apart():
    charges = [
        charge("rg-a", {"Owner": "shop"}, 3600, "0.10"),
        charge("rg-b", {"owner": "SHOP"}, 7200, "0.20"),  # tag names and values compare case-insensitively
        charge("rg-b", {"owner": "data"}, 3600, None),  # no price: counted apart, never as 0
        charge("rg-c", {}, 1800, "0.05"),
    ]
    groups = chargeback(GroupBy(GroupKind.TAG, "owner"), charges)
    assert [(g.key, g.vm_count, g.billed_seconds, g.amount, g.unpriced_vm_count) for g in groups] == [
        ("data", 1, 3600, None, 1),
        ("shop", 2, 10800, Decimal("0.30"), 0),
        (None, 1, 1800, Decimal("0.05"), 0),
    ]
    assert groups[0].unpriced_billed_seconds == 3600
    assert groups[1].unknown_seconds == 120


@pytest.mark.parametrize(
    ("kind", "keys"),
    [(GroupKind.SUBSCRIPTION, ["s1", "s2"]), (GroupKind.RESOURCE_GROUP, ["RG-a", "rg-b"])],
)
def test_chargeback_by_subscription_and_resource_group(kind, keys):
    charges = [
        charge("RG-a", {}, 60, "1", sub="s2"),
        charge("rg-A", {}, 60, "1", sub="s1"),
        charge("rg-b", {}, 60, "1", sub="s1"),
    ]
    assert [group.key for group in chargeback(GroupBy(kind), charges)] == keys
