"""Clients built once per process, lazily, from the settings.

Nothing here runs at import: the first event or request pays for it, so cold starts of the function app
only import what they use. Timeouts are set so that storage that accepts connections but never answers
fails within the HTTP functions' 30-second budget instead of hanging.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from azure.data.tables import TableClient, TableServiceClient

from shared.ledger import Ledger
from shared.settings import Settings, get_settings

# Per attempt, then the SDK retries; ``timeout`` caps the whole operation including retries.
STORAGE_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 5,
    "read_timeout": 10,
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
    "timeout": 20,
}


def table_service_client(settings: Settings, **options: Any) -> TableServiceClient:
    """A service client for the configured account: connection string (Azurite, dev) or identity."""
    merged = {**STORAGE_CLIENT_OPTIONS, **options}
    storage = settings.storage
    if storage.connection_string:
        return TableServiceClient.from_connection_string(storage.connection_string, **merged)
    from azure.identity import DefaultAzureCredential  # heavy import, needed only in Azure

    credential = DefaultAzureCredential(managed_identity_client_id=storage.client_id)
    return TableServiceClient(endpoint=storage.table_service_uri, credential=credential, **merged)


def open_ledger(settings: Settings, **options: Any) -> Ledger:
    """A ``Ledger`` on the configured table, creating the table if it does not exist yet."""
    service = table_service_client(settings, **options)
    table: TableClient = service.create_table_if_not_exists(settings.table_name)
    return Ledger(table, settings.billing_policy)


_lock = threading.Lock()


@functools.cache
def _process_ledger() -> Ledger:
    return open_ledger(get_settings())


def get_ledger() -> Ledger:
    """The process-wide ledger; built on first use, retried on the next call if building failed."""
    with _lock:
        return _process_ledger()
