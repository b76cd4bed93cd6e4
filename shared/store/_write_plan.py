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

from shared.domain.vm_state import BillingPolicy, state_before_first
from shared.store._entities import current_entity, transition_entity
from shared.store._keys import CURRENT_PREFIX
from shared.store._month_rows import plan_append as months_append
from shared.store._records import (
    CurrentRow,
    NewTransition,
    Outcome,
    Source,
    TransitionRow,
    begins_condition,
    new_transition_row,
)

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
    prev = current.state if current else state_before_first(new.change, new.time)
    row = new_transition_row(new, key, prev, policy, current.last_key if current else "")
    partition = new.vm.subscription_key
    # Month rows ride in the same transaction: an in-order event still costs one round trip.
    months, mark = months_append(current, row, new.vm.vm_key, partition)
    if current is None:
        created = _noted(
            new,
            row,
            CurrentRow(new.vm, row.state, policy.label, key, new.time, key, new.time, None, months=mark),
        )
        operations: list[TableOperation] = [
            (TransactionOperation.CREATE, transition_entity(row, partition)),
            *months,
            (TransactionOperation.CREATE, current_entity(created)),
        ]
        return WritePlan(operations, created, registers_subscription=True)
    updated = replace(
        current, state=row.state, billing_policy=policy.label, last_key=key, last_time=new.time, months=mark
    )
    updated = _noted(new, row, updated)
    operations = [
        (TransactionOperation.CREATE, transition_entity(row, partition)),
        *months,
        replace_operation(current_entity(updated), current.etag),
    ]
    return WritePlan(operations, updated)


def _noted(new: NewTransition, row: TransitionRow, current: CurrentRow) -> CurrentRow:
    """``current`` with what findings read (``row`` as cause if it began the condition) and ``noted``."""
    current = noted(new, current)
    if begins_condition(row):
        current = replace(current, last_cause_source=row.source, last_cause_operation=row.operation_name)
    return current


def noted(new: NewTransition, current: CurrentRow) -> CurrentRow:
    """``current`` with the Flexible scale set ``new`` was listed in and, for an Activity Log record, the
    time of the latest one (an event near it is then checked for being the same operation)."""
    if new.member_of and new.member_of != current.member_of:
        current = replace(current, member_of=new.member_of)
    if new.source != Source.ACTIVITY_LOG:
        return current
    mark = current.activity_log_until
    return replace(current, activity_log_until=max(mark, new.time) if mark else new.time)


def replace_operation(entity: Entity, etag: str | None) -> TableOperation:
    return (
        TransactionOperation.UPDATE,
        entity,
        {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
    )


def writes_current(operation: TableOperation) -> bool:
    return str(operation[1]["RowKey"]).startswith(CURRENT_PREFIX)
