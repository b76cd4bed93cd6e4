"""The findings topic: CloudEvents 1.0 sent to an Event Grid custom topic with ``azure-eventgrid``.

``EventGridPublisherClient`` (an azure-core pipeline) posts a list of ``azure.core.messaging.CloudEvent``
as one request, ``Content-Type: application/cloudevents-batch+json; charset=utf-8``, to the topic's
endpoint (``https://<topic>.<region>-1.eventgrid.azure.net/api/events``, ``api-version=2018-01-01``),
with the topic's key in the ``aeg-sas-key`` header (``AzureKeyCredential``: local runs and tests) or a
token for ``https://eventgrid.azure.net/.default`` (the app's managed identity, role EventGrid Data
Sender). Source of the shape: Learn, "Publish events to Azure Event Grid custom topics using access
keys" (tests/data/published/findings_topic).

A topic that fails or hangs costs a bounded time: each request waits at most ``read_timeout`` seconds
for an answer and is retried at most ``retry_total`` times; then ``UpstreamUnavailable``, and the caller
leaves the events for the next run. Events go in batches of at most ``MAX_BATCH_BYTES`` of JSON, well
under the topic's 1 MB a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient

from shared.domain.pushed_events import EVENT_SOURCE, PushedEvent
from shared.errors import ConfigurationError, UpstreamUnavailable
from shared.settings import check_endpoint

SERVICE = "Event Grid topic"
MAX_BATCH_BYTES = 512 * 1024
_EVENT_OVERHEAD = 400  # the envelope's attributes around ``data``, generously
T = TypeVar("T")
# It also hands each call's options to every event's model, which warns once per event and option.
_SERIALIZER_LOG = logging.getLogger("azure.eventgrid._legacy._generated._serialization")
_CALL_OPTIONS = (
    "retry_total",
    "retry_backoff_factor",
    "retry_backoff_max",
    "connection_timeout",
    "read_timeout",
)


def _drop_call_options_warning(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (message.startswith(_CALL_OPTIONS) and "is not a known attribute" in message)


class FindingsTopic:
    """Sends ``PushedEvent`` batches to one topic; the SDK client is built on the first send."""

    def __init__(
        self,
        endpoint: str,
        *,
        key: str | None,
        credential: Callable[[], TokenCredential] | None,
        read_timeout: float = 10.0,
        retry_total: int = 2,
    ) -> None:
        if check_endpoint(endpoint, "FINDINGS_TOPIC_ENDPOINT") and key is None:
            # Local emulation: no token goes over plain http, so the topic's key is the only way.
            raise ConfigurationError("FINDINGS_TOPIC_KEY must be set for a loopback FINDINGS_TOPIC_ENDPOINT")
        if key is None and credential is None:
            raise ValueError("the findings topic needs a key or a credential")
        self.endpoint = endpoint
        self._key, self._credential = key, credential
        self._read_timeout, self._retry_total = read_timeout, retry_total
        self._client: EventGridPublisherClient | None = None

    def send(self, batch: Sequence[PushedEvent]) -> None:
        """Send ``batch`` (one of ``batches``) in one request; ``UpstreamUnavailable`` when the topic refuses
        it or does not answer in time, retries included."""
        client = self._publisher()
        cloud_events = [_cloud_event(event) for event in batch]
        try:
            # The basic-topic client drops options given to its constructor: they go with each call.
            client.send(
                cloud_events,
                retry_total=self._retry_total,
                retry_backoff_factor=0.5,
                retry_backoff_max=5,
                connection_timeout=self._read_timeout,
                read_timeout=self._read_timeout,
            )
        except HttpResponseError as err:
            code = getattr(err, "error", None)
            raise UpstreamUnavailable(
                SERVICE, err.status_code, getattr(code, "code", None), f"the topic answered {err.status_code}"
            ) from err
        except AzureError as err:
            message = f"the topic did not answer: {type(err).__name__}"
            raise UpstreamUnavailable(SERVICE, None, None, message) from err

    def _publisher(self) -> EventGridPublisherClient:
        if self._client is None:
            credential: AzureKeyCredential | TokenCredential
            if self._key is not None:
                credential = AzureKeyCredential(self._key)
            else:
                assert self._credential is not None
                credential = self._credential()
            _SERIALIZER_LOG.addFilter(_drop_call_options_warning)
            self._client = EventGridPublisherClient(self.endpoint, credential)
        return self._client


def _cloud_event(event: PushedEvent) -> CloudEvent[Any]:
    return CloudEvent(
        source=EVENT_SOURCE,
        type=event.type,
        subject=event.subject,
        id=event.id,
        time=event.time,
        data=dict(event.data),
        datacontenttype="application/json",
    )


def batches(items: Sequence[T], event_of: Callable[[T], PushedEvent]) -> Iterator[list[T]]:
    """``items`` in order, cut so that each batch's events stay under ``MAX_BATCH_BYTES`` of JSON."""
    batch: list[T] = []
    size = 0
    for item in items:
        event_size = len(json.dumps(event_of(item).data, separators=(",", ":"))) + _EVENT_OVERHEAD
        if batch and size + event_size > MAX_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += event_size
    if batch:
        yield batch
