"""Realistic Azure Resource Manager events, built with azure-eventgrid's models and serialised to the
wire shape Event Grid delivers (``devtools.worker`` decodes them as the Python worker does), and the ids
of the resources they are about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames

SUB = "9a6c2a1e-5f0b-4d3e-8c7a-1b2c3d4e5f60"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)

WRITE_OK = SystemEventNames.ResourceWriteSuccessEventName
WRITE_FAILED = SystemEventNames.ResourceWriteFailureEventName
WRITE_CANCELED = SystemEventNames.ResourceWriteCancelEventName
ACTION_OK = SystemEventNames.ResourceActionSuccessEventName
ACTION_FAILED = SystemEventNames.ResourceActionFailureEventName
ACTION_CANCELED = SystemEventNames.ResourceActionCancelEventName
DELETE_OK = SystemEventNames.ResourceDeleteSuccessEventName
DELETE_FAILED = SystemEventNames.ResourceDeleteFailureEventName

_VERB_EVENT = {"write": WRITE_OK, "delete": DELETE_OK}


def vm_id(name: str = "vm1", group: str = "rg-app", subscription: str = SUB) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


def scale_set_id(name: str = "web-ss", group: str = "rg-app", subscription: str = SUB) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
    )


def instance_id(instance: str, name: str = "web-ss", group: str = "rg-app", subscription: str = SUB) -> str:
    return f"{scale_set_id(name, group, subscription)}/virtualMachines/{instance}"


def scale_set_operation(verb: str, *, instance: bool = False) -> str:
    """``deallocate`` -> ``Microsoft.Compute/virtualMachineScaleSets/deallocate/action`` (or the
    ``.../virtualMachineScaleSets/virtualMachines/...`` instance operation)."""
    kind = "virtualMachineScaleSets/virtualMachines" if instance else "virtualMachineScaleSets"
    return f"Microsoft.Compute/{kind}/{verb}" + ("" if verb in ("write", "delete") else "/action")


def at(minutes: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, hours=hours)


API_VERSION = "2024-07-01"
# uuid5 namespace for ids that must not change between runs (``make samples`` writes them to files).
SAMPLE_NAMESPACE = uuid.UUID("3f1d7c52-8a61-4e0b-9c3e-5b2a7d9e4f10")


def request_of(resource_id: str, operation: str, *, url_query: str = "") -> dict[str, str]:
    """The HTTP method and URL Azure Resource Manager records for ``operation`` on ``resource_id``.

    Writes are PUT to the resource (PATCH is real too; pass ``method`` to ``arm_data``), deletes DELETE,
    actions POST to ``{resourceId}/{action}``, as in the published samples."""
    parts = operation.rsplit("/", 2)
    if parts[-1].lower() == "action":
        method, path = "POST", f"{resource_id}/{parts[-2]}"
    elif parts[-1].lower() == "delete":
        method, path = "DELETE", resource_id
    else:
        method, path = "PUT", resource_id
    return {
        "method": method,
        "url": f"https://management.azure.com{path}?api-version={API_VERSION}{url_query}",
    }


def arm_data(
    resource_id: str,
    operation: str,
    *,
    url_query: str = "",
    method: str | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """The ``data`` of a resource event, personal data included as Azure sends it (it must not be stored).

    With ``seed`` the correlation and client request ids are derived from it (same seed, same ids);
    without, they are random like Azure's."""
    request = request_of(resource_id, operation, url_query=url_query)
    return {
        "authorization": {
            "scope": resource_id,
            "action": operation,
            "evidence": {"role": "Contributor", "principalId": "5c8f3f2d0a1b4c5d9e8f7a6b5c4d3e2f"},
        },
        "claims": {
            "name": "Ada Lovelace",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ada@contoso.example",
            "ipaddr": "203.0.113.7",
        },
        "correlationId": _uuid(seed, "correlationId"),
        "httpRequest": {
            "clientRequestId": _uuid(seed, "clientRequestId"),
            "clientIpAddress": "203.0.113.7",
            "method": method or request["method"],
            "url": request["url"],
        },
        "resourceProvider": operation.split("/", 1)[0],
        "resourceUri": resource_id,
        "operationName": operation,
        "status": "Succeeded",
        "subscriptionId": resource_id.split("/")[2],
        "tenantId": TENANT,
    }


def _uuid(seed: str | None, field: str) -> str:
    return str(uuid.uuid5(SAMPLE_NAMESPACE, f"{seed}/{field}") if seed is not None else uuid.uuid4())


def operation_for(verb: str) -> str:
    """``start`` -> the action's operation name; ``write`` and ``delete`` as they are."""
    if verb in ("write", "delete"):
        return f"Microsoft.Compute/virtualMachines/{verb}"
    return f"Microsoft.Compute/virtualMachines/{verb}/action"


def wire_event(
    verb: str,
    when: datetime,
    *,
    resource_id: str | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    url_query: str = "",
    schema: str = "EventGrid",
    operation: str | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """One event as JSON on the wire, Event Grid schema (7-digit times) or CloudEvents 1.0.

    ``seed`` makes every id in it (event, correlation, client request) a fixed function of the seed."""
    resource_id = resource_id or vm_id()
    operation = operation or operation_for(verb)
    event_type = event_type or _VERB_EVENT.get(verb, ACTION_OK)
    data = arm_data(resource_id, operation, url_query=url_query, seed=seed)
    event_id = event_id or _uuid(seed, "id")
    topic = f"/subscriptions/{resource_id.split('/')[2]}"
    if schema == "CloudEvents":
        cloud = CloudEvent(
            source=topic, type=event_type, data=data, subject=resource_id, time=when, id=event_id
        )
        return {
            "specversion": cloud.specversion,
            "id": cloud.id,
            "source": cloud.source,
            "type": cloud.type,
            "time": cloud.time.isoformat().replace("+00:00", "Z"),
            "subject": cloud.subject,
            "data": cloud.data,
        }
    event = EventGridEvent(
        subject=resource_id, event_type=event_type, data=data, data_version="2", topic=topic, id=event_id,
        event_time=when,
    )  # fmt: skip
    wire = event.serialize()
    wire["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z"  # Event Grid sends 7 digits
    wire.setdefault("metadataVersion", "1")
    return wire
