"""Resource Health events (the ``HealthResources`` system topic, preview) to a VM and a cause, or a skip.

``ResourceAnnotated`` names what happened (``VirtualMachineStoppedInternally``, ``VirtualMachinePreempted``,
...); ``AvailabilityStatusChanged`` says the VM became Available, Unavailable, Degraded or Unknown. Neither
carries a power state: the caller reads the instance view for that. Both schemas arrive as an
``InboundEvent`` (see ``events``). Only the event id, the times, the target id, the annotation name or
availability state and the context are read: ``reason`` and ``summary`` are free text and never kept.

The time of the change is the first of ``data.resourceInfo.properties.occurredTime`` (when the annotated
change or the availability change occurred, present in every published sample),
``data.operationalInfo.resourceEventTime`` (when the resource was updated; absent from the REST spec's
ResourceAnnotated sample), and the envelope's event time (when the event was generated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.eventgrid import SystemEventNames

from shared.domain.health import Cause, annotation_cause, health_name
from shared.domain.ids import VmId, parse_vm_id
from shared.domain.times import as_utc, parse_time
from shared.sources._fields import event_id_or_none
from shared.sources._json import json_object
from shared.sources.events import InboundEvent, Skipped

ANNOTATED = SystemEventNames.ResourceNotificationsHealthResourcesAnnotatedEventName.value
AVAILABILITY_CHANGED = (
    SystemEventNames.ResourceNotificationsHealthResourcesAvailabilityStatusChangedEventName.value
)
HEALTH_EVENT_TYPES = (ANNOTATED, AVAILABILITY_CHANGED)
# ``targetResourceType`` values the event subscription lets through (infra/bicep, a test compares them).
# The instance type is the resource type of a Uniform instance; the published samples name VMs only.
HEALTH_TARGET_TYPES = (
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
)
_SHORT_TYPES = {
    ANNOTATED.lower(): "ResourceAnnotated",
    AVAILABILITY_CHANGED.lower(): "AvailabilityStatusChanged",
}
OPERATION_PREFIX = "health/"


@dataclass(frozen=True)
class HealthEvent:
    """An accepted health event: which VM, when the change occurred, and why."""

    event_id: str
    event_type: str
    vm: VmId
    time: datetime
    cause: Cause
    # ``health/ResourceAnnotated/<annotationName>`` or ``health/AvailabilityStatusChanged/<state>``.
    operation_name: str


def is_health_event(event: InboundEvent) -> bool:
    return isinstance(event.event_type, str) and event.event_type.lower() in _SHORT_TYPES


def parse_health_event(event: InboundEvent) -> HealthEvent | Skipped:
    """Accept health events about VMs; anything else (other resources, broken input) is ``Skipped``."""
    short = _SHORT_TYPES.get(event.event_type.lower()) if isinstance(event.event_type, str) else None
    if short is None:
        return Skipped("not a health event")
    data = json_object(event.data)
    info = json_object(data.get("resourceInfo")) if data else None
    properties = json_object(info.get("properties")) if info else None
    if data is None or properties is None:
        return Skipped("health event has no data.resourceInfo.properties", malformed=True)
    target = properties.get("targetResourceId") or event.subject
    # The one id parser: a scale set instance id becomes acceptable once ``parse_vm_id`` knows it.
    vm = parse_vm_id(target) if isinstance(target, str) else None
    if vm is None:
        return Skipped("health event target is not a VM")
    if event_id_or_none(event.id) is None:
        return Skipped("event id is missing or too long", malformed=True)
    time = change_time(event, data, properties)
    if time is None:
        return Skipped("health event has no time", malformed=True)
    if short == "ResourceAnnotated":
        name = health_name(properties.get("annotationName"))
        cause = annotation_cause(name, _text(properties.get("context")))
    else:
        name = health_name(properties.get("availabilityState"))
        cause = Cause.AVAILABILITY
    return HealthEvent(
        event_id=event.id,
        event_type=event.event_type,
        vm=vm,
        time=time,
        cause=cause,
        operation_name=f"{OPERATION_PREFIX}{short}/{name or 'unknown'}",
    )


def change_time(event: InboundEvent, data: dict[str, Any], properties: dict[str, Any]) -> datetime | None:
    """``occurredTime``, else ``operationalInfo.resourceEventTime``, else the event time (UTC)."""
    operational = json_object(data.get("operationalInfo"))
    event_time = operational.get("resourceEventTime") if operational else None
    for text in (properties.get("occurredTime"), event_time):
        if isinstance(text, str):
            try:
                return parse_time(text)
            except ValueError:
                continue
    return as_utc(event.time) if isinstance(event.time, datetime) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
