"""Settings: read when needed, validated with messages that name the setting."""

from __future__ import annotations

import pytest

from shared import context
from shared.errors import ConfigurationError
from shared.settings import is_loopback_http, read_settings

AZURITE = {"VM_LEDGER_STORAGE": "UseDevelopmentStorage=true"}


def test_defaults_follow_the_current_learn_billing_table():
    values = read_settings(AZURITE)
    assert values.table_name == "vmledger"
    assert values.billing_policy.ordered == ["starting", "running", "stopping", "stopped"]
    assert values.arm_endpoint == "https://management.azure.com"
    assert values.compute_api_version == "2024-07-01"
    assert values.reconcile_subscription_ids == ()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "VM_LEDGER_STORAGE"),
        (
            {**AZURITE, "VM_LEDGER_STORAGE__tableServiceUri": "https://a.table.core.windows.net"},
            "exactly one",
        ),
        ({**AZURITE, "BILLED_POWER_STATES": "running,asleep"}, "BILLED_POWER_STATES"),
        ({**AZURITE, "VM_LEDGER_TABLE": "bad-name"}, "VM_LEDGER_TABLE"),
        ({**AZURITE, "RECONCILE_SUBSCRIPTION_IDS": "not-a-guid"}, "RECONCILE_SUBSCRIPTION_IDS"),
        ({**AZURITE, "ARM_ENDPOINT": "http://arm.example.com"}, "ARM_ENDPOINT"),
        ({"VM_LEDGER_STORAGE__tableServiceUri": "http://a.table.core.windows.net"}, "https"),
    ],
)
def test_invalid_settings_raise_an_error_naming_the_setting(env, named):
    with pytest.raises(ConfigurationError, match=named):
        read_settings(env)


def test_a_managed_identity_storage_uri_with_a_client_id_is_accepted():
    values = read_settings(
        {
            "VM_LEDGER_STORAGE__tableServiceUri": "https://acct.table.core.windows.net",
            "VM_LEDGER_STORAGE__clientId": "c",
        }
    )
    assert values.storage.connection_string is None
    assert values.storage.client_id == "c"


def test_subscription_lists_are_trimmed_lowercased_and_deduplicated():
    sub = "9A6C2A1E-5F0B-4D3E-8C7A-1B2C3D4E5F60"
    values = read_settings({**AZURITE, "RECONCILE_SUBSCRIPTION_IDS": f" {sub}, {sub.lower()} ,"})
    assert values.reconcile_subscription_ids == (sub.lower(),)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://127.0.0.1:8080", True), ("http://localhost", True), ("http://[::1]:9", True),
     ("http://10.0.0.1", False), ("https://127.0.0.1", False), ("http://127.0.0.1.example.com", False)],
)  # fmt: skip
def test_only_plain_http_on_loopback_counts_as_local_emulation(url, loopback):
    assert is_loopback_http(url) is loopback


def test_settings_are_read_on_first_use_not_at_import(monkeypatch):
    context.reset()
    monkeypatch.delenv("VM_LEDGER_STORAGE", raising=False)
    monkeypatch.delenv("VM_LEDGER_STORAGE__tableServiceUri", raising=False)
    with pytest.raises(ConfigurationError):
        context.root()
    monkeypatch.delenv("PRICES_CURRENCY", raising=False)
    monkeypatch.setenv("VM_LEDGER_STORAGE", "UseDevelopmentStorage=true")
    assert context.root().currency == "USD"  # a failed reading is not kept: the next use reads again
    context.reset()


def test_cost_settings_default_to_six_hours_the_public_price_api_and_usd():
    values = read_settings(AZURITE)
    assert values.inventory_refresh.total_seconds() == 6 * 3600
    assert values.retail_prices_endpoint == "https://prices.azure.com"
    assert values.prices_currency == "USD"


@pytest.mark.parametrize(("text", "hours"), [("PT6H", 6), ("pt30m", 0.5), ("PT1H30M", 1.5), ("12", 12)])
def test_inventory_refresh_takes_an_iso_duration_or_hours(text, hours):
    assert (
        read_settings({**AZURITE, "INVENTORY_REFRESH": text}).inventory_refresh.total_seconds()
        == hours * 3600
    )


@pytest.mark.parametrize(
    ("text", "hours"), [(None, 24), ("P1D", 24), ("PT12H", 12), ("P2DT6H", 54), ("0", 0), ("6", 6)]
)
def test_actuals_refresh_is_a_day_by_default_an_iso_duration_or_0_for_off(text, hours):
    env = {**AZURITE, **({"ACTUALS_REFRESH": text} if text is not None else {})}
    assert read_settings(env).actuals_refresh.total_seconds() == hours * 3600


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ACTUALS_REFRESH": "daily"}, "ACTUALS_REFRESH"),
        ({"ACTUALS_REFRESH": "PT1M"}, "ACTUALS_REFRESH"),
        ({"INVENTORY_REFRESH": "0"}, "INVENTORY_REFRESH"),
        ({"INVENTORY_REFRESH": "six hours"}, "INVENTORY_REFRESH"),
        ({"INVENTORY_REFRESH": "PT1M"}, "INVENTORY_REFRESH"),
        ({"RETAIL_PRICES_ENDPOINT": "http://prices.example.com"}, "RETAIL_PRICES_ENDPOINT"),
        ({"PRICES_CURRENCY": "dollars"}, "PRICES_CURRENCY"),
    ],
)
def test_invalid_cost_settings_name_the_setting(env, named):
    with pytest.raises(ConfigurationError, match=named):
        read_settings({**AZURITE, **env})


def test_the_prices_endpoint_may_be_loopback_http_for_local_fakes():
    values = read_settings(
        {**AZURITE, "RETAIL_PRICES_ENDPOINT": "http://127.0.0.1:8123/", "PRICES_CURRENCY": "eur"}
    )
    assert values.retail_prices_endpoint == "http://127.0.0.1:8123"
    assert values.prices_currency == "EUR"


def test_the_composition_root_reads_the_settings_once_and_builds_each_client_once(monkeypatch):
    monkeypatch.delenv("VM_LEDGER_STORAGE__tableServiceUri", raising=False)
    monkeypatch.setenv("VM_LEDGER_STORAGE", "UseDevelopmentStorage=true")
    monkeypatch.setenv("PRICES_CURRENCY", "USD")
    context.reset()
    app = context.root()
    monkeypatch.setenv("PRICES_CURRENCY", "EUR")  # read only by a fresh instance
    assert context.root() is app and app.currency == "USD" and app.prices().currency == "USD"
    assert context.get_arm_client() is app.arm() and context.get_prices_client() is app.prices()
    context.reset()
    assert context.root() is not app and context.get_prices_client().currency == "EUR"
    context.reset()
