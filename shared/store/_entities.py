"""Records to Table entities and back: the ledger's column names live here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.ids import VmId
from shared.domain.times import format_time, parse_time
from shared.domain.vm_state import Change, VmState
from shared.store._inventory import spec_fields, spec_from
from shared.store._keys import current_key
from shared.store._month_rows import mark_fields, mark_from
from shared.store._records import CurrentRow, Pending, TransitionRow

LAST_CONFIRMED = "lastConfirmed"


def _state_fields(prefix: str, state: VmState | None) -> dict[str, Any]:
    if state is None:
        return {f"{prefix}Exists": False}
    return {
        f"{prefix}Exists": True,
        f"{prefix}ProvisioningState": state.provisioning_state or "",
        f"{prefix}PowerState": state.power_state or "",
        f"{prefix}Hibernated": state.hibernated,
        f"{prefix}Deleted": state.deleted,
        f"{prefix}Billable": state.billable,
        f"{prefix}Since": format_time(state.since),
    }


def _state_from(prefix: str, entity: Mapping[str, Any]) -> VmState | None:
    if not entity.get(f"{prefix}Exists"):
        return None
    return VmState(
        provisioning_state=entity.get(f"{prefix}ProvisioningState") or None,
        power_state=entity.get(f"{prefix}PowerState") or None,
        hibernated=bool(entity.get(f"{prefix}Hibernated")),
        deleted=bool(entity.get(f"{prefix}Deleted")),
        billable=bool(entity.get(f"{prefix}Billable")),
        since=parse_time(entity[f"{prefix}Since"]),
    )


def transition_entity(row: TransitionRow, partition: str) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": row.key,
        "time": format_time(row.time),
        "source": row.source,
        "eventId": row.event_id,
        "eventType": row.event_type or "",
        "operationName": row.operation_name,
        "billingPolicy": row.billing_policy,
        "changeProvisioningState": row.change.provisioning_state,
        "changePowerState": row.change.power_state or "",
        "changeHibernated": row.change.hibernated,
        "changeDeletes": row.change.deletes,
        "changeCreates": row.change.creates,
        "changedAfter": format_time(row.changed_after) if row.changed_after else "",
        "correlationId": row.correlation_id or "",
        "cause": row.cause or "",
    }
    if row.prev_key is not None:
        entity["prevKey"] = row.prev_key
    entity.update(_state_fields("state", row.state))
    entity.update(_state_fields("prev", row.prev))
    return entity


def transition_from_entity(entity: Mapping[str, Any]) -> TransitionRow:
    state = _required_state(entity)
    changed_after = entity.get("changedAfter")
    return TransitionRow(
        key=entity["RowKey"],
        time=parse_time(entity["time"]),
        change=Change(
            provisioning_state=entity["changeProvisioningState"],
            power_state=entity.get("changePowerState") or None,
            hibernated=bool(entity.get("changeHibernated")),
            deletes=bool(entity.get("changeDeletes")),
            creates=bool(entity.get("changeCreates")),
        ),
        prev=_state_from("prev", entity),
        state=state,
        source=entity["source"],
        event_id=entity["eventId"],
        operation_name=entity.get("operationName", ""),
        event_type=entity.get("eventType") or None,
        billing_policy=entity.get("billingPolicy", ""),
        changed_after=parse_time(changed_after) if changed_after else None,
        etag=_etag(entity),
        correlation_id=entity.get("correlationId") or None,
        cause=entity.get("cause") or None,
        prev_key=entity.get("prevKey"),
    )


def current_entity(row: CurrentRow) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": row.vm.subscription_key,
        "RowKey": current_key(row.vm),
        "resourceId": row.vm.resource_id,
        "subscriptionId": row.vm.subscription_id,
        "resourceGroup": row.vm.resource_group,
        "vmName": row.vm.name,
        "billingPolicy": row.billing_policy,
        "firstKey": row.first_key,
        "firstTime": format_time(row.first_time),
        "lastKey": row.last_key,
        "lastTime": format_time(row.last_time),
    }
    # Only rows of scale sets carry these columns: rows of other VMs stay exactly as they were.
    if row.vm.scale_set is not None:
        entity["instanceOf"] = row.vm.scale_set
    if row.member_of:
        entity["memberOf"] = row.member_of
    if row.pending is not None:
        entity.update(pendingFrom=row.pending.from_key, pendingPrevKey=row.pending.prev_key)
    entity.update(_state_fields("state", row.state))
    optional = {
        "causeSource": row.last_cause_source,
        "causeOperation": row.last_cause_operation,
        LAST_CONFIRMED: format_time(row.last_confirmed) if row.last_confirmed else None,
        "activityLogUntil": format_time(row.activity_log_until) if row.activity_log_until else None,
    }
    entity.update({name: value for name, value in optional.items() if value is not None})
    entity.update(mark_fields(row.months))
    entity.update(spec_fields(row.spec, row.spec_at))
    return entity


def confirmation_entity(vm: VmId, at: datetime) -> dict[str, Any]:
    """The one column a reconcile that found no change merges into a current row."""
    return {
        "PartitionKey": vm.subscription_key,
        "RowKey": current_key(vm),
        LAST_CONFIRMED: format_time(at),
    }


def current_from_entity(entity: Mapping[str, Any]) -> CurrentRow:
    state = _required_state(entity)
    spec, spec_at = spec_from(entity)
    return CurrentRow(
        vm=VmId(
            entity["subscriptionId"],
            entity["resourceGroup"],
            entity["vmName"],
            entity.get("instanceOf") or None,
        ),
        state=state,
        billing_policy=entity.get("billingPolicy", ""),
        first_key=entity["firstKey"],
        first_time=parse_time(entity["firstTime"]),
        last_key=entity["lastKey"],
        last_time=parse_time(entity["lastTime"]),
        etag=_etag(entity),
        member_of=entity.get("memberOf") or None,
        last_cause_source=entity.get("causeSource") or None,
        last_cause_operation=entity.get("causeOperation") or None,
        last_confirmed=_time_or_none(entity.get(LAST_CONFIRMED)),
        activity_log_until=_time_or_none(entity.get("activityLogUntil")),
        pending=Pending(entity["pendingFrom"], entity.get("pendingPrevKey", ""))
        if "pendingFrom" in entity
        else None,
        months=mark_from(entity),
        spec=spec,
        spec_at=spec_at,
    )


def _time_or_none(text: Any) -> datetime | None:
    return parse_time(text) if isinstance(text, str) and text else None


def _required_state(entity: Mapping[str, Any]) -> VmState:
    state = _state_from("state", entity)
    if state is None:
        raise ValueError(f"ledger row {entity.get('RowKey')!r} has no state")
    return state


def _etag(entity: Mapping[str, Any]) -> str | None:
    metadata = getattr(entity, "metadata", None)
    etag = metadata.get("etag") if metadata else None
    return etag if isinstance(etag, str) else None
