"""The ledger in Azure Table Storage: reading VM rows and recording transitions safely.

Recording is idempotent per event id, ordered by event time, and safe with concurrent writers: the
writes are planned from what was read (``_write_plan``, ``_tail_plan``) and committed as entity group
transactions; a conflict (412, or 409 on the current row) re-reads and tries again.

An event costs one transaction when it is the VM's latest (its month-row entry rides in it), plus a
point read on a cold instance; one point read when already recorded; and the rows it changes when late
(streamed by ``_tail_writer``; the month rows are then left to the timer's rebuild). A current row marked
``Pending`` is finished first, and one that contradicts the rows (seen twice, so a race is not taken for
it) is rebuilt: redelivery in any order converges whatever rows were lost.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import NoReturn

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy
from shared.errors import StorageUnavailable
from shared.store._confirm import confirm_rows, merge_columns
from shared.store._current_cache import CurrentRowCache
from shared.store._entities import current_from_entity, transition_from_entity
from shared.store._errors import storage_errors, translated, unavailable
from shared.store._inventory import spec_fields
from shared.store._keys import (
    SUBSCRIPTIONS_PARTITION,
    current_key,
    current_prefix,
    split_current_cursor,
    time_key,
    time_key_after,
    transition_key,
    transitions_prefix,
    upper_bound,
)
from shared.store._matching import same_operation_recorded
from shared.store._records import CurrentRow, NewTransition, Outcome, TransitionRow
from shared.store._tail_writer import TailConflict, TailWriter, query_range
from shared.store._write_plan import TableOperation, WritePlan, plan_append, writes_current
from shared.store.months import MonthRows
from shared.store.price_book import PriceBook

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 30  # capped exponential backoff: late events take the current row too


class ConflictRetriesExhausted(RuntimeError):
    """Writers kept racing on one VM; raising lets Event Grid deliver the event again later."""


class _Conflict(Exception):
    """Another writer changed the VM's rows since they were read: read again and retry."""


class _AlreadyRecorded(Exception):
    """The transition's row exists: another writer recorded it since our (possibly cached) read."""


class _Suspect(Exception):
    """The current row contradicts the rows; a fresh read decides whether it was a race."""


class _Repaired(Exception):
    """Rows were repaired before recording: record again on the repaired current row."""


class Ledger:
    """All reads and writes of ledger rows go through here."""

    def __init__(self, table: TableClient, policy: BillingPolicy, *, cache_size: int = 10_000) -> None:
        self.table = table
        self.policy = policy
        self._cache = CurrentRowCache(cache_size)
        self._tail = TailWriter(table, policy)

    # ---- reads -------------------------------------------------------------------------------------

    def get_current(self, vm: VmId) -> CurrentRow | None:
        """The VM's current row (one point read), or ``None`` when the ledger has never seen it."""
        with storage_errors():
            try:
                entity = self.table.get_entity(vm.subscription_key, current_key(vm))
            except ResourceNotFoundError:
                return None
        return current_from_entity(entity)

    def iter_transitions(
        self,
        vm: VmId,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        after: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[TransitionRow]:
        """The VM's transitions at or after ``start`` and at or before ``end``, in time order, lazily.

        ``after`` is the key of a row returned before: the rows after it, for the next page.
        """
        prefix = transitions_prefix(vm)
        low = after if after is not None else (time_key(vm, start) if start else prefix)
        high = time_key_after(vm, end) if end else upper_bound(prefix)
        entities = query_range(self.table, vm.subscription_key, low, high, page_size)
        rows = (transition_from_entity(entity) for entity in entities)
        return translated((row for row in rows if row.key != after) if after is not None else rows)

    def iter_current_rows(
        self, subscription: str | None = None, *, group: str | None = None, after: str | None = None,
        page_size: int = 1000, scale_set: str | None = None,
    ) -> Iterator[CurrentRow]:  # fmt: skip
        """Current rows of one subscription (or of every one, in order), optionally one resource group,
        or (``scale_set`` with ``group``) the instances of one Uniform scale set.

        ``after`` is ``cursor_of`` a row returned before: the rows after it, for the next page.
        """
        prefix = current_prefix(group, scale_set)
        return translated(self._current_rows(subscription, prefix, after, page_size))

    def _current_rows(
        self, subscription: str | None, prefix: str, after: str | None, page_size: int
    ) -> Iterator[CurrentRow]:
        subscriptions = [subscription.lower()] if subscription else sorted(self.list_subscriptions())
        after_sub, after_key = split_current_cursor(after or "")
        for sub in subscriptions:
            if after_sub and sub < after_sub:
                continue
            resume = sub == after_sub and after_key > prefix
            entities = query_range(
                self.table,
                sub,
                after_key if resume else prefix,
                upper_bound(prefix),
                page_size,
                start_inclusive=not resume,
            )
            yield from (current_from_entity(entity) for entity in entities)

    def list_subscriptions(self) -> list[str]:
        """Subscription ids (lower case) that have VMs in the ledger."""
        with storage_errors():
            entities = self.table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": SUBSCRIPTIONS_PARTITION}, select=["RowKey"]
            )
            return [entity["RowKey"] for entity in entities]

    @property
    def months(self) -> MonthRows:
        """Each VM's transitions month by month, compact: what fleet answers read (``store.months``)."""
        return MonthRows(self.table)

    @property
    def prices(self) -> PriceBook:
        """The cached retail prices, in the same table."""
        return PriceBook(self.table)

    # ---- writes ------------------------------------------------------------------------------------

    def set_member_of(self, current: CurrentRow, member_of: str) -> bool:
        """Keep on ``current``'s row the Flexible scale set its VM was listed in (one merge, checked by the
        row's ETag so it never overwrites a newer state); ``False`` when another writer came first."""
        etag = current.etag
        if etag is None:
            fresh = self.get_current(current.vm)
            if fresh is None or fresh.etag is None:
                return False
            etag = fresh.etag
        self._cache.forget(current.vm)
        with storage_errors():
            return merge_columns(self.table, current.vm, etag, {"memberOf": member_of})

    def update_inventory(self, row: CurrentRow, spec: VmSpec, listed_at: datetime) -> bool:
        """Merge ``spec`` into the current row on ``row``'s ETag; ``False`` if it changed since."""
        self._cache.forget(row.vm)
        with storage_errors():
            return merge_columns(self.table, row.vm, row.etag, spec_fields(spec, listed_at))

    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> Outcome:
        """Record ``new`` once; return ``RECORDED`` or ``DUPLICATE``. Raises on storage failures.

        ``known_current`` is a current row the caller has just read (with its ETag), saving a read.
        """
        suspect = False
        for attempt in range(MAX_ATTEMPTS):
            cached = known_current or (None if suspect else self._cache.get(new.vm))
            current = cached or self.get_current(new.vm)
            known_current = None
            try:
                fresh = cached is None
                return self._record_once(new, current, fresh=fresh, suspect=suspect and fresh)
            except _Suspect:
                self._cache.forget(new.vm)
                suspect = True
                continue
            except _Repaired:
                suspect = False
                continue
            except AzureError as err:
                # The write may have landed although it failed here: the cached row is no longer trusted.
                self._cache.forget(new.vm)
                raise unavailable(err) from err
            except StorageUnavailable:
                self._cache.forget(new.vm)
                raise
            except (_Conflict, TailConflict):
                suspect = False
                self._cache.forget(new.vm)
                logger.debug("write conflict on %s (attempt %d), retrying", new.vm.resource_id, attempt + 1)
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))
        raise ConflictRetriesExhausted(
            f"gave up after {MAX_ATTEMPTS} conflicting writes on {new.vm.resource_id}"
        )

    def _record_once(
        self, new: NewTransition, current: CurrentRow | None, *, fresh: bool, suspect: bool
    ) -> Outcome:
        """One attempt. ``fresh``: ``current`` was read just now, not taken from the cache. ``suspect``:
        the last attempt found ``current`` contradicting the rows, and it has been read again since;
        finding the same again means it must be rebuilt."""
        key = transition_key(new.vm, new.time, new.event_id)
        if current is not None and current.pending is not None:
            self._repaired(self._tail.finish_pending(current), new.vm)
        if current is None and self._tail.has_rows(new.vm):
            # Rows without a current row (it was lost): rebuild it from them before anything else.
            self._register_subscription(new.vm)
            self._repaired(self._tail.rebuild(new.vm, None), new.vm)
        if same_operation_recorded(self.table, new, key, current):
            return Outcome.DUPLICATE
        if current is None or key > current.last_key:
            if suspect:
                self._repaired(self._tail.rebuild(new.vm, current), new.vm)
            try:
                return self._commit(plan_append(new, key, current, self.policy))
            except _AlreadyRecorded:
                # The row exists although the current row knows nothing of it: a race, or a lost row.
                raise _Suspect() from None
        if self._tail.get_transition(new.vm, key) is not None:
            if key >= current.first_key:
                return Outcome.DUPLICATE
            if suspect:
                self._repaired(self._tail.rebuild(new.vm, current), new.vm)
            raise _Suspect()
        self._cache.remember(self._tail.insert_late(new, key, current, verified=fresh))
        return Outcome.RECORDED

    def _repaired(self, current: CurrentRow | None, vm: VmId) -> NoReturn:
        if current is None:
            self._cache.forget(vm)
        else:
            self._cache.remember(current)
        raise _Repaired()

    def _commit(self, plan: WritePlan) -> Outcome:
        if plan.registers_subscription:
            self._register_subscription(plan.current.vm)
        operations = plan.operations
        try:
            results = self.table.submit_transaction(operations)
        except TableTransactionError as err:
            raise _classify(err, operations) from err
        if writes_current(operations[-1]):
            self._cache.remember(plan.current.with_etag(results[-1].get("etag")))
        return plan.outcome

    def confirm(self, rows: Sequence[tuple[VmId, str | None]], at: datetime) -> int:
        """Record that a listing at ``at`` found these VMs (with their current rows' ETags as read) as the
        ledger has them; return how many were confirmed (a row written since it was read is skipped: its
        new transition confirms it). 100 VMs a round trip."""
        for vm, _ in rows:
            self._cache.forget(vm)  # each merge changes the row's ETag
        with storage_errors():
            return confirm_rows(self.table, rows, at)

    def _register_subscription(self, vm: VmId) -> None:
        """Before a VM's first row exists, so listing VMs never misses a subscription."""
        self.table.upsert_entity(
            {"PartitionKey": SUBSCRIPTIONS_PARTITION, "RowKey": vm.subscription_key}, mode=UpdateMode.MERGE
        )


def _classify(err: TableTransactionError, operations: list[TableOperation]) -> Exception:
    """A failed transaction is a duplicate (409 on the transition), a race (412 / 409 elsewhere), or real."""
    status = err.status_code
    index = getattr(err, "index", 0) or 0
    first = operations[0]
    if status == 409 and index == 0 and first[0] == TransactionOperation.CREATE and not writes_current(first):
        return _AlreadyRecorded()
    if status in (409, 412):
        return _Conflict()
    return err
