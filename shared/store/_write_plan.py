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
from shared.store._month_rows import plan_append as months_append
from shared.store._month_rows import plan_rebuild as months_rebuild
from shared.store._records import CurrentRow, NewTransition, Outcome, TransitionRow, new_transition_row

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
    # Month rows ride in the same transaction: an in-order event still costs one round trip.
    months, mark = months_append(current, row, new.vm.vm_key, partition)
    if current is None:
        created = CurrentRow(new.vm, row.state, policy.label, key, new.time, key, new.time, None, mark)
        operations: list[TableOperation] = [
            (TransactionOperation.CREATE, transition_entity(row, partition)),
            *months,
            (TransactionOperation.CREATE, current_entity(created)),
        ]
        return WritePlan(operations, created, registers_subscription=True)
    updated = replace(
        current, state=row.state, billing_policy=policy.label, last_key=key, last_time=new.time, totals=mark
    )
    operations = [
        (TransactionOperation.CREATE, transition_entity(row, partition)),
        *months,
        replace_operation(current_entity(updated), current.etag),
    ]
    return WritePlan(operations, updated)


def plan_insert(
    new: NewTransition,
    key: str,
    current: CurrentRow,
    tail: Sequence[TransitionRow],
    policy: BillingPolicy,
    *,
    before: Sequence[TransitionRow] = (),
) -> WritePlan:
    """Slot ``new`` in before the VM's last transition (or find it already there) and re-derive after it.

    ``tail`` is every recorded transition from ``key`` on, in key order, as just read; ``before`` the
    ones of the same month before ``key`` (the month rows from there on are rewritten).
    """
    partition = new.vm.subscription_key
    operations: list[TableOperation] = []
    if tail and tail[0].key == key:
        # Already recorded; a write interrupted between transactions may have left rows to repair.
        outcome, following, touch_next = Outcome.DUPLICATE, tail[1:], False
        state = _derive(tail[0].prev, tail[0], policy)
        head = replace(tail[0], state=state)
        if state != tail[0].state:
            operations.append(replace_operation(transition_entity(head, partition), tail[0].etag))
    else:
        head = new_transition_row(new, key, _prev_for_insert(new, tail, current), policy)
        operations.append((TransactionOperation.CREATE, transition_entity(head, partition)))
        outcome, state, following, touch_next = Outcome.RECORDED, head.state, tail, True
    state, rewrites = _recompute(following, state, touch_next, policy)
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
    if key < current.first_key:
        updated = replace(updated, first_key=key, first_time=new.time)
    write_current = end_changed or updated != current
    if operations or write_current:
        rewritten = {row.key: row for row in rewrites}
        final = [*before, head, *(rewritten.get(row.key, row) for row in following)]
        months, mark = months_rebuild(current, final, partition, first=final[0].key == updated.first_key)
        operations += months
        updated = replace(updated, totals=mark)
    if write_current or updated != current:
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
) -> tuple[VmState, list[TransitionRow]]:
    """Re-derive every row after a changed one; return the end state and the rows that differ.

    The whole tail was read anyway, so nothing stops at the first row that comes out as stored: a
    write cut off between two transactions may have left rows further on that need repair.
    """
    rewrites: list[TransitionRow] = []
    for index, row in enumerate(following):
        new_state = _derive(state, row, policy)
        if row.prev != state or row.state != new_state or (touch_next and index == 0):
            rewrites.append(replace(row, prev=state, state=new_state))
        state = new_state
    return state, rewrites


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
