"""The queue message that hands a scale-set-level event to the queue function, and reading it back.

It carries what the instance listing needs and nothing else: the scale set, the event's id, type and
time, the operation and whether it asked to hibernate. Never the event's claims, caller, request or
correlation data. Every field is bounded by the checks the event passed (ids and operation names at most
256 characters, resource ids by their pattern) and non-ASCII is escaped, so a message is a few KiB at
most, far below the queue's 64 KiB after Base64: ``MAX_MESSAGE_BYTES`` is checked anyway.

Reading it back applies the event's own checks again (``parse_resource_event``): whoever can write to the
queue can write anything to it, and a message that does not parse is skipped like a malformed event.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from shared.domain.times import format_time, parse_time
from shared.sources.events import InboundEvent, ScaleSetEvent, Skipped, parse_resource_event

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024  # before Base64 (x 4/3); the queue accepts 64 KiB


def scale_set_message(event: ScaleSetEvent) -> str:
    """``event`` as the JSON text of one queue message."""
    text = json.dumps(
        {
            "version": MESSAGE_VERSION,
            "eventId": event.event_id,
            "eventType": event.event_type,
            "eventTime": format_time(event.time),
            "scaleSetId": event.scale_set.resource_id,
            "operationName": event.operation_name,
            "hibernate": event.hibernate,
        },
        separators=(",", ":"),
    )
    if len(text) > MAX_MESSAGE_BYTES:  # ASCII only (json escapes the rest): characters are bytes
        raise ValueError(f"a scale set message of {len(text)} bytes is over {MAX_MESSAGE_BYTES}")
    return text


def read_scale_set_message(body: str | bytes, *, now: datetime | None = None) -> ScaleSetEvent | Skipped:
    """The event a message carries, checked as the event was; ``Skipped`` (malformed) otherwise."""
    if len(body) > MAX_MESSAGE_BYTES:
        return Skipped("queue message is too long", malformed=True)
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Skipped("queue message is not JSON", malformed=True)
    if not isinstance(fields, dict) or fields.get("version") != MESSAGE_VERSION:
        return Skipped("queue message is not a scale set message of this version", malformed=True)
    hibernate = fields.get("hibernate")
    scale_set_id = fields.get("scaleSetId")
    if not isinstance(hibernate, bool) or not isinstance(scale_set_id, str):
        return Skipped("queue message has no scale set id or hibernate flag", malformed=True)
    parsed = parse_resource_event(
        InboundEvent(
            id=fields.get("eventId"),
            event_type=fields.get("eventType"),
            subject=scale_set_id,
            time=_time(fields.get("eventTime")),
            data={"operationName": fields.get("operationName"), "resourceUri": scale_set_id},
            schema="queue",
        ),
        now=now,
    )
    if isinstance(parsed, Skipped):
        return Skipped(f"queue message: {parsed.reason}", malformed=True)
    if not isinstance(parsed, ScaleSetEvent):
        return Skipped("queue message is not about a scale set", malformed=True)
    # The hibernate flag came from the event's request URL, which the message does not carry.
    return dataclasses.replace(parsed, hibernate=hibernate)


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None
