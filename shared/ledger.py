"""The ledger in Azure Table Storage: reading VM rows and recording transitions safely.

Recording is idempotent per event id, ordered by event time, and safe with concurrent writers:

- the common case (an event newer than the VM's last transition) appends the transition and replaces
  the current row in one entity group transaction, conditional on the current row's ETag;
- a late event is slotted in at its time: the transitions after it are read, the states that followed
  it are recomputed, and every changed row is written with its ETag, always including the next row so a
  racing writer that read the same neighbourhood conflicts instead of silently winning;
- a conflict (412, or 409 on the current row) re-reads and tries again; a 409 on the transition itself
  means the event is already recorded.

A warm instance keeps the current rows it wrote (with their ETags) so a steady stream of events costs
one round trip each; a stale cache entry only costs a 412 and a re-read.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.resource_ids import VmId
from shared.rows import (
    CURRENT_PREFIX,
    SUBSCRIPTIONS_PARTITION,
    CurrentRow,
    NewTransition,
    TransitionRow,
    current_entity,
    current_from_entity,
    current_key,
    new_transition_row,
    transition_entity,
    transition_from_entity,
    transition_key,
    transitions_prefix,
    upper_bound,
)
from shared.states import BillingPolicy
from shared.transitions import VmState, apply_change, state_before_first

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_TRANSACTION_SIZE = 100
RECORDED = "recorded"
DUPLICATE = "duplicate"


class ConflictRetriesExhausted(RuntimeError):
    """Writers kept racing on one VM; raising lets Event Grid deliver the event again later."""


class _Conflict(Exception):
    pass


class _AlreadyRecorded(Exception):
    pass


@dataclass(frozen=True)
class _Plan:
    """The writes that record one transition: operations for one partition, current row last if at all."""

    operations: list[tuple[Any, ...]]
    current: CurrentRow
    outcome: str = RECORDED


class Ledger:
    """All reads and writes of ledger rows go through here."""

    def __init__(self, table: TableClient, policy: BillingPolicy, *, cache_size: int = 10_000) -> None:
        self.table = table
        self.policy = policy
        self._cache: OrderedDict[tuple[str, str], CurrentRow] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # ---- reads -------------------------------------------------------------------------------------

    def get_current(self, vm: VmId) -> CurrentRow | None:
        """The VM's current row (one point read), or ``None`` when the ledger has never seen it."""
        try:
            entity = self.table.get_entity(vm.subscription_key, current_key(vm))
        except ResourceNotFoundError:
            return None
        return current_from_entity(entity)

    def iter_transitions(
        self, vm: VmId, *, start_key: str | None = None, end_key: str | None = None, page_size: int = 1000
    ) -> Iterator[TransitionRow]:
        """The VM's transitions with ``start_key <= RowKey < end_key``, in time order, fetched lazily."""
        prefix = transitions_prefix(vm)
        yield from (
            transition_from_entity(entity)
            for entity in self.query_range(
                vm.subscription_key, start_key or prefix, end_key or upper_bound(prefix), page_size=page_size
            )
        )

    def query_range(
        self, partition: str, start_key: str, end_key: str, *, page_size: int = 1000, start_inclusive=True
    ) -> Iterator[dict[str, Any]]:
        """Entities of one partition in a RowKey range; filters only ever take values as parameters."""
        low = "ge" if start_inclusive else "gt"
        return iter(
            self.table.query_entities(
                f"PartitionKey eq @pk and RowKey {low} @low and RowKey lt @high",
                parameters={"pk": partition, "low": start_key, "high": end_key},
                results_per_page=page_size,
            )
        )

    def list_subscriptions(self) -> list[str]:
        """Subscription ids (lower case) that have VMs in the ledger."""
        entities = self.table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": SUBSCRIPTIONS_PARTITION}, select=["RowKey"]
        )
        return [entity["RowKey"] for entity in entities]

    # ---- writes ------------------------------------------------------------------------------------

    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> str:
        """Record ``new`` once; return ``RECORDED`` or ``DUPLICATE``. Raises on storage failures.

        ``known_current`` is a current row the caller has just read (with its ETag), saving a read.
        """
        for attempt in range(MAX_ATTEMPTS):
            current = known_current or self._cached(new.vm) or self.get_current(new.vm)
            known_current = None
            try:
                return self._record_once(new, current)
            except AzureError:
                # The write may have landed although it failed here: the cached row is no longer trusted.
                self._forget(new.vm)
                raise
            except _Conflict:
                self._forget(new.vm)
                logger.debug("write conflict on %s (attempt %d), retrying", new.vm.resource_id, attempt + 1)
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise ConflictRetriesExhausted(
            f"gave up after {MAX_ATTEMPTS} conflicting writes on {new.vm.resource_id}"
        )

    def _record_once(self, new: NewTransition, current: CurrentRow | None) -> str:
        key = transition_key(new.vm, new.time, new.event_id)
        if current is None or key > current.last_key:
            try:
                return self._commit(self._plan_append(new, key, current))
            except _AlreadyRecorded:
                # Recorded by another writer since our (possibly cached) read: look at it afresh.
                raise _Conflict() from None
        plan = self._plan_insert(new, key, current)
        if not plan.operations:
            return plan.outcome
        try:
            return self._commit(plan)
        except _AlreadyRecorded:
            raise _Conflict() from None

    def _plan_append(self, new: NewTransition, key: str, current: CurrentRow | None) -> _Plan:
        prev = current.state if current else state_before_first(new.change, new.time)
        row = self._new_row(new, key, prev)
        if current is None:
            self._register_subscription(new.vm)
            updated = CurrentRow(new.vm, row.state, self.policy.label, key, new.time, key, new.time, None)
            return _Plan(
                [
                    ("create", self._entity(new.vm, row)),
                    ("create", current_entity(updated)),
                ],
                updated,
            )
        updated = replace(
            current, state=row.state, billing_policy=self.policy.label, last_key=key, last_time=new.time
        )
        return _Plan(
            [
                ("create", self._entity(new.vm, row)),
                _replace_op(current_entity(updated), current.etag),
            ],
            updated,
        )

    def _plan_insert(self, new: NewTransition, key: str, current: CurrentRow) -> _Plan:
        """Slot a transition in before the last one (or find it already there) and recompute after it."""
        tail = list(self.iter_transitions(new.vm, start_key=key))
        operations: list[tuple[Any, ...]] = []
        if tail and tail[0].key == key:
            # Already recorded; a write interrupted between transactions may have left rows to repair.
            outcome, following, touch_next = DUPLICATE, tail[1:], False
            state = self._derive(tail[0].prev, tail[0])
            if state != tail[0].state:
                operations.append(
                    _replace_op(self._entity(new.vm, replace(tail[0], state=state)), tail[0].etag)
                )
        else:
            row = self._new_row(new, key, self._prev_for_insert(new, tail, current))
            operations.append(("create", self._entity(new.vm, row)))
            outcome, state, following, touch_next = RECORDED, row.state, tail, True
        state, rewrites = self._recompute(following, state, touch_next)
        operations += [_replace_op(self._entity(new.vm, row), row.etag) for row in rewrites]
        # The current row is rewritten when the recomputed end differs from the last stored row (read just
        # now) or from ``current``: a cached ``current`` may be stale (another instance wrote, or a write
        # landed but its answer was lost), and a write cut off between two transactions may have left the
        # current row behind its rows. Only a write of the current row is checked by its ETag, so a stale
        # copy costs a 412 and a re-read, never a silent mismatch.
        last_stored = tail[-1].state if tail else current.state
        end_changed = state != last_stored or state != current.state
        updated = current
        if end_changed:
            updated = replace(updated, state=state, billing_policy=self.policy.label)
        if key < current.first_key:
            updated = replace(updated, first_key=key, first_time=new.time)
        if end_changed or updated != current:
            operations.append(_replace_op(current_entity(updated), current.etag))
        return _Plan(operations, updated, outcome)

    @staticmethod
    def _prev_for_insert(
        new: NewTransition, tail: list[TransitionRow], current: CurrentRow
    ) -> VmState | None:
        if not tail:
            return current.state
        if tail[0].key == current.first_key:
            return state_before_first(new.change, new.time)
        return tail[0].prev

    def _recompute(
        self, following: list[TransitionRow], state: VmState, touch_next: bool
    ) -> tuple[VmState, list[TransitionRow]]:
        """Re-derive every row after a changed one; return the end state and the rows that differ.

        The whole tail was read anyway, so nothing stops at the first row that comes out as stored: a
        write cut off between two transactions may have left rows further on that need repair.
        """
        rewrites: list[TransitionRow] = []
        for index, row in enumerate(following):
            new_state = self._derive(state, row)
            if row.prev != state or row.state != new_state or (touch_next and index == 0):
                rewrites.append(replace(row, prev=state, state=new_state))
            state = new_state
        return state, rewrites

    def _derive(self, prev: VmState | None, row: TransitionRow) -> VmState:
        """A recorded row keeps the billing policy that flagged it: a new setting does not rewrite history."""
        return apply_change(prev, row.change, row.time, _recorded_policy(row.billing_policy, self.policy))

    def _new_row(self, new: NewTransition, key: str, prev: VmState | None) -> TransitionRow:
        return new_transition_row(new, key, prev, self.policy)

    @staticmethod
    def _entity(vm: VmId, row: TransitionRow) -> dict[str, Any]:
        return transition_entity(row, vm.subscription_key)

    def _commit(self, plan: _Plan) -> str:
        operations = plan.operations
        try:
            for start in range(0, len(operations), MAX_TRANSACTION_SIZE):
                results = self.table.submit_transaction(operations[start : start + MAX_TRANSACTION_SIZE])
        except TableTransactionError as err:
            raise _classify(err, operations) from err
        if _writes_current(operations[-1]):
            self._remember(replace(plan.current, etag=results[-1].get("etag")))
        return plan.outcome

    def _register_subscription(self, vm: VmId) -> None:
        """Before a VM's first row exists, so ``list_vms`` never misses a subscription."""
        self.table.upsert_entity(
            {"PartitionKey": SUBSCRIPTIONS_PARTITION, "RowKey": vm.subscription_key}, mode=UpdateMode.MERGE
        )

    # ---- warm-instance cache ------------------------------------------------------------------------

    def _cache_key(self, vm: VmId) -> tuple[str, str]:
        return vm.subscription_key, vm.vm_key

    def _cached(self, vm: VmId) -> CurrentRow | None:
        with self._lock:
            return self._cache.get(self._cache_key(vm))

    def _remember(self, row: CurrentRow) -> None:
        with self._lock:
            self._cache[self._cache_key(row.vm)] = row
            self._cache.move_to_end(self._cache_key(row.vm))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _forget(self, vm: VmId) -> None:
        with self._lock:
            self._cache.pop(self._cache_key(vm), None)


def _replace_op(entity: dict[str, Any], etag: str | None) -> tuple[Any, ...]:
    return (
        "update",
        entity,
        {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified},
    )


@functools.lru_cache(maxsize=64)
def _parsed_policy(label: str) -> BillingPolicy:
    return BillingPolicy.parse(label)


def _recorded_policy(label: str, default: BillingPolicy) -> BillingPolicy:
    try:
        return _parsed_policy(label) if label else default
    except ValueError:
        return default


def _writes_current(operation: tuple[Any, ...]) -> bool:
    return operation[1]["RowKey"].startswith(CURRENT_PREFIX)


def _classify(err: TableTransactionError, operations: list[tuple[Any, ...]]) -> Exception:
    """A failed transaction is a duplicate (409 on the transition), a race (412 / 409 elsewhere), or real."""
    status = err.status_code
    index = getattr(err, "index", 0) or 0
    if status == 409 and index == 0 and operations[0][0] == "create" and not _writes_current(operations[0]):
        return _AlreadyRecorded()
    if status in (409, 412):
        return _Conflict()
    return err
