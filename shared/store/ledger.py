"""The ledger in Azure Table Storage: recording transitions safely (the reads are ``_reads``'s).

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
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NoReturn

from azure.core.exceptions import AzureError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.evidence import NewTransition
from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.times import format_time, utc_now
from shared.domain.vm_state import BillingPolicy
from shared.errors import StorageUnavailable
from shared.store._adoption import Adoption
from shared.store._confirm import confirm_rows, merge_into_current
from shared.store._current_cache import CurrentRowCache
from shared.store._entities import (
    inventory_entity,
    scale_set_entity,
)
from shared.store._errors import storage_errors, unavailable
from shared.store._inventory_merges import Listed, merge_inventories
from shared.store._keys import (
    SUBSCRIPTIONS_PARTITION,
    transition_key,
)
from shared.store._matching import same_operation_recorded
from shared.store._reads import LedgerReads
from shared.store._records import CurrentRow, Outcome
from shared.store._tail_writer import TailConflict, TailWriter
from shared.store._write_plan import TableOperation, WritePlan, plan_append, writes_current
from shared.store.actuals import ActualsBook
from shared.store.attached import AttachedStore
from shared.store.months import MonthRows
from shared.store.price_book import PriceBook
from shared.store.retention import can_remove, remove_before, retention_cut

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


class Ledger(LedgerReads):
    """All reads (``LedgerReads``) and writes of ledger rows go through here."""

    def __init__(
        self, table: TableClient, policy: BillingPolicy, *, cache_size: int = 10_000, retention_days: int = 0
    ) -> None:
        super().__init__(table)
        self.policy = policy
        self.retention_days = retention_days  # 0: every transition is kept
        self._cache = CurrentRowCache(cache_size)
        self._tail = TailWriter(table, policy)
        self._registered: set[str] = set()  # subscriptions this instance has put in the registry

    @property
    def months(self) -> MonthRows:
        """Each VM's transitions month by month, compact: what fleet answers read (``store.months``)."""
        return MonthRows(self.table)

    @property
    def prices(self) -> PriceBook:
        """The cached retail prices, in the same table."""
        return PriceBook(self.table)

    @property
    def actuals(self) -> ActualsBook:
        """Cost Management's actual cost per resource and day, in the same table."""
        return ActualsBook(self.table)

    @property
    def attached(self) -> AttachedStore:
        """Each VM's disks and public IPs and the unattached disks, in the same table."""
        return AttachedStore(self.table)

    def retained_from(self, now: datetime) -> datetime | None:
        """Where the retention cut is at ``now``: transitions before it are removed (``store.retention``),
        and none is recorded; ``None`` when every transition is kept."""
        return retention_cut(now, self.retention_days) if self.retention_days else None

    # ---- writes ------------------------------------------------------------------------------------

    def remove_transitions_before(self, current: CurrentRow, cut: datetime) -> int:
        """Remove ``current``'s VM's transitions before ``cut`` but its last, when ``store.retention``
        allows it now; how many were removed."""
        if not can_remove(current, cut):
            return 0
        with storage_errors():
            return remove_before(self.table, current, cut)

    def set_scale_set_id(self, current: CurrentRow, scale_set_id: str) -> bool:
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
            return merge_into_current(self.table, scale_set_entity(current.vm, scale_set_id), etag)

    def update_inventory(self, row: CurrentRow, spec: VmSpec, listed_at: datetime) -> bool:
        """Merge ``spec`` into the current row on ``row``'s ETag; ``False`` if it changed since."""
        self._cache.forget(row.vm)
        with storage_errors():
            return merge_into_current(self.table, inventory_entity(row.vm, spec, listed_at), row.etag)

    def update_inventories(self, listed: Sequence[Listed], listed_at: datetime) -> bool:
        """Merge each spec into its current row (one subscription's, at most 100) in one transaction, each
        on its row's ETag; ``False`` when it was refused whole (a row changed since): nothing written."""
        for row, _ in listed:
            self._cache.forget(row.vm)
        with storage_errors():
            return merge_inventories(self.table, listed, listed_at)

    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> Outcome:
        """Record ``new`` once; return ``RECORDED`` or ``DUPLICATE``. Raises on storage failures.

        ``known_current`` is a current row the caller has just read (with its ETag), saving a read.
        """
        cut = self.retained_from(utc_now())
        if cut is not None and new.time < cut:
            # Its row would be removed and, slotted in there, would rewrite what the cut left exact.
            logger.warning("transition of %s at %s is before the retention cut %s: not recorded",
                           new.vm.resource_id, format_time(new.time), format_time(cut))  # fmt: skip
            return Outcome.SKIPPED
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
        key = transition_key(new.vm, new.time, new.evidence.id)
        if current is not None and current.upkeep.pending is not None:
            self._repaired(self._tail.finish_pending(current), new.vm)
        if current is None and self._tail.has_rows(new.vm):
            # Rows without a current row (it was lost): rebuild it from them before anything else.
            self._register_subscription(new.vm)
            self._repaired(self._tail.rebuild(new.vm, None), new.vm)
        if same_operation_recorded(self.table, new, key, current):
            return Outcome.DUPLICATE
        if current is None or key > current.span.last_key:
            if suspect:
                self._repaired(self._tail.rebuild(new.vm, current), new.vm)
            try:
                return self._commit(plan_append(new, key, current, self.policy))
            except _AlreadyRecorded:
                # The row exists although the current row knows nothing of it: a race, or a lost row.
                raise _Suspect() from None
        if self._tail.get_transition(new.vm, key) is not None:
            if key >= current.span.first_key:
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

    def adoption(self, known: Iterable[str]) -> Adoption:
        """Adopts new VMs of one subscription in transactions of many (``Adoption.adopt``, page by page);
        ``known``: the vm keys of the VMs the ledger holds there, as the caller read them."""
        return Adoption(
            self.table, self.policy, known,
            register=lambda new: self._register_subscription(new.vm),
            one_by_one=lambda new: self.record(new),
            remember=lambda plan, etag: self._cache.remember(plan.current.with_etag(etag)),
        )  # fmt: skip

    def confirm(self, rows: Sequence[tuple[VmId, str]], at: datetime) -> int:
        """Record that a listing at ``at`` found these VMs (with the keys of their last transitions as
        read) as the ledger has them, in their confirmation rows: current rows, and so the ETags that warm
        instances hold, are left alone. Return how many were written; 100 VMs a round trip."""
        with storage_errors():
            return confirm_rows(self.table, rows, at)

    def _register_subscription(self, vm: VmId) -> None:
        """Before a VM's first row exists, so listing VMs never misses a subscription. Once per subscription
        and instance: registry rows are never removed, so a reconcile adopting thousands of VMs writes the
        row once, not once per VM."""
        if vm.subscription_key in self._registered:
            return
        self.table.upsert_entity(
            {"PartitionKey": SUBSCRIPTIONS_PARTITION, "RowKey": vm.subscription_key}, mode=UpdateMode.MERGE
        )
        self._registered.add(vm.subscription_key)


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
