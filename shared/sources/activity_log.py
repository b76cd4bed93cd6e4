"""The Activity Log (``Microsoft.Insights/eventtypes/management/values``): a VM's past operations.

Read through the Resource Manager client's pipeline and the one guarded pager, with the only filter shape
the API allows for one resource (time range + ``resourceUri``) and ``$select`` naming only what the ledger
uses, so ``caller`` and ``claims`` are never fetched. One operation shows up as several records sharing
``operationId`` (``Started``/``Accepted``, then ``Succeeded`` or ``Failed``); only final records become
operations, at the final record's ``eventTimestamp``, the moment the operation ended (as an Event Grid
event's time; docs/billing-semantics.md). Operation names go through the operation table events use: a
Uniform instance's are ``Microsoft.Compute/virtualMachineScaleSets/virtualMachines/...``. The whole window
is read before anything is returned: a listing that fails part way raises ``ListingError`` and nothing of
that window is recorded; one record that cannot be true is skipped alone (``vm_operations``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.domain.ids import VmId, parse_vm_id
from shared.domain.operations import (
    CANCELED,
    DELETE,
    FAILED,
    SUCCEEDED,
    WRITE,
    Target,
    change_for,
    classify_operation,
)
from shared.domain.times import format_time, parse_time, utc_now
from shared.domain.vm_state import Change
from shared.sources._fields import event_id_or_none, guid_or_none, is_possible_time, operation_name_or_none
from shared.sources._pager import arm_page
from shared.sources.arm import ArmClient

logger = logging.getLogger(__name__)

ACTIVITY_LOG_API_VERSION = "2015-04-01"
RETENTION_DAYS = 90
# One VM's records over at most 90 days; more pages than this is a paging loop, not a log.
MAX_ACTIVITY_LOG_PAGES = 500
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


def list_vm_operations(
    client: ArmClient,
    vm: VmId,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    deadline: float | None = None,
) -> list[VmOperation]:
    """The VM's completed operations with an end in ``[start, end]``, oldest first; every page is read
    before returning. Raises ``ListingError`` (after the pipeline's retries) when any page fails, past
    ``MAX_ACTIVITY_LOG_PAGES`` pages, or once ``deadline`` (``time.monotonic()``) has passed.

    ``now`` (default: the clock) bounds how far in the future a record's time may be."""
    path = f"/subscriptions/{vm.subscription_id}/providers/Microsoft.Insights/eventtypes/management/values"
    resource = vm.resource_id.replace("'", "''")
    params = {
        "api-version": ACTIVITY_LOG_API_VERSION,
        "$filter": f"eventTimestamp ge '{_z(start)}' and eventTimestamp le '{_z(end)}' "
        f"and resourceUri eq '{resource}'",
        "$select": SELECT,
    }
    records: list[Any] = []
    subject = f"Activity Log of {vm.resource_id}"
    for body in client.iter_json_pages(
        path, params, subject=subject, max_pages=MAX_ACTIVITY_LOG_PAGES, deadline=deadline
    ):
        records += arm_page(body, "Activity Log")[0]
    return vm_operations(records, vm, now=now)


def vm_operations(records: Iterable[Any], vm: VmId, *, now: datetime | None = None) -> list[VmOperation]:
    """Final records of ``vm``'s own operations (not its children's, not other resources'), oldest first.

    A final record of the VM that cannot be true under the rules events follow (an operation name or id
    too long, a time before 2017 or more than 5 minutes after ``now``) is skipped alone, and counted in
    one warning: the other records still count."""
    now = now or utc_now()
    hibernating = {
        _operation_id(record) for record in records if isinstance(record, Mapping) and _asks_hibernate(record)
    }
    found: dict[str, VmOperation] = {}
    malformed: list[str] = []
    for record in records:
        operation = _operation(record, vm, hibernating, now)
        if isinstance(operation, str):
            malformed.append(operation)
        elif operation is not None:
            found.setdefault(operation.record_id, operation)
    if malformed:
        logger.warning(
            "Activity Log of %s: %d record(s) skipped (%s)",
            vm.resource_id, len(malformed), ", ".join(sorted(set(malformed))),
        )  # fmt: skip
    return sorted(found.values(), key=lambda op: (op.time, op.record_id))


def _operation(
    record: Any, vm: VmId, hibernating: set[str | None], now: datetime
) -> VmOperation | str | None:
    """The operation of a final record of ``vm``; ``None`` for other records; why, for one that is broken."""
    if not isinstance(record, Mapping):
        return None
    status = _value(record.get("status"))
    outcome = _FINAL.get((status or "").lower())
    resource = record.get("resourceId")
    listed = parse_vm_id(resource) if isinstance(resource, str) else None
    if outcome is None or listed is None or _keys(listed) != _keys(vm):
        return None
    name = operation_name_or_none(_value(record.get("operationName")))
    if name is None:
        return "operationName too long or not an operation name"
    suffix = _own_suffix(name, vm)
    if suffix is None:
        return None
    at = _time(record.get("eventTimestamp"))
    if at is None or not is_possible_time(at, now):
        return "eventTimestamp missing, before 2017 or more than 5 minutes ahead"
    record_id = _record_id(record, status)
    if record_id is None:
        return "eventDataId or operationId missing or too long"
    change = change_for(suffix, outcome, hibernate=_operation_id(record) in hibernating)
    correlation = guid_or_none(record.get("correlationId"))
    return VmOperation(vm, at, name, outcome, change, correlation, f"activityLog/{record_id}")


def _own_suffix(name: str, vm: VmId) -> str | None:
    """The operation table's suffix when ``name`` is an operation of ``vm`` itself: a VM's operations on a
    VM, a Uniform instance's on an instance (as for events), never a child's (``extensions/x/write``)."""
    classified = classify_operation(name)
    if classified is None:
        return None
    target, suffix = classified
    own = Target.INSTANCE if vm.scale_set is not None else Target.VM
    if target is not own or not (suffix in (WRITE, DELETE) or _is_vm_action(suffix)):
        return None
    return suffix


def _keys(vm: VmId) -> tuple[str, str]:
    return vm.subscription_key, vm.vm_key


def _time(stamp: Any) -> datetime | None:
    try:
        return parse_time(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def _record_id(record: Mapping[str, Any], status: str | None) -> str | None:
    """Stable across reads: the record's ``eventDataId``, or its operation's id and status."""
    if "eventDataId" in record and record["eventDataId"] not in (None, ""):
        return event_id_or_none(record["eventDataId"])
    operation_id = event_id_or_none(record.get("operationId"))
    return f"{operation_id}/{status}" if operation_id else None


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
