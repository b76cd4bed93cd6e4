"""The ledger in Azure Table Storage: reading VM rows and recording transitions safely.

Recording is idempotent per event id, ordered by event time, and safe with concurrent writers: the
writes are planned from what was read (``_write_plan``) and committed as entity group transactions; a
conflict (412, or 409 on the current row) re-reads and tries again; a 409 on the transition itself means
the event is already recorded.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy
from shared.errors import StorageUnavailable
from shared.store._current_cache import CurrentRowCache
from shared.store._entities import current_from_entity, transition_from_entity
from shared.store._errors import storage_errors, translated, unavailable
from shared.store._inventory import spec_fields
from shared.store._keys import (
    SUBSCRIPTIONS_PARTITION,
    current_cursor,
    current_key,
    current_prefix,
    split_current_cursor,
    time_key,
    time_key_after,
    transition_key,
    transitions_prefix,
    upper_bound,
)
from shared.store._month_rows import VmMonth, collect, month_of, month_range, month_start
from shared.store._records import CurrentRow, NewTransition, Outcome, TransitionRow
from shared.store._write_plan import TableOperation, WritePlan, plan_append, plan_insert, writes_current
from shared.store.price_book import PriceBook

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 30
MAX_TRANSACTION_SIZE = 100
MAX_PAGE_SIZE = 1000


class ConflictRetriesExhausted(RuntimeError):
    """Writers kept racing on one VM; raising lets Event Grid deliver the event again later."""


class _Conflict(Exception):
    pass


class _AlreadyRecorded(Exception):
    pass


def cursor_of(row: CurrentRow) -> str:
    """The cursor that resumes a listing of current rows after ``row``."""
    return current_cursor(row.vm.subscription_key, current_key(row.vm))


class Ledger:
    """All reads and writes of ledger rows go through here."""

    def __init__(self, table: TableClient, policy: BillingPolicy, *, cache_size: int = 10_000) -> None:
        self.table = table
        self.policy = policy
        self._cache = CurrentRowCache(cache_size)

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
        rows = self._iter_transition_keys(vm, low, high, page_size)
        return translated((row for row in rows if row.key != after) if after is not None else rows)

    def iter_current_rows(
        self, subscription: str | None = None, *, group: str | None = None, after: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[CurrentRow]:  # fmt: skip
        """Current rows of one subscription (or of every one, in order), optionally one resource group.

        ``after`` is ``cursor_of`` a row returned before: the rows after it, for the next page.
        """
        return translated(self._current_rows(subscription, group, after, page_size))

    def _current_rows(
        self, subscription: str | None, group: str | None, after: str | None, page_size: int
    ) -> Iterator[CurrentRow]:
        subscriptions = [subscription.lower()] if subscription else sorted(self.list_subscriptions())
        prefix = current_prefix(group)
        after_sub, after_key = split_current_cursor(after or "")
        for sub in subscriptions:
            if after_sub and sub < after_sub:
                continue
            resume = sub == after_sub and after_key > prefix
            entities = self._query(
                sub,
                after_key if resume else prefix,
                upper_bound(prefix),
                page_size,
                start_inclusive=not resume,
            )
            yield from (current_from_entity(entity) for entity in entities)

    def read_months(
        self,
        subscription: str,
        months: Sequence[str],
        *,
        first_vm_key: str | None = None,
        last_vm_key: str | None = None,
        page_size: int = 1000,
    ) -> dict[str, dict[str, VmMonth]]:
        """Month rows (``_month_rows``) of ``months`` for every VM of ``subscription``, or for the VM keys
        from ``first_vm_key`` to ``last_vm_key``: one range query per month, ``page_size`` rows a page.
        VM key -> month -> its start and entries."""

        def entities() -> Iterator[Any]:
            for month in months:
                low, high = month_range(month, first_vm_key, last_vm_key)
                yield from self._query(subscription.lower(), low, high, page_size)

        with storage_errors():
            return collect(entities())

    def list_subscriptions(self) -> list[str]:
        """Subscription ids (lower case) that have VMs in the ledger."""
        with storage_errors():
            entities = self.table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": SUBSCRIPTIONS_PARTITION}, select=["RowKey"]
            )
            return [entity["RowKey"] for entity in entities]

    def _iter_transition_keys(self, vm: VmId, low: str, high: str, page_size: int) -> Iterator[TransitionRow]:
        return (transition_from_entity(e) for e in self._query(vm.subscription_key, low, high, page_size))

    def _query(
        self, partition: str, low: str, high: str, page_size: int, *, start_inclusive: bool = True
    ) -> Iterator[Any]:
        """Entities of one partition in a RowKey range; filters only ever take values as parameters."""
        operator = "ge" if start_inclusive else "gt"
        return iter(
            self.table.query_entities(
                f"PartitionKey eq @pk and RowKey {operator} @low and RowKey lt @high",
                parameters={"pk": partition, "low": low, "high": high},
                results_per_page=page_size,
            )
        )

    @property
    def prices(self) -> PriceBook:
        """The cached retail prices and the periodic jobs' marks, in the same table."""
        return PriceBook(self.table)

    # ---- writes ------------------------------------------------------------------------------------

    def update_inventory(self, row: CurrentRow, spec: VmSpec, listed_at: datetime) -> bool:
        """Merge ``spec`` into the VM's current row if the row still has ``row``'s ETag.

        Never touches state or transitions. ``False`` when a writer changed the row since it was read
        (the next refresh tries again).
        """
        entity = {"PartitionKey": row.vm.subscription_key, "RowKey": current_key(row.vm)}
        entity.update(spec_fields(spec, listed_at))
        with storage_errors():
            try:
                metadata = self.table.update_entity(
                    entity,
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                self._cache.forget(row.vm)
                return False
        self._cache.remember(replace(row, spec=spec, spec_at=listed_at, etag=metadata.get("etag")))
        return True

    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> Outcome:
        """Record ``new`` once; return ``RECORDED`` or ``DUPLICATE``. Raises on storage failures.

        ``known_current`` is a current row the caller has just read (with its ETag), saving a read.
        """
        for attempt in range(MAX_ATTEMPTS):
            current = known_current or self._cache.get(new.vm) or self.get_current(new.vm)
            known_current = None
            try:
                return self._record_once(new, current)
            except AzureError as err:
                # The write may have landed although it failed here: the cached row is no longer trusted.
                self._cache.forget(new.vm)
                raise unavailable(err) from err
            except StorageUnavailable:
                self._cache.forget(new.vm)
                raise
            except _Conflict:
                self._cache.forget(new.vm)
                logger.debug("write conflict on %s (attempt %d), retrying", new.vm.resource_id, attempt + 1)
                # Exponential with full jitter: a late event also takes the current row, so several
                # writers on one VM contend for one ETag.
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))
        raise ConflictRetriesExhausted(
            f"gave up after {MAX_ATTEMPTS} conflicting writes on {new.vm.resource_id}"
        )

    def _record_once(self, new: NewTransition, current: CurrentRow | None) -> Outcome:
        key = transition_key(new.vm, new.time, new.event_id)
        if current is None or key > current.last_key:
            plan = plan_append(new, key, current, self.policy)
        else:
            # From the start of the event's month: the month rows from there on are rewritten whole.
            low = time_key(new.vm, month_start(month_of(new.time)))
            rows = list(
                self._iter_transition_keys(
                    new.vm, low, upper_bound(transitions_prefix(new.vm)), MAX_PAGE_SIZE
                )
            )
            tail = [row for row in rows if row.key >= key]
            before = [row for row in rows if row.key < key]
            plan = plan_insert(new, key, current, tail, self.policy, before=before)
            if not plan.operations:
                return plan.outcome
        try:
            return self._commit(plan)
        except _AlreadyRecorded:
            # Recorded by another writer since our (possibly cached) read: look at it afresh.
            raise _Conflict() from None

    def _commit(self, plan: WritePlan) -> Outcome:
        if plan.registers_subscription:
            self._register_subscription(plan.current.vm)
        operations = plan.operations
        results: list[Any] = []
        try:
            for start in range(0, len(operations), MAX_TRANSACTION_SIZE):
                results = self.table.submit_transaction(operations[start : start + MAX_TRANSACTION_SIZE])
        except TableTransactionError as err:
            raise _classify(err, operations) from err
        if writes_current(operations[-1]):
            self._cache.remember(plan.current.with_etag(results[-1].get("etag")))
        return plan.outcome

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
