"""The queue that takes work out of the Event Grid invocation: an Azure Storage queue in the ledger's account.

Event Grid waits 30 s for an answer; listing and recording a whole scale set can take minutes. So the
event function only sends a small message here, and a queue-triggered function does the work with the
host's retries. Same account as the ledger: its connection string (Azurite), or the queue service URI
with the app's identity. Messages are Base64 text, what the Functions queue trigger decodes by default
(host.json ``extensions.queues.messageEncoding``). Any failure raises ``StorageUnavailable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError

from shared.errors import ConfigurationError
from shared.settings import STORAGE_QUEUE_SERVICE_URI, Settings
from shared.store._errors import storage_errors

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient


def queue_client_options() -> dict[str, Any]:
    """Per-attempt timeouts and a retry that fit three attempts inside Event Grid's 30 s: at most about
    5 s each (connecting, or waiting for an answer) and 2 s (+-1) before each retry, about 20 s in all.

    The storage SDK's own default waits 15 s before its first retry, then 24 s: one slow send would
    outlast the invocation it is meant to shorten.
    """
    # Imported here, not at the top: only the event and queue functions need the queue SDK, and the HTTP
    # functions' cold start should not pay the ~60 ms its import costs.
    from azure.storage.queue import ExponentialRetry, TextBase64EncodePolicy

    return {
        "connection_timeout": 5,
        "read_timeout": 5,
        "retry_policy": ExponentialRetry(
            initial_backoff=1, increment_base=1, retry_total=2, random_jitter_range=1
        ),
        "message_encode_policy": TextBase64EncodePolicy(),
    }


class WorkQueue:
    """Sends text messages to one queue."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.queue_name

    def send(self, text: str) -> None:
        """One round trip; ``StorageUnavailable`` when the message was not accepted."""
        with storage_errors():
            self.client.send_message(text)

    def create_if_missing(self) -> WorkQueue:
        with storage_errors():
            try:
                self.client.create_queue()
            except ResourceExistsError:
                pass
        return self


def work_queue_client(
    settings: Settings, credential: TokenCredential | None = None, **options: Any
) -> QueueClient:
    """A client for the configured queue: the connection string, or the queue URI and ``credential``."""
    from azure.storage.queue import QueueClient

    merged = {**queue_client_options(), **options}
    storage = settings.storage
    if storage.connection_string:
        return QueueClient.from_connection_string(storage.connection_string, settings.queue_name, **merged)
    if storage.queue_service_uri is None:
        raise ConfigurationError(
            f"{STORAGE_QUEUE_SERVICE_URI} is not set: scale set events are handed to a queue in the ledger's "
            "storage account, at this URI (https://<account>.queue.core.windows.net)"
        )
    if credential is None:
        raise ValueError("an identity-based queue needs a credential")
    return QueueClient(storage.queue_service_uri, settings.queue_name, credential=credential, **merged)


def open_work_queue(
    settings: Settings, credential: TokenCredential | None = None, **options: Any
) -> WorkQueue:
    """The configured queue, created if it does not exist yet (Bicep creates it in Azure)."""
    return WorkQueue(work_queue_client(settings, credential, **options)).create_if_missing()
