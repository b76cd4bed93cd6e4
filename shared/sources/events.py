"""Turning an Azure Resource Manager event into a VM change, or a reason to skip it.

Accepts the Event Grid schema and the CloudEvents 1.0 schema as the Functions binding hands them over
(read by attribute, so this module does not import ``azure.functions``). Event types come from
``azure.eventgrid.SystemEventNames``. The outcome comes from the event type; ``data.status`` is only
informational (published failure examples carry ``"Succeeded"``).

Whatever is stored must fit a Table property, or every delivery of the event fails and Event Grid
retries it for a day: ids are capped, and an ``operationName`` longer than ``MAX_OPERATION_LENGTH`` or
with characters no Azure operation name has is skipped as malformed. Event times outside
``[EARLIEST_EVENT_TIME, now + FUTURE_TOLERANCE]`` are skipped too: a year-1 event would open a VM's
history two thousand years ago, and a future-dated deallocate would make the VM read "deallocated" now.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from azure.eventgrid import SystemEventNames

from shared.domain.ids import VmId, parse_vm_id
from shared.domain.operations import CANCELED, FAILED, SUCCEEDED, change_for, operation_suffix
from shared.domain.times import as_utc, parse_time, utc_now
from shared.domain.vm_state import Change

MAX_EVENT_ID_LENGTH = 256
# ARM operation names are a provider, resource types and a verb, e.g. ``Microsoft.Compute/virtualMachines/
# start/action``: letters, digits, dots, slashes (and - or _). The longest known is under 100 characters.
MAX_OPERATION_LENGTH = 256
_OPERATION_NAME = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+")
# Event Grid, which raises these events, did not exist before 2017; a few minutes ahead of this
# instance's clock is clock skew, more is not a time an operation ended.
EARLIEST_EVENT_TIME = datetime(2017, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(minutes=5)
# A VM id followed by more path: a child resource (an extension, a run command).
_CHILD_OF_VM = re.compile(
    r"(.*?/providers/microsoft\.compute/virtualmachines/[^/]+)/.+", re.IGNORECASE | re.DOTALL
)

_KINDS: dict[SystemEventNames, tuple[str, str]] = {
    SystemEventNames.ResourceWriteSuccessEventName: ("write", SUCCEEDED),
    SystemEventNames.ResourceWriteFailureEventName: ("write", FAILED),
    SystemEventNames.ResourceWriteCancelEventName: ("write", CANCELED),
    SystemEventNames.ResourceDeleteSuccessEventName: ("delete", SUCCEEDED),
    SystemEventNames.ResourceDeleteFailureEventName: ("delete", FAILED),
    SystemEventNames.ResourceDeleteCancelEventName: ("delete", CANCELED),
    SystemEventNames.ResourceActionSuccessEventName: ("action", SUCCEEDED),
    SystemEventNames.ResourceActionFailureEventName: ("action", FAILED),
    SystemEventNames.ResourceActionCancelEventName: ("action", CANCELED),
}
_KINDS_BY_LOWER = {name.value.lower(): kind for name, kind in _KINDS.items()}


@dataclass(frozen=True)
class InboundEvent:
    """The fields of either schema that the ledger reads."""

    id: Any
    event_type: Any
    subject: Any
    time: datetime | None
    data: Any
    schema: str


@dataclass(frozen=True)
class VmEvent:
    """An accepted event: which VM, when, and what it changed."""

    event_id: str
    event_type: str
    vm: VmId
    time: datetime
    operation_name: str
    change: Change


@dataclass(frozen=True)
class Skipped:
    """Why an event was not recorded. ``malformed`` separates broken input from merely out of scope."""

    reason: str
    malformed: bool = False


def inbound_from_binding(event: object) -> InboundEvent:
    """Read a ``func.EventGridEvent`` or a ``func.CloudEvent`` (``type`` instead of ``event_type``)."""
    if hasattr(event, "event_type"):
        return InboundEvent(
            id=getattr(event, "id", None),
            event_type=event.event_type,
            subject=getattr(event, "subject", None),
            time=getattr(event, "event_time", None),
            data=_json_of(event),
            schema="EventGrid",
        )
    return InboundEvent(
        id=getattr(event, "id", None),
        event_type=getattr(event, "type", None),
        subject=getattr(event, "subject", None),
        time=getattr(event, "time", None),
        data=_json_of(event),
        schema="CloudEvents",
    )


def inbound_from_json(body: Any) -> InboundEvent:
    """Read one event as JSON (either schema), e.g. a saved or dead-lettered delivery, for the CLI."""
    body = body if isinstance(body, dict) else {}
    cloud = "specversion" in body
    return InboundEvent(
        id=body.get("id"),
        event_type=body.get("type" if cloud else "eventType"),
        subject=body.get("subject"),
        time=_time_or_none(body.get("time" if cloud else "eventTime")),
        data=body.get("data"),
        schema="CloudEvents" if cloud else "EventGrid",
    )


def parse_vm_event(event: InboundEvent, *, now: datetime | None = None) -> VmEvent | Skipped:
    """Accept VM write/action/delete events; everything else comes back as ``Skipped``.

    ``now`` (default: the clock) bounds how far in the future an event time may be.
    """
    kind = _KINDS_BY_LOWER.get(event.event_type.lower()) if isinstance(event.event_type, str) else None
    if kind is None:
        return Skipped("not a resource write, action or delete event")
    data = _as_object(event.data)
    if data is None:
        return Skipped("event has no data object", malformed=True)
    operation = data.get("operationName")
    if not isinstance(operation, str) or not operation.strip():
        return Skipped("event data has no operationName", malformed=True)
    suffix = operation_suffix(operation)
    if suffix is None:
        return Skipped("operation is not on Microsoft.Compute/virtualMachines")
    if len(operation.strip()) > MAX_OPERATION_LENGTH or not _OPERATION_NAME.fullmatch(operation.strip()):
        return Skipped("operationName is too long or not an operation name", malformed=True)
    target = data.get("resourceUri") or event.subject
    vm = parse_vm_id(target) if isinstance(target, str) else None
    if vm is None:
        return _not_a_vm(target)
    verb, outcome = kind
    if not _verb_matches(verb, suffix):
        return Skipped(f"{verb} event carries a non-{verb} operation", malformed=True)
    return _accepted(event, vm, operation, suffix, outcome, data, now or utc_now())


def _not_a_vm(target: Any) -> Skipped:
    """A child of a valid VM id is out of scope; anything else under the VM provider is a broken VM id."""
    child = _CHILD_OF_VM.fullmatch(target.strip()) if isinstance(target, str) else None
    if child is not None and parse_vm_id(child[1]) is not None:
        return Skipped("resource is a child of a VM, not a VM")
    if isinstance(target, str) and "/providers/microsoft.compute/virtualmachines/" in target.lower():
        return Skipped("resource id names a VM but is not a valid VM id", malformed=True)
    return Skipped("resource id is not a VM id", malformed=True)


def _accepted(
    event: InboundEvent,
    vm: VmId,
    operation: str,
    suffix: str,
    outcome: str,
    data: dict[str, Any],
    now: datetime,
) -> VmEvent | Skipped:
    if not isinstance(event.id, str) or not event.id or len(event.id) > MAX_EVENT_ID_LENGTH:
        return Skipped("event id is missing or too long", malformed=True)
    if not isinstance(event.time, datetime):
        return Skipped("event has no time", malformed=True)
    time = as_utc(event.time)
    if not EARLIEST_EVENT_TIME <= time <= now + FUTURE_TOLERANCE:
        return Skipped("event time is before 2017 or more than 5 minutes in the future", malformed=True)
    change = change_for(suffix, outcome, hibernate=_asks_hibernate(data))
    return VmEvent(
        event_id=event.id,
        event_type=event.event_type,
        vm=vm,
        time=time,
        operation_name=operation.strip(),
        change=change,
    )


def _verb_matches(verb: str, suffix: str) -> bool:
    if verb == "action":
        return suffix.endswith("/action")
    return suffix == verb


def _asks_hibernate(data: dict[str, Any]) -> bool:
    """A deallocate with ``hibernate=true`` in the request URL hibernates the VM."""
    request = _as_object(data.get("httpRequest"))
    url = request.get("url") if request else None
    if not isinstance(url, str):
        return False
    query = parse_qsl(urlsplit(url).query)
    return any(key.lower() == "hibernate" and value.lower() == "true" for key, value in query)


def _time_or_none(text: Any) -> datetime | None:
    try:
        return parse_time(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _json_of(event: object) -> Any:
    try:
        return event.get_json()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, TypeError):
        return None


def _as_object(value: Any) -> dict[str, Any] | None:
    """Some fields arrive as JSON text instead of an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None
