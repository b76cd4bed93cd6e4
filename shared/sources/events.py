"""An Azure Resource Manager resource event to a VM change, a scale set event, or a reason to skip it.

Accepts the Event Grid schema and the CloudEvents 1.0 schema as the Functions binding hands them over
(read by attribute, so this module does not import ``azure.functions``). Event types come from
``azure.eventgrid.SystemEventNames``. The outcome comes from the event type; ``data.status`` is only
informational (published failure examples carry ``"Succeeded"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from azure.eventgrid import SystemEventNames

from shared.domain.ids import ScaleSetId, VmId, parse_scale_set_id, parse_vm_id
from shared.domain.operations import (
    CANCELED,
    FAILED,
    SCALE_SET_OPERATION_PREFIX,
    SUCCEEDED,
    Target,
    change_for,
    classify_operation,
)
from shared.domain.times import as_utc, parse_time, utc_now
from shared.domain.vm_state import Change
from shared.sources._fields import (
    event_id_or_none,
    guid_or_none,
    is_possible_time,
    operation_name_or_none,
)
from shared.sources._json import json_object

# A VM (or scale set instance) id followed by more path: a child resource (an extension, a run command).
_CHILD_OF_VM = re.compile(
    r"(.*?/providers/microsoft\.compute/(?:virtualmachinescalesets/[^/]+/)?virtualmachines/[^/]+)/.+",
    re.IGNORECASE | re.DOTALL,
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
    # Shared with the Activity Log's records of the same operation; kept only when it is a GUID.
    correlation_id: str | None = None


@dataclass(frozen=True)
class ScaleSetEvent:
    """An accepted scale-set-level event: it touched some or all instances, which a listing will tell.

    ``instance_operation`` is what it amounts to for each instance it touched (``deallocate/action``,
    ``write`` for a scale out or in, ``delete``); ``outcome`` is Succeeded, Failed or Canceled.
    """

    event_id: str
    event_type: str
    scale_set: ScaleSetId
    time: datetime
    operation_name: str
    instance_operation: str
    outcome: str
    hibernate: bool


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
    # CloudEvents 1.0 spells it "specversion"; some published samples say "specVersion".
    cloud = any(isinstance(key, str) and key.lower() == "specversion" for key in body)
    return InboundEvent(
        id=body.get("id"),
        event_type=body.get("type" if cloud else "eventType"),
        subject=body.get("subject"),
        time=_time_or_none(body.get("time" if cloud else "eventTime")),
        data=body.get("data"),
        schema="CloudEvents" if cloud else "EventGrid",
    )


def parse_resource_event(
    event: InboundEvent, *, now: datetime | None = None
) -> VmEvent | ScaleSetEvent | Skipped:
    """A resource event (write, action or delete): on a VM or a Uniform instance it is a ``VmEvent``, on a
    scale set (an operation of the table) a ``ScaleSetEvent``; everything else comes back as ``Skipped``.

    ``now`` (default: the clock) bounds how far in the future an event time may be.
    """
    kind = _KINDS_BY_LOWER.get(event.event_type.lower()) if isinstance(event.event_type, str) else None
    if kind is None:
        return Skipped("not a resource write, action or delete event")
    data = json_object(event.data)
    if data is None:
        return Skipped("event has no data object", malformed=True)
    operation = data.get("operationName")
    if not isinstance(operation, str) or not operation.strip():
        return Skipped("event data has no operationName", malformed=True)
    classified = classify_operation(operation)
    if classified is None:
        if operation.strip().lower().startswith(SCALE_SET_OPERATION_PREFIX):
            return Skipped("scale set operation that does not change instances' power")
        return Skipped("operation is not on Microsoft.Compute/virtualMachines")
    if operation_name_or_none(operation) is None:
        return Skipped("operationName is too long or not an operation name", malformed=True)
    on, suffix = classified
    verb, outcome = kind
    now = now or utc_now()
    target = data.get("resourceUri") or event.subject
    if on is Target.SCALE_SET:
        own_suffix = operation.strip().lower()[len(SCALE_SET_OPERATION_PREFIX) :]
        if not _verb_matches(verb, own_suffix):
            return Skipped(f"{verb} event carries a non-{verb} operation", malformed=True)
        return _scale_set_event(event, target, operation, suffix, outcome, data, now)
    vm = parse_vm_id(target) if isinstance(target, str) else None
    if vm is None:
        return _not_a_vm(target)
    if not _verb_matches(verb, suffix):
        return Skipped(f"{verb} event carries a non-{verb} operation", malformed=True)
    if (vm.scale_set is not None) != (on is Target.INSTANCE):
        return Skipped("operation and resource id are not about the same kind of VM", malformed=True)
    return _accepted(event, vm, operation, suffix, outcome, data, now)


def _not_a_vm(target: Any) -> Skipped:
    """A child of a valid VM id is out of scope; anything else under the VM provider is a broken VM id."""
    child = _CHILD_OF_VM.fullmatch(target.strip()) if isinstance(target, str) else None
    if child is not None and parse_vm_id(child[1]) is not None:
        return Skipped("resource is a child of a VM, not a VM")
    lowered = target.lower() if isinstance(target, str) else ""
    if "/providers/microsoft.compute/virtualmachines/" in lowered or (
        "/providers/microsoft.compute/virtualmachinescalesets/" in lowered and "/virtualmachines/" in lowered
    ):
        return Skipped("resource id names a VM but is not a valid VM id", malformed=True)
    return Skipped("resource id is not a VM id", malformed=True)


def _scale_set_event(
    event: InboundEvent,
    target: Any,
    operation: str,
    suffix: str,
    outcome: str,
    data: dict[str, Any],
    now: datetime,
) -> ScaleSetEvent | Skipped:
    scale_set = parse_scale_set_id(target) if isinstance(target, str) else None
    if scale_set is None:
        return Skipped("resource id is not a scale set id", malformed=True)
    problem = _event_problem(event, now)
    if problem is not None:
        return problem
    assert isinstance(event.time, datetime) and isinstance(event.id, str)
    return ScaleSetEvent(
        event_id=event.id,
        event_type=event.event_type,
        scale_set=scale_set,
        time=as_utc(event.time),
        operation_name=operation.strip(),
        instance_operation=suffix,
        outcome=outcome,
        hibernate=_asks_hibernate(data),
    )


def _event_problem(event: InboundEvent, now: datetime) -> Skipped | None:
    if event_id_or_none(event.id) is None:
        return Skipped("event id is missing or too long", malformed=True)
    if not isinstance(event.time, datetime):
        return Skipped("event has no time", malformed=True)
    if not is_possible_time(as_utc(event.time), now):
        return Skipped("event time is before 2017 or more than 5 minutes in the future", malformed=True)
    return None


def _accepted(
    event: InboundEvent,
    vm: VmId,
    operation: str,
    suffix: str,
    outcome: str,
    data: dict[str, Any],
    now: datetime,
) -> VmEvent | Skipped:
    problem = _event_problem(event, now)
    if problem is not None:
        return problem
    assert isinstance(event.time, datetime) and isinstance(event.id, str)
    change = change_for(suffix, outcome, hibernate=_asks_hibernate(data))
    return VmEvent(
        event_id=event.id,
        event_type=event.event_type,
        vm=vm,
        time=as_utc(event.time),
        operation_name=operation.strip(),
        change=change,
        correlation_id=guid_or_none(data.get("correlationId")),
    )


def _verb_matches(verb: str, suffix: str) -> bool:
    if verb == "action":
        return suffix.endswith("/action")
    return suffix == verb


def _asks_hibernate(data: dict[str, Any]) -> bool:
    """A deallocate with ``hibernate=true`` in the request URL hibernates the VM."""
    request = json_object(data.get("httpRequest"))
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
