"""How the ledger lays out its Table entities.

One partition per subscription (``PartitionKey`` = lower-case subscription id) holds, for each VM:

- the **current row** ``vm|<group>|<name>``: the VM's state now, its display casing, and the key of its
  last transition (the ETag of this row serialises writers on that VM);
- its **transition rows** ``tx|<group>|<name>|<time>|<id hash>``: one per accepted event or reconcile
  observation, in time order because the fixed-width UTC time sorts as text.

Keeping both in one partition lets a transition and the new current state be written in one atomic
entity group transaction. Each transition stores the state before it, so the state at any instant is
found from the first transition at or after it: queries never read history older than their window.
A small registry partition lists the subscriptions, so ``list_vms`` needs no table scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.resource_ids import VmId
from shared.states import BillingPolicy
from shared.times import format_time, parse_time
from shared.transitions import Change, VmState, apply_change

SUBSCRIPTIONS_PARTITION = "subscriptions"
CURRENT_PREFIX = "vm|"
TRANSITION_PREFIX = "tx|"
SOURCE_EVENT = "event"
SOURCE_RECONCILE = "reconcile"


def upper_bound(prefix: str) -> str:
    """The smallest key greater than every key starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def current_key(vm: VmId) -> str:
    return f"{CURRENT_PREFIX}{vm.vm_key}"


def transitions_prefix(vm: VmId) -> str:
    return f"{TRANSITION_PREFIX}{vm.vm_key}|"


def transition_key(vm: VmId, at: datetime, event_id: str) -> str:
    # The id is hashed: event ids may hold characters that Table keys forbid.
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:32]
    return f"{transitions_prefix(vm)}{format_time(at)}|{digest}"


def time_key(vm: VmId, at: datetime) -> str:
    """Sorts before every transition of ``vm`` at or after ``at``."""
    return f"{transitions_prefix(vm)}{format_time(at)}|"


def time_key_after(vm: VmId, at: datetime) -> str:
    """Sorts after every transition of ``vm`` at or before ``at``."""
    return upper_bound(time_key(vm, at))


@dataclass(frozen=True)
class NewTransition:
    """A transition to record, before the ledger knows the state around it."""

    vm: VmId
    time: datetime
    change: Change
    source: str
    event_id: str
    operation_name: str
    event_type: str | None = None
    # Reconcile only: the last recorded time before the observation; the real change lies in between.
    changed_after: datetime | None = None


@dataclass(frozen=True)
class TransitionRow:
    key: str
    time: datetime
    change: Change
    prev: VmState | None
    state: VmState
    source: str
    event_id: str
    operation_name: str
    event_type: str | None
    billing_policy: str
    changed_after: datetime | None
    etag: str | None


@dataclass(frozen=True)
class CurrentRow:
    vm: VmId  # casing first seen
    state: VmState
    billing_policy: str
    first_key: str
    first_time: datetime
    last_key: str
    last_time: datetime
    etag: str | None


def new_transition_row(
    new: NewTransition, key: str, prev: VmState | None, policy: BillingPolicy
) -> TransitionRow:
    """The row that records ``new`` after the state ``prev``, flagged by ``policy``."""
    return TransitionRow(
        key=key,
        time=new.time,
        change=new.change,
        prev=prev,
        state=apply_change(prev, new.change, new.time, policy),
        source=new.source,
        event_id=new.event_id,
        operation_name=new.operation_name,
        event_type=new.event_type,
        billing_policy=policy.label,
        changed_after=new.changed_after,
        etag=None,
    )


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


def _state_from(prefix: str, entity: dict[str, Any]) -> VmState | None:
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
    }
    entity.update(_state_fields("state", row.state))
    entity.update(_state_fields("prev", row.prev))
    return entity


def transition_from_entity(entity: dict[str, Any]) -> TransitionRow:
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
    entity.update(_state_fields("state", row.state))
    return entity


def current_from_entity(entity: dict[str, Any]) -> CurrentRow:
    state = _required_state(entity)
    return CurrentRow(
        vm=VmId(entity["subscriptionId"], entity["resourceGroup"], entity["vmName"]),
        state=state,
        billing_policy=entity.get("billingPolicy", ""),
        first_key=entity["firstKey"],
        first_time=parse_time(entity["firstTime"]),
        last_key=entity["lastKey"],
        last_time=parse_time(entity["lastTime"]),
        etag=_etag(entity),
    )


def _required_state(entity: dict[str, Any]) -> VmState:
    state = _state_from("state", entity)
    if state is None:
        raise ValueError(f"ledger row {entity.get('RowKey')!r} has no state")
    return state


def _etag(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None)
    return metadata.get("etag") if metadata else None
