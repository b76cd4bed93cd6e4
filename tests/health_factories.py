"""Health events (HealthResources system topic) made from the published samples in
``tests/data/published/health/``: the placeholders filled in, the annotation and times set, nothing else
changed, so every field Azure sends (``reason``, ``summary``, ``context``, ...) is there."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from devtools.events import SUB, vm_id

HEALTH_DIR = Path(__file__).resolve().parent / "data" / "published" / "health"
SAMPLES = {
    ("annotated", "EventGrid"): "resource_annotated.eventgrid.json",
    ("annotated", "CloudEvents"): "resource_annotated.cloudevents.json",
    ("annotated", "spec"): "spec_HealthResources_ResourceAnnotated.eventgrid.json",
    ("availability", "EventGrid"): "availability_status_changed.eventgrid.json",
    ("availability", "CloudEvents"): "availability_status_changed.cloudevents.json",
}


@cache
def published(kind: str, schema: str) -> str:
    return (HEALTH_DIR / SAMPLES[(kind, schema)]).read_text(encoding="utf-8")


def wire_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"  # seven digits, as the samples have


def health_event(
    when: datetime,
    *,
    annotation: str | None = "VirtualMachineStoppedInternally",
    context: str | None = None,
    availability: str | None = None,
    resource_id: str | None = None,
    event_id: str | None = None,
    schema: str = "EventGrid",
    delivered: datetime | None = None,
) -> dict[str, Any]:
    """A published sample for ``resource_id`` (default: vm1 of SUB) whose change occurred at ``when``.

    ``availability`` makes it an AvailabilityStatusChanged event with that state instead of an
    annotation. ``delivered`` is the envelope time (default ``when``)."""
    kind = "availability" if availability else "annotated"
    resource_id = resource_id or vm_id()
    parts = resource_id.split("/")
    event_id = event_id or str(uuid.uuid4())
    text = (
        published(kind, schema)
        .replace("{subscription-id}", parts[2])
        .replace("{rg-name}", parts[4])
        .replace("{vm-name}", parts[-1])
        .replace("{event-id}", event_id)
    )
    wire = json.loads(text)
    wire["id"] = event_id
    properties = wire["data"]["resourceInfo"]["properties"]
    properties["occurredTime"] = wire_time(when)
    if "operationalInfo" in wire["data"]:
        wire["data"]["operationalInfo"]["resourceEventTime"] = wire_time(when)
    wire["time" if schema == "CloudEvents" else "eventTime"] = wire_time(delivered or when)
    if availability:
        properties["availabilityState"] = availability
    elif annotation is not None:
        properties["annotationName"] = annotation
    if context is not None:
        properties["context"] = context
    return copy.deepcopy(wire)


__all__ = ["SUB", "health_event", "published", "wire_time"]
