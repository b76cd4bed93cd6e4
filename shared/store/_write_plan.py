"""Planning the writes that record one transition: pure functions of what was read, no I/O.

- An event newer than the VM's last transition appends its row and replaces the current row, in one
  transaction conditional on the current row's ETag.
- A late event is slotted in at its time and the rows after it re-derived: that is planned row by row,
  so that it can be streamed, in ``_tail_plan``.
- An event already recorded changes nothing (the ledger finds it with one point read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TransactionOperation, UpdateMode

from shared.domain.evidence import ActivityLogRecord, ListingObservation, NewTransition
from shared.domain.vm_state import BillingPolicy, state_before_first
from shared.store._day_rows import plan_append as days_append
from shared.store._entities import current_entity
from shared.store._keys import CURRENT_PREFIX
from shared.store._month_rows import plan_append as months_append
from shared.store._records import (
    Condition,
    CurrentRow,
    Outcome,
    Span,
    begins_condition,
    new_transition_row,
    with_cause,
)
from shared.store._transition_entities import transition_entity

Entity = dict[str, Any]
TableOperation = tuple[TransactionOperation, Entity] | tuple[TransactionOperation, Entity, Mapping[str, Any]]


@dataclass(frozen=True)
class WritePlan:
    """The writes that record one transition: operations for one partition, the current row last if at all.

    ``registers_subscription``: the subscription must be listed in the registry before these writes, so
    that listing VMs never misses one.
    """

    operations: list[TableOperation]
    current: CurrentRow
    outcome: Outcome = Outcome.RECORDED
    registers_subscription: bool = False


def plan_append(new: NewTransition, key: str, current: CurrentRow | None, policy: BillingPolicy) -> WritePlan:
    """``new`` is after every recorded transition of its VM (or the VM is new)."""
    prev = current.condition.state if current else state_before_first(new.change, new.time)
    row = new_transition_row(new, key, prev, policy, current.span.last_key if current else "")
    partition = new.vm.subscription_key
    # Month rows and closed days ride in the same transaction: an in-order event still costs one round trip.
    months, mark = months_append(current, row, new.vm.vm_key, partition)
    days, open_day = days_append(
        current.upkeep.days if current and mark else None, current is None, prev,
        current.span.last_time if current else None, row, new.vm.vm_key, partition,
    )  # fmt: skip
    created = current is None
    if current is None:
        current = CurrentRow(
            new.vm, Condition(row.state, policy.label), Span(key, new.time, key, new.time), None
        )
    updated = replace(
        current,
        condition=replace(current.condition, state=row.state, billing_policy=policy.label),
        span=replace(current.span, last_key=key, last_time=new.time),
        upkeep=replace(current.upkeep, months=mark, days=open_day),
    )
    updated = kept_from_evidence(updated, new)
    if begins_condition(row):
        updated = with_cause(updated, row.origin)
    operations: list[TableOperation] = [
        (TransactionOperation.CREATE, transition_entity(row, partition)),
        *months,
        *days,
        (TransactionOperation.CREATE, current_entity(updated))
        if created
        else replace_operation(current_entity(updated), current.etag),
    ]
    return WritePlan(operations, updated, registers_subscription=created)


def kept_from_evidence(current: CurrentRow, new: NewTransition) -> CurrentRow:
    """``current`` with what it keeps of ``new``'s evidence: the Flexible scale set a listing named, and
    the time of the latest Activity Log record (an event near it is then checked for being the same
    operation)."""
    evidence = new.evidence
    if isinstance(evidence, ListingObservation):
        listed = evidence.scale_set_id
        if listed and listed != current.profile.scale_set_id:
            return replace(current, profile=replace(current.profile, scale_set_id=listed))
    elif isinstance(evidence, ActivityLogRecord):
        seen = current.upkeep.activity_log_until
        until = max(seen, new.time) if seen else new.time
        return replace(current, upkeep=replace(current.upkeep, activity_log_until=until))
    return current


def replace_operation(entity: Entity, etag: str | None) -> TableOperation:
    return (
        TransactionOperation.UPDATE,
        entity,
        {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
    )


def writes_current(operation: TableOperation) -> bool:
    return str(operation[1]["RowKey"]).startswith(CURRENT_PREFIX)
