"""What the Azure Functions Python worker hands a triggered function, built as the worker builds it, so
that tests, benchmarks, ``make demo`` and ``make serve`` call the app's functions the way the host does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.queue import QueueMessageInConverter
from azure.storage.queue import QueueMessage


def event_grid_argument(event: Mapping[str, Any] | str) -> func.EventGridEvent | func.CloudEvent:
    """The argument an Event Grid trigger receives for one delivered event (a JSON object, or its text
    exactly as delivered): the worker's own converter decodes it, in either schema."""
    text = event if isinstance(event, str) else json.dumps(event)
    return EventGridEventInConverter.decode(data=meta.Datum(type="json", value=text), trigger_metadata=None)


def queue_argument(message: QueueMessage) -> func.QueueMessage:
    """The ``func.QueueMessage`` the Python worker builds for this message (body already decoded)."""
    metadata = {
        "Id": meta.Datum(message.id, "string"),
        "DequeueCount": meta.Datum(int(message.dequeue_count or 1), "int"),
        "InsertionTime": meta.Datum(_iso(message.inserted_on), "string"),
        "ExpirationTime": meta.Datum(_iso(message.expires_on), "string"),
        "NextVisibleTime": meta.Datum(_iso(message.next_visible_on), "string"),
        "PopReceipt": meta.Datum(message.pop_receipt, "string"),
    }
    return QueueMessageInConverter.decode(
        data=meta.Datum(message.content, "string"), trigger_metadata=metadata
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
