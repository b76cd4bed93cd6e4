"""Planning the writes that record one transition: pure functions of what was read, no I/O.

- An event newer than the VM's last transition appends its row and replaces the current row, in one
  transaction conditional on the current row's ETag.
- A late event is slotted in at its time: the rows after it (read by the caller) are re-derived, and
  every changed row is written with its ETag, always including the next row so a racing writer that read
  the same neighbourhood conflicts instead of silently winning.
- An event already recorded changes nothing, unless a write cut off between two transactions left rows
  to repair.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TransactionOperation, UpdateMode

from shared.domain.vm_state import BillingPolicy, VmState, apply_change, state_before_first
from shared.store._entities import current_entity, transition_entity
from shared.store._keys import CURRENT_PREFIX
from shared.store._records import (
    CurrentRow,
    NewTransition,
    Outcome,
    Source,
    TransitionRow,
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
    row = new_transition_row(new, key, prev, policy)
    partition = new.vm.subscription_key
    if current is None:
        created = _noted(
            new, row, CurrentRow(new.vm, row.state, policy.label, key, new.time, key, new.time, None)
        )
        operations: list[TableOperation] = [
            (TransactionOperation.CREATE, transition_entity(row, partition)),
            (TransactionOperation.CREATE, current_entity(created)),
        ]
        return WritePlan(operations, created, registers_subscription=True)
    updated = replace(current, state=row.state, billing_policy=policy.label, last_key=key, last_time=new.time)
    updated = _noted(new, row, updated)
    operations = [
        (TransactionOperation.CREATE, transition_entity(row, partition)),
        replace_operation(current_entity(updated), current.etag),
    ]
    return WritePlan(operations, updated)


def _noted(new: NewTransition, row: TransitionRow, current: CurrentRow) -> CurrentRow:
    """``current`` with what findings read (``row`` as cause if it began the condition; the Activity Log
    mark) and the Flexible scale set the VM was listed in."""
    if new.member_of and new.member_of != current.member_of:
        current = replace(current, member_of=new.member_of)
    if row.state.since == row.time:
        current = replace(current, last_cause_source=row.source, last_cause_operation=row.operation_name)
    return _with_activity_log_mark(new, current)


def _with_activity_log_mark(new: NewTransition, current: CurrentRow) -> CurrentRow:
    if new.source != Source.ACTIVITY_LOG:
        return current
    mark = current.activity_log_until
    return replace(current, activity_log_until=max(mark, new.time) if mark else new.time)


def plan_insert(
    new: NewTransition, key: str, current: CurrentRow, tail: Sequence[TransitionRow], policy: BillingPolicy
) -> WritePlan:
    """Slot ``new`` in before the VM's last transition (or find it already there) and re-derive after it.

    ``tail`` is every recorded transition from ``key`` on, in key order, as just read.
    """
    partition = new.vm.subscription_key
    operations: list[TableOperation] = []
    if tail and tail[0].key == key:
        # Already recorded; a write interrupted between transactions may have left rows to repair.
        outcome, following, touch_next = Outcome.DUPLICATE, tail[1:], False
        state = _derive(tail[0].prev, tail[0], policy)
        if state != tail[0].state:
            operations.append(
                replace_operation(transition_entity(replace(tail[0], state=state), partition), tail[0].etag)
            )
    else:
        row = new_transition_row(new, key, _prev_for_insert(new, tail, current), policy)
        operations.append((TransactionOperation.CREATE, transition_entity(row, partition)))
        outcome, state, following, touch_next = Outcome.RECORDED, row.state, tail, True
    first = tail[0] if outcome == Outcome.DUPLICATE else row
    cause = first if first.state.since == first.time else None
    state, rewrites, later_cause = _recompute(following, state, touch_next, policy)
    cause = later_cause or cause
    operations += [replace_operation(transition_entity(row, partition), row.etag) for row in rewrites]
    # The current row is rewritten when the recomputed end differs from the last stored row (read just
    # now) or from ``current``: a cached ``current`` may be stale (another instance wrote, or a write
    # landed but its answer was lost), and a write cut off between two transactions may have left the
    # current row behind its rows. Only a write of the current row is checked by its ETag, so a stale
    # copy costs a 412 and a re-read, never a silent mismatch.
    last_stored = tail[-1].state if tail else current.state
    end_changed = state != last_stored or state != current.state
    updated = current
    if end_changed:
        updated = replace(updated, state=state, billing_policy=policy.label)
    if cause is not None and cause.time == state.since:
        updated = replace(updated, last_cause_source=cause.source, last_cause_operation=cause.operation_name)
    if outcome == Outcome.RECORDED:
        updated = _with_activity_log_mark(new, updated)
    if key < current.first_key:
        updated = replace(updated, first_key=key, first_time=new.time)
    if outcome == Outcome.RECORDED and new.member_of and new.member_of != current.member_of:
        updated = replace(updated, member_of=new.member_of)
    if end_changed or updated != current:
        operations.append(replace_operation(current_entity(updated), current.etag))
    return WritePlan(operations, updated, outcome)


def replace_operation(entity: Entity, etag: str | None) -> TableOperation:
    return (
        TransactionOperation.UPDATE,
        entity,
        {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
    )


def writes_current(operation: TableOperation) -> bool:
    return str(operation[1]["RowKey"]).startswith(CURRENT_PREFIX)


def _prev_for_insert(
    new: NewTransition, tail: Sequence[TransitionRow], current: CurrentRow
) -> VmState | None:
    if not tail:
        return current.state
    if tail[0].key == current.first_key:
        return state_before_first(new.change, new.time)
    return tail[0].prev


def _recompute(
    following: Sequence[TransitionRow], state: VmState, touch_next: bool, policy: BillingPolicy
) -> tuple[VmState, list[TransitionRow], TransitionRow | None]:
    """Re-derive every row after a changed one; return the end state, the rows that differ, and the last
    row that began a condition (the cause of the end state when its time is the end state's ``since``).

    The whole tail was read anyway, so nothing stops at the first row that comes out as stored: a
    write cut off between two transactions may have left rows further on that need repair.
    """
    rewrites: list[TransitionRow] = []
    cause: TransitionRow | None = None
    for index, row in enumerate(following):
        new_state = _derive(state, row, policy)
        if row.prev != state or row.state != new_state or (touch_next and index == 0):
            rewrites.append(replace(row, prev=state, state=new_state))
        if new_state.since == row.time:
            cause = row
        state = new_state
    return state, rewrites, cause


def _derive(prev: VmState | None, row: TransitionRow, policy: BillingPolicy) -> VmState:
    """A recorded row keeps the billing policy that flagged it: a new setting does not rewrite history."""
    return apply_change(prev, row.change, row.time, _recorded_policy(row.billing_policy, policy))


@functools.lru_cache(maxsize=64)
def _parsed_policy(label: str) -> BillingPolicy:
    return BillingPolicy.parse(label)


def _recorded_policy(label: str, default: BillingPolicy) -> BillingPolicy:
    try:
        return _parsed_policy(label) if label else default
    except ValueError:
        return default
