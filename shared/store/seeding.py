"""Writing a VM's history straight into the ledger's row format, for benchmarks that need large ledgers.

The rows are exactly what recording the same transitions in time order would write (each state derived
from the one before with the same policy), without paying a round trip per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient, TransactionOperation

from shared.domain.evidence import NewTransition
from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy, VmState, state_before_first
from shared.store._day_rows import DayCounter
from shared.store._entities import current_entity
from shared.store._keys import SUBSCRIPTIONS_PARTITION, TRANSITION_PREFIX, transition_key
from shared.store._month_rows import MarkCounter, plan_rebuild
from shared.store._records import (
    Condition,
    CurrentRow,
    Span,
    TransitionRow,
    Upkeep,
    VmProfile,
    begins_condition,
    new_transition_row,
)
from shared.store._transition_entities import transition_entity
from shared.store._write_plan import TableOperation


def seed_histories(
    table: TableClient,
    policy: BillingPolicy,
    histories: Iterable[Sequence[NewTransition]],
    *,
    current_only: bool = False,
    summaries_only: bool = False,
    spec_of: Callable[[VmId], VmSpec | None] | None = None,
    spec_at: datetime | None = None,
) -> None:
    """Write each VM's history (in time order), its month and day rows and current row, 100 entities per
    transaction; ``spec_of`` gives a VM's inventory (listed at ``spec_at``).

    ``current_only``: only the current rows, what fleet-wide answers (findings, reconcile) read.
    ``summaries_only``: the month, day and current rows without the transition rows: what ``/costs``
    reads when every VM's marks are set (histories too long for Azurite to take as rows in a benchmark)."""
    batches: dict[str, list[TableOperation]] = {}
    for history in histories:
        if not history:
            continue
        partition = history[0].vm.subscription_key
        if partition not in batches:
            register_subscription(table, partition)
        batch = batches.setdefault(partition, [])
        spec = spec_of(history[0].vm) if spec_of is not None else None
        entities = _history_entities(history, policy, spec, spec_at, current_only=current_only)
        for entity in entities:
            if not (summaries_only and entity["RowKey"].startswith(TRANSITION_PREFIX)):
                batch.append((TransactionOperation.UPSERT, entity))
            if len(batch) == 100:
                table.submit_transaction(batch)
                batch.clear()
    for batch in batches.values():
        if batch:
            table.submit_transaction(batch)


def _history_entities(
    history: Sequence[NewTransition],
    policy: BillingPolicy,
    spec: VmSpec | None,
    spec_at: datetime | None,
    *,
    current_only: bool,
) -> list[dict[str, Any]]:
    vm = history[0].vm
    prev: VmState | None = state_before_first(history[0].change, history[0].time)
    prev_key = ""
    rows: list[TransitionRow] = []
    for new in history:
        row = new_transition_row(new, transition_key(vm, new.time, new.evidence.id), prev, policy, prev_key)
        rows.append(row)
        prev, prev_key = row.state, row.key
    first, last = rows[0], rows[-1]
    counter, days = MarkCounter(), DayCounter()
    watched = days.seen(counter.seen(rows))
    months = [operation[1] for operation in plan_rebuild(watched, vm.vm_key, vm.subscription_key)]
    months += [operation[1] for operation in days.operations(vm.vm_key, vm.subscription_key)]
    # The last row that began a condition began the last one; none did when the VM is still in the unknown
    # state assumed before its first row: recording names no cause then either.
    cause = next((row for row in reversed(rows) if begins_condition(row)), None)
    current = CurrentRow(
        vm,
        Condition(last.state, policy.label, cause.origin if cause else None),
        Span(first.key, first.time, last.key, last.time),
        None,
        VmProfile(spec=spec, spec_at=spec_at if spec else None),
        Upkeep(months=counter.mark(), days=days.open),
    )
    if current_only:  # without its month rows, a VM's mark would be a lie
        return [current_entity(replace(current, upkeep=Upkeep()))]
    return [transition_entity(row, vm.subscription_key) for row in rows] + months + [current_entity(current)]


def in_order_entities(
    new: NewTransition, prev: VmState | None, policy: BillingPolicy, prev_key: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The transition entity and the current-row entity that recording ``new`` after ``prev`` (the state
    of row ``prev_key``) writes."""
    row = new_transition_row(new, transition_key(new.vm, new.time, new.evidence.id), prev, policy, prev_key)
    current = CurrentRow(
        new.vm, Condition(row.state, row.billing_policy), Span(row.key, row.time, row.key, row.time), None
    )
    return transition_entity(row, new.vm.subscription_key), current_entity(current)


def register_subscription(table: TableClient, subscription: str) -> None:
    table.upsert_entity({"PartitionKey": SUBSCRIPTIONS_PARTITION, "RowKey": subscription.lower()})
