"""Current rows to Table entities and back, in the columns of ``_columns``, and the state columns both
kinds of VM row share (transition rows: ``_transition_entities``).

A current row leaves out the
columns it has no value for: rows of VMs without them stay as they were. The merges that touch one part
of a current row only (a confirmation, a Flexible scale set, an inventory, a month-row mark) are here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.evidence import (
    Origin,
    Source,
)
from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.times import format_time, parse_time
from shared.domain.vm_state import VmState
from shared.store import _columns as column
from shared.store._day_rows import open_day_fields, open_day_from
from shared.store._inventory import spec_fields, spec_from
from shared.store._keys import current_key
from shared.store._records import (
    Condition,
    CurrentRow,
    MonthsMark,
    Pending,
    Span,
    Upkeep,
    VmProfile,
)

Entity = dict[str, Any]
# The columns of a state under each prefix: ``stateExists``, ``prevPowerState``...
_STATE_COLUMNS = {
    prefix: tuple(prefix + name for name in column.STATE_SUFFIXES) for prefix in (column.STATE, column.PREV)
}


def state_fields(prefix: str, state: VmState | None) -> Entity:
    exists, provisioning, power, hibernated, deleted, billable, since = _STATE_COLUMNS[prefix]
    if state is None:
        return {exists: False}
    return {
        exists: True,
        provisioning: state.provisioning_state or "",
        power: state.power_state or "",
        hibernated: state.hibernated,
        deleted: state.deleted,
        billable: state.billable,
        since: format_time(state.since),
    }


def state_from(prefix: str, entity: Mapping[str, Any]) -> VmState | None:
    exists, provisioning, power, hibernated, deleted, billable, since = _STATE_COLUMNS[prefix]
    if not entity.get(exists):
        return None
    return VmState(
        provisioning_state=entity.get(provisioning) or None,
        power_state=entity.get(power) or None,
        hibernated=bool(entity.get(hibernated)),
        deleted=bool(entity.get(deleted)),
        billable=bool(entity.get(billable)),
        since=parse_time(entity[since]),
    )


# ---- current rows --------------------------------------------------------------------------------------


def current_entity(row: CurrentRow) -> Entity:
    vm, span, condition, upkeep = row.vm, row.span, row.condition, row.upkeep
    entity: Entity = {
        **_key_fields(vm),
        column.RESOURCE_ID: vm.resource_id,
        column.SUBSCRIPTION_ID: vm.subscription_id,
        column.RESOURCE_GROUP: vm.resource_group,
        column.VM_NAME: vm.name,
        column.BILLING_POLICY: condition.billing_policy,
        column.FIRST_KEY: span.first_key,
        column.FIRST_TIME: format_time(span.first_time),
        column.LAST_KEY: span.last_key,
        column.LAST_TIME: format_time(span.last_time),
    }
    # Only rows of scale sets carry these columns: rows of other VMs stay exactly as they were.
    if vm.scale_set_name is not None:
        entity[column.INSTANCE_OF] = vm.scale_set_name
    if row.profile.scale_set_id:
        entity[column.MEMBER_OF] = row.profile.scale_set_id
    if upkeep.pending is not None:
        entity[column.PENDING_FROM] = upkeep.pending.from_key
        entity[column.PENDING_PREV_KEY] = upkeep.pending.prev_key
    entity.update(state_fields(column.STATE, condition.state))
    cause = condition.cause
    optional = {
        column.CAUSE_SOURCE: cause.source.value if cause else None,
        column.CAUSE_OPERATION: cause.operation_name if cause else None,
        column.LAST_CONFIRMED: _time_text(upkeep.last_confirmed),
        column.ACTIVITY_LOG_UNTIL: _time_text(upkeep.activity_log_until),
    }
    entity.update({name: value for name, value in optional.items() if value is not None})
    entity.update(_mark_fields(upkeep.months))
    entity.update(open_day_fields(upkeep.days))
    entity.update(spec_fields(row.profile.spec, row.profile.spec_at))
    return entity


def current_from_entity(entity: Mapping[str, Any]) -> CurrentRow:
    cause_source = entity.get(column.CAUSE_SOURCE) or None
    cause_operation = entity.get(column.CAUSE_OPERATION) or None
    pending_from = entity.get(column.PENDING_FROM)
    pending = None if pending_from is None else Pending(pending_from, entity.get(column.PENDING_PREV_KEY, ""))
    return CurrentRow(
        vm=VmId(
            entity[column.SUBSCRIPTION_ID],
            entity[column.RESOURCE_GROUP],
            entity[column.VM_NAME],
            entity.get(column.INSTANCE_OF) or None,
        ),
        condition=Condition(
            required_state(entity),
            entity.get(column.BILLING_POLICY, ""),
            Origin(Source(cause_source), cause_operation) if cause_source else None,
        ),
        span=Span(
            entity[column.FIRST_KEY],
            parse_time(entity[column.FIRST_TIME]),
            entity[column.LAST_KEY],
            parse_time(entity[column.LAST_TIME]),
        ),
        etag=etag_of(entity),
        profile=VmProfile(entity.get(column.MEMBER_OF) or None, *spec_from(entity)),
        upkeep=Upkeep(
            last_confirmed=time_or_none(entity.get(column.LAST_CONFIRMED)),
            activity_log_until=time_or_none(entity.get(column.ACTIVITY_LOG_UNTIL)),
            pending=pending,
            months=_mark_from(entity),
            days=open_day_from(entity),
        ),
    )


def _mark_fields(mark: MonthsMark | None) -> Entity:
    if mark is None:
        return {}
    return {column.MONTH_OPEN: mark.month_open, column.MONTH_COUNT: mark.count,
            column.MONTH_BEFORE_FIRST: mark.before_first}  # fmt: skip


def _mark_from(entity: Mapping[str, Any]) -> MonthsMark | None:
    if column.MONTH_OPEN not in entity or column.MONTH_BEFORE_FIRST not in entity:
        return None
    return MonthsMark(
        entity[column.MONTH_OPEN], int(entity[column.MONTH_COUNT]), entity[column.MONTH_BEFORE_FIRST]
    )


# ---- merges into a current row: one part of it, never its state ----------------------------------------


def _key_fields(vm: VmId) -> Entity:
    return {"PartitionKey": vm.subscription_key, "RowKey": current_key(vm)}


def scale_set_entity(vm: VmId, scale_set_id: str) -> Entity:
    """The Flexible scale set a listing named (its resource id as listed)."""
    return {**_key_fields(vm), column.MEMBER_OF: scale_set_id}


def inventory_entity(vm: VmId, spec: VmSpec, listed_at: datetime) -> Entity:
    """The VM's inventory as listed at ``listed_at``."""
    return {**_key_fields(vm), **spec_fields(spec, listed_at)}


def months_mark_entity(vm: VmId, mark: MonthsMark) -> Entity:
    """The mark that says the VM's month rows are complete, once they are written."""
    return {**_key_fields(vm), **_mark_fields(mark)}


def _time_text(at: datetime | None) -> str | None:
    return format_time(at) if at else None


def time_or_none(text: Any) -> datetime | None:
    return parse_time(text) if isinstance(text, str) and text else None


def required_state(entity: Mapping[str, Any]) -> VmState:
    state = state_from(column.STATE, entity)
    if state is None:
        raise ValueError(f"ledger row {entity.get('RowKey')!r} has no state")
    return state


def etag_of(entity: Mapping[str, Any]) -> str | None:
    metadata = getattr(entity, "metadata", None)
    etag = metadata.get("etag") if metadata else None
    return etag if isinstance(etag, str) else None
