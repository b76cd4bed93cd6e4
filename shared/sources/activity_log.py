"""The Activity Log (``Microsoft.Insights/eventtypes/management/values``): a VM's past operations.

Read through the Resource Manager client's pipeline and the one guarded pager, with the only filter shape
the API allows for one resource (time range + ``resourceUri``) and ``$select`` naming only what the ledger
uses, so ``caller`` and ``claims`` are never fetched. One operation shows up as several records sharing
``operationId`` (``Started``/``Accepted``, then ``Succeeded`` or ``Failed``); only final records become
operations, at the final record's ``eventTimestamp``, the moment the operation ended (as an Event Grid
event's time; docs/billing-semantics.md). The whole window is read before anything is returned: a listing
that fails part way raises ``ListingError`` and nothing of that window is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.domain.ids import VmId, parse_vm_id
from shared.domain.operations import CANCELED, FAILED, SUCCEEDED, change_for, operation_suffix
from shared.domain.times import format_time, parse_time
from shared.domain.vm_state import Change
from shared.sources._fields import guid_or_none
from shared.sources._pager import arm_page
from shared.sources.arm import ArmClient

ACTIVITY_LOG_API_VERSION = "2015-04-01"
RETENTION_DAYS = 90
SELECT = "eventTimestamp,operationName,status,resourceId,correlationId,operationId,eventDataId,httpRequest"
_FINAL = {"succeeded": SUCCEEDED, "failed": FAILED, "canceled": CANCELED, "cancelled": CANCELED}


@dataclass(frozen=True)
class VmOperation:
    """One completed operation on a VM, from its final Activity Log record."""

    vm: VmId
    time: datetime
    operation_name: str
    outcome: str
    change: Change
    correlation_id: str | None
    record_id: str  # stable across reads: the final record's eventDataId (or operationId + status)


def list_vm_operations(client: ArmClient, vm: VmId, start: datetime, end: datetime) -> list[VmOperation]:
    """The VM's completed operations with an end in ``[start, end]``, oldest first; every page is read
    before returning. Raises ``ListingError`` (after the pipeline's retries) when any page fails."""
    path = f"/subscriptions/{vm.subscription_id}/providers/Microsoft.Insights/eventtypes/management/values"
    resource = vm.resource_id.replace("'", "''")
    params = {
        "api-version": ACTIVITY_LOG_API_VERSION,
        "$filter": f"eventTimestamp ge '{_z(start)}' and eventTimestamp le '{_z(end)}' "
        f"and resourceUri eq '{resource}'",
        "$select": SELECT,
    }
    records: list[Any] = []
    for body in client.iter_json_pages(path, params, subject=f"Activity Log of {vm.resource_id}"):
        records += arm_page(body, "Activity Log")[0]
    return vm_operations(records, vm)


def vm_operations(records: Iterable[Any], vm: VmId) -> list[VmOperation]:
    """Final records of ``vm``'s own operations (not its children's, not other resources'), oldest first."""
    hibernating = {
        _operation_id(record) for record in records if isinstance(record, Mapping) and _asks_hibernate(record)
    }
    found: dict[str, VmOperation] = {}
    for record in records:
        operation = _operation(record, vm, hibernating)
        if operation is not None:
            found.setdefault(operation.record_id, operation)
    return sorted(found.values(), key=lambda op: (op.time, op.record_id))


def _operation(record: Any, vm: VmId, hibernating: set[str | None]) -> VmOperation | None:
    if not isinstance(record, Mapping):
        return None
    name, status = _value(record.get("operationName")), _value(record.get("status"))
    outcome = _FINAL.get((status or "").lower())
    resource, stamp = record.get("resourceId"), record.get("eventTimestamp")
    if outcome is None or not name or not isinstance(resource, str) or not isinstance(stamp, str):
        return None
    listed = parse_vm_id(resource)
    suffix = operation_suffix(name)
    if listed is None or (listed.subscription_key, listed.vm_key) != (vm.subscription_key, vm.vm_key):
        return None
    if suffix is None or not (suffix in ("write", "delete") or _is_vm_action(suffix)):
        return None
    try:
        at = parse_time(stamp)
    except ValueError:
        return None
    operation_id = _operation_id(record)
    event_data_id = record.get("eventDataId")
    record_id = (
        event_data_id if isinstance(event_data_id, str) and event_data_id else f"{operation_id}/{status}"
    )
    change = change_for(suffix, outcome, hibernate=operation_id in hibernating)
    return VmOperation(
        vm,
        at,
        name.strip(),
        outcome,
        change,
        guid_or_none(record.get("correlationId")),
        f"activityLog/{record_id}",
    )


def _is_vm_action(suffix: str) -> bool:
    """``start/action``, not a child's ``extensions/x/action``."""
    return suffix.endswith("/action") and suffix.count("/") == 1


def _value(field: Any) -> str | None:
    """``{"value": "...", "localizedValue": "..."}`` -> ``value``."""
    value = field.get("value") if isinstance(field, Mapping) else None
    return value if isinstance(value, str) else None


def _operation_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("operationId")
    return value if isinstance(value, str) and value else None


def _asks_hibernate(record: Mapping[str, Any]) -> bool:
    request = record.get("httpRequest")
    uri = request.get("uri") if isinstance(request, Mapping) else None
    if not isinstance(uri, str):
        return False
    query = parse_qsl(urlsplit(uri).query)
    return any(key.lower() == "hibernate" and value.lower() == "true" for key, value in query)


def _z(at: datetime) -> str:
    return format_time(at)
