"""The process's clients, built once, lazily, from the settings, sharing one credential.

Nothing here runs at import: the first event or request pays for it, so cold starts of the function app
only import what they use. In Azure one ``DefaultAzureCredential`` (the app's managed identity) serves
the ledger table, the work queue and Resource Manager alike; with Azurite and a loopback fake of ARM none
is built.
"""

from __future__ import annotations

import functools
import threading

from azure.core.credentials import TokenCredential

from shared.settings import get_settings
from shared.sources import ArmClient, RetailPricesClient
from shared.store import Ledger, WorkQueue, open_ledger, open_work_queue

_lock = threading.Lock()


@functools.cache
def _credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential  # heavy import, needed only in Azure

    return DefaultAzureCredential(managed_identity_client_id=get_settings().storage.client_id)


@functools.cache
def _process_ledger() -> Ledger:
    settings = get_settings()
    return open_ledger(settings, None if settings.storage.connection_string else _credential())


def get_ledger() -> Ledger:
    """The process-wide ledger; built on first use, retried on the next call if building failed."""
    with _lock:
        return _process_ledger()


@functools.cache
def _process_work_queue() -> WorkQueue:
    settings = get_settings()
    return open_work_queue(settings, None if settings.storage.connection_string else _credential())


def get_work_queue() -> WorkQueue:
    """The process-wide work queue (scale set events), created if missing on first use; like the ledger."""
    with _lock:
        return _process_work_queue()


@functools.cache
def get_arm_client() -> ArmClient:
    """The process-wide client for the configured ARM endpoint, built on first use."""
    settings = get_settings()
    return ArmClient(settings.arm_endpoint, settings.compute_api_version, _credential)


@functools.cache
def get_prices_client() -> RetailPricesClient:
    """The process-wide Retail Prices client (anonymous: it never uses the credential)."""
    settings = get_settings()
    return RetailPricesClient(settings.retail_prices_endpoint, settings.prices_currency)


def reset() -> None:
    """Forget the settings and every client, as a freshly started instance would (tests, benchmarks)."""
    with _lock:
        get_settings.cache_clear()
        _credential.cache_clear()
        _process_ledger.cache_clear()
        _process_work_queue.cache_clear()
        get_arm_client.cache_clear()
        get_prices_client.cache_clear()
