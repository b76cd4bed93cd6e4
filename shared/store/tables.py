"""Opening the ledger table: the client options, and a connection string (Azurite, dev) or an identity.

Timeouts are set so that storage that accepts connections but never answers fails within the HTTP
functions' 30-second budget instead of hanging.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableClient, TableServiceClient

from shared.settings import Settings
from shared.store._errors import storage_errors
from shared.store.ledger import Ledger

# Per attempt, then the SDK retries; ``timeout`` caps the whole operation including retries.
STORAGE_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 5,
    "read_timeout": 10,
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
    "timeout": 20,
}


def table_service_client(
    settings: Settings, credential: TokenCredential | None = None, **options: Any
) -> TableServiceClient:
    """A service client for the configured account: its connection string, or ``credential``."""
    merged = {**STORAGE_CLIENT_OPTIONS, **options}
    storage = settings.storage
    if storage.connection_string:
        return TableServiceClient.from_connection_string(storage.connection_string, **merged)
    if credential is None or storage.table_service_uri is None:
        raise ValueError("an identity-based table endpoint needs a credential")
    return TableServiceClient(endpoint=storage.table_service_uri, credential=credential, **merged)


def open_ledger(settings: Settings, credential: TokenCredential | None = None, **options: Any) -> Ledger:
    """A ``Ledger`` on the configured table, creating the table if it does not exist yet."""
    service = table_service_client(settings, credential, **options)
    with storage_errors():
        table: TableClient = service.create_table_if_not_exists(settings.table_name)
    return Ledger(table, settings.billing_policy, retention_days=settings.transition_retention_days)
