"""The Retail Prices client and the VM models parser against published shapes and a loopback fake."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from devtools.fake_prices import PUBLISHED_PRICES, FakePrices, d2as_v5_uksouth_gbp, meter
from shared.domain.inventory import OsType, Priority
from shared.domain.pricing import choose_prices, meter_kind
from shared.sources import ListingError, RetailPricesClient, parse_model_page
from shared.sources.retail_prices import MAX_PRICE_PAGES, price_item, prices_page

MODELS = Path(__file__).resolve().parent / "data" / "published" / "vm_models"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("learn_sample_item_devtest_spot_windows.json", None),  # DevTest: not pay-as-you-go
        ("learn_sample_item_reservation.json", None),  # a term price although its unit says "1 Hour"
        ("learn_sample_item_eur_consumption.json", (OsType.WINDOWS, Priority.SPOT)),
    ],
)
def test_published_items_parse_and_only_consumption_prices_time(name, kind):
    item = price_item(json.loads((PUBLISHED_PRICES / name).read_text()))
    assert item is not None and item.arm_sku_name.startswith("Standard_")
    found = meter_kind(item)
    assert (None if found is None else (found.os_type, found.priority)) == kind


def test_the_eur_sample_keeps_its_price_exactly():
    item = price_item(json.loads((PUBLISHED_PRICES / "learn_sample_item_eur_consumption.json").read_text()))
    assert (item.retail_price, item.currency) == (Decimal("0.6176"), "EUR")


@pytest.mark.parametrize("body", [[], {"items": []}, {"Items": {}}, {"Items": [], "NextPageLink": 3}])
def test_a_body_that_is_not_a_prices_page_is_refused(body):
    with pytest.raises(ValueError):
        prices_page(body)


def test_pages_are_followed_and_no_credential_is_sent():
    items = [meter("westeurope", f"Standard_D{n}s_v5", n / 10) for n in range(2, 9)]
    with FakePrices(items, page_size=2) as fake:
        client = RetailPricesClient(fake.url, "usd", retry_total=0)
        got = client.fetch([("WestEurope", f"Standard_D{n}s_v5") for n in range(2, 9)])
    assert sorted(item.arm_sku_name for item in got) == sorted(item["armSkuName"] for item in items)
    assert len(fake.requests) == 4
    assert all("authorization" not in request.headers for request in fake.requests)
    assert fake.requests[0].query["currencyCode"] == "'USD'"
    assert "armRegionName eq 'westeurope'" in fake.requests[0].query["$filter"]


def test_throttling_is_retried_and_a_failing_listing_raises():
    with FakePrices([meter("westeurope", "Standard_D2s_v5", 0.1)]) as fake:
        fake.throttle(2)
        assert len(RetailPricesClient(fake.url, "USD", retry_total=3, retry_backoff_factor=0).fetch(
            [("westeurope", "Standard_D2s_v5")])) == 1  # fmt: skip
        fake.fail_with(500)
        with pytest.raises(ListingError):
            RetailPricesClient(fake.url, "USD", retry_total=0).fetch([("westeurope", "Standard_D2s_v5")])


def test_a_next_link_to_another_origin_is_not_followed(monkeypatch):
    import devtools.fake_prices.server as fake_module

    with FakePrices(
        [meter("westeurope", f"Standard_D{n}s_v5", 0.1) for n in range(2, 6)], page_size=1
    ) as fake:
        original = fake_module._PricesHandler._send

        def elsewhere(self, status, body, headers=None):
            if isinstance(body, dict) and body.get("NextPageLink"):
                body["NextPageLink"] = body["NextPageLink"].replace("127.0.0.1", "prices.example.com")
            original(self, status, body, headers)

        monkeypatch.setattr(fake_module._PricesHandler, "_send", elsewhere)
        with pytest.raises(ListingError, match="outside the endpoint"):
            RetailPricesClient(fake.url, "USD", retry_total=0).fetch(
                [("westeurope", f"Standard_D{n}s_v5") for n in range(2, 6)]
            )
        assert len(fake.requests) == 1


def test_a_linux_vm_is_priced_by_the_vm_product_not_by_the_cloud_services_rows_of_its_size():
    """The captured listing of one size: the "Cloud Services" rows share the size and meter names, carry
    the Windows prices and a later date; Linux must come out at the Linux rates (not +92 %, not 3.8x)."""
    with FakePrices(d2as_v5_uksouth_gbp(), page_size=5) as fake:
        items = RetailPricesClient(fake.url, "GBP", retry_total=0).fetch([("uksouth", "Standard_D2as_v5")])
    assert len(items) == 13
    prices = choose_prices(items, datetime(2026, 11, 23, tzinfo=UTC))
    chosen = {
        (kind.os_type.value, kind.priority.value): (str(price.amount), price.meter)
        for (region, size, kind), price in prices.items()
        if (region, size) == ("uksouth", "standard_d2as_v5")
    }
    assert chosen == {
        ("Linux", "Regular"): ("0.077842", "D2as v5"),
        ("Linux", "Low"): ("0.015568", "D2as v5 Low Priority"),
        ("Linux", "Spot"): ("0.010119", "D2as v5 Spot"),
        ("Windows", "Regular"): ("0.149457", "D2as v5"),
        ("Windows", "Low"): ("0.059783", "D2as v5 Low Priority"),
        ("Windows", "Spot"): ("0.019429", "D2as v5 Spot"),
    }
    assert all(price.currency == "GBP" for price in prices.values())


BAD_PRICES = [float("inf"), float("-inf"), float("nan"), 1e30, 10000.01, -0.01, "0.096", True, None, [1]]


@pytest.mark.parametrize("bad", BAD_PRICES, ids=repr)
def test_an_item_whose_price_cannot_be_true_is_ignored_and_counted(bad, caplog):
    """Sent on the wire as JSON (``Infinity`` and ``NaN`` literals included, which Python's json reads)."""
    broken = meter("westeurope", "Standard_D2s_v5", 1, windows=True)
    broken["retailPrice"] = broken["unitPrice"] = bad
    with FakePrices([meter("westeurope", "Standard_D2s_v5", "0.096"), broken]) as fake:
        with caplog.at_level(logging.WARNING, logger="shared.sources.retail_prices"):
            items = RetailPricesClient(fake.url, "USD", retry_total=0).fetch(
                [("westeurope", "Standard_D2s_v5")]
            )
    assert [(item.retail_price, item.product_name) for item in items] == [
        (Decimal("0.096"), "Virtual Machines D2s Series")
    ]
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "1 item(s)" in warning.getMessage()


def test_an_item_in_another_currency_than_asked_is_ignored():
    euro = meter("westeurope", "Standard_D2s_v5", "0.5", windows=True, currency="EUR")
    with FakePrices([meter("westeurope", "Standard_D2s_v5", "0.096"), euro], filter_currency=False) as fake:
        items = RetailPricesClient(fake.url, "USD", retry_total=0).fetch([("westeurope", "Standard_D2s_v5")])
    assert [(item.retail_price, item.currency) for item in items] == [(Decimal("0.096"), "USD")]


def test_ignored_items_are_counted_in_one_warning_per_fetch(caplog):
    sizes = [f"Standard_D{n}s_v5" for n in range(2, 14)]  # two listings per region
    catalogue = []
    for region in ("westeurope", "northeurope"):
        for size in sizes:
            catalogue.append(meter(region, size, "0.1"))
            catalogue.append({**meter(region, size, "0.2", windows=True), "retailPrice": float("nan")})
    with FakePrices(catalogue, page_size=7) as fake:
        with caplog.at_level(logging.WARNING, logger="shared.sources.retail_prices"):
            items = RetailPricesClient(fake.url, "USD", retry_total=0).fetch(
                [(region, size) for region in ("westeurope", "northeurope") for size in sizes]
            )
    assert len(items) == 2 * len(sizes) and len({request.query["$filter"] for request in fake.requests}) == 4
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert f"{2 * len(sizes)} item(s)" in warning.getMessage()


def test_a_listing_whose_items_are_all_invalid_fails_as_a_whole():
    """Nothing of it is used, so the refresh keeps the prices it had (see test_costs)."""
    catalogue = [{**meter("westeurope", "Standard_D2s_v5", "0.1", windows=w), "retailPrice": float("inf")}
                 for w in (False, True)]  # fmt: skip
    with FakePrices(catalogue) as fake, pytest.raises(ListingError, match="no usable item"):
        RetailPricesClient(fake.url, "USD", retry_total=0).fetch([("westeurope", "Standard_D2s_v5")])


def test_names_that_are_not_arm_names_never_reach_a_filter():
    with FakePrices([]) as fake:
        RetailPricesClient(fake.url, "USD", retry_total=0).fetch([("westeurope", "x' or 1 eq 1 or 'a")])
    assert fake.requests == []


def test_the_published_models_listing_gives_size_os_priority_and_tags():
    example = json.loads((MODELS / "VirtualMachine_ListAll_MaximumSet_Gen.json").read_text())
    models, _ = parse_model_page(example["responses"]["200"]["body"])
    assert models
    spec = models[0].spec
    assert (spec.vm_size, spec.os_type, spec.priority) == ("Standard_A0", OsType.WINDOWS, Priority.REGULAR)
    assert spec.location is not None


def test_a_next_page_link_that_changes_on_every_page_stops_at_the_page_cap():
    with FakePrices([meter("westeurope", "Standard_D2s_v5", 0.1)]) as fake:
        fake.page_endlessly(stop_after=MAX_PRICE_PAGES + 100)
        client = RetailPricesClient(fake.url, "USD", retry_total=0)
        with pytest.raises(ListingError) as failure:
            client.fetch([("westeurope", "Standard_D2s_v5")])
        assert len(fake.requests) == MAX_PRICE_PAGES
    assert f"more pages after {MAX_PRICE_PAGES:,}" in failure.value.message


def test_a_large_size_priced_in_won_is_kept_while_the_same_number_in_dollars_is_refused():
    """The bound follows the currency's order of magnitude: a few hundred dollars an hour is about
    600,000 KRW."""
    won = meter("koreacentral", "Standard_M416ms_v2", 600_000, currency="KRW")
    with FakePrices([won]) as fake:
        items = RetailPricesClient(fake.url, "KRW", retry_total=0).fetch(
            [("koreacentral", "Standard_M416ms_v2")]
        )
    assert [item.retail_price for item in items] == [Decimal(600_000)]
    dollars = meter("koreacentral", "Standard_M416ms_v2", 600_000)
    with FakePrices([meter("koreacentral", "Standard_M416ms_v2", "0.5", windows=True), dollars]) as fake:
        items = RetailPricesClient(fake.url, "USD", retry_total=0).fetch(
            [("koreacentral", "Standard_M416ms_v2")]
        )
    assert [item.retail_price for item in items] == [Decimal("0.5")]
