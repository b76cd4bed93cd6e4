"""The Retail Prices client and the VM models parser against published shapes and a loopback fake."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.inventory import OsType, Priority
from shared.domain.pricing import meter_kind
from shared.sources import ListingError, RetailPricesClient, parse_model_page
from shared.sources.retail_prices import MAX_PRICE_PAGES, price_item, prices_page
from tests.fake_prices import PUBLISHED, FakePrices, meter

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
    item = price_item(json.loads((PUBLISHED / name).read_text()))
    assert item is not None and item.arm_sku_name.startswith("Standard_")
    found = meter_kind(item)
    assert (None if found is None else (found.os_type, found.priority)) == kind


def test_the_eur_sample_keeps_its_price_exactly():
    item = price_item(json.loads((PUBLISHED / "learn_sample_item_eur_consumption.json").read_text()))
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
    import tests.fake_prices as fake_module

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
