"""Month rows (``_month_rows``) as fleet answers read them, and their rebuild by the timer.

Reads: one range query per month for a subscription's VMs (or a key range of them), 1,000 rows a page.
Check: the VMs of a page of current rows whose month rows, read that way, disagree with their marks
(``_month_check``): rows lost or cut short since the mark was set.
Days: the day rows (``_day_rows``) of a subscription's VMs, read the same way, one row per VM and month.
Rebuild: a VM whose current row has no ``MonthsMark`` or no open day (its history was rewritten, or it
predates month rows), or whose rows disagree with it, gets every month row and day row rewritten from its
transitions, streamed, and then the marks, on the current row's ETag as read: a writer that touched the VM
meanwhile makes it fail, and the next run tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import date
from itertools import chain
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.days import DayTotals
from shared.domain.times import month_of, month_start, months_from
from shared.store._day_rows import DayCounter, DaySum, day_range, open_day_fields, sum_days
from shared.store._entities import months_mark_entity
from shared.store._errors import storage_errors
from shared.store._keys import transitions_prefix, upper_bound
from shared.store._month_check import month_rows_disagreement
from shared.store._month_rows import (
    START,
    MarkCounter,
    Operation,
    VmMonth,
    collect,
    month_key,
    month_range,
    plan_rebuild,
)
from shared.store._reads import query_range
from shared.store._records import CurrentRow, TransitionRow
from shared.store._transition_entities import transition_from_entity

MAX_TRANSACTION_SIZE = 100
PAGE_SIZE = 1000
# The current row changed or went since it was read: leave it to the next run.
_RACED = (404, 409, 412)


class MonthRows:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def read(
        self,
        subscription: str,
        months: Sequence[str],
        *,
        first_vm_key: str | None = None,
        last_vm_key: str | None = None,
    ) -> dict[str, dict[str, VmMonth]]:
        """Month rows of ``months`` for every VM of ``subscription``, or for the VM keys from
        ``first_vm_key`` to ``last_vm_key``: VM key -> month -> its start and entries."""

        def entities() -> Iterator[Any]:
            for month in months:
                low, high = month_range(month, first_vm_key, last_vm_key)
                yield from query_range(self.table, subscription.lower(), low, high, PAGE_SIZE)

        with storage_errors():
            return collect(entities())

    def sum_days(
        self, subscription: str, first: date, last: date, *, first_vm_key: str | None = None,
        last_vm_key: str | None = None, each_of: Collection[str] = (),
    ) -> tuple[dict[str, DaySum], dict[str, dict[date, DayTotals]]]:  # fmt: skip
        """The closed days from ``first`` to ``last`` (inclusive) of every VM of ``subscription`` (or the
        VM keys from ``first_vm_key`` to ``last_vm_key``), summed: VM key -> (totals, days found); those of
        the VM keys ``each_of`` each apart instead. One range query per month and 1,000 VMs, streamed."""
        rows = self._day_rows(subscription, first, last, first_vm_key, last_vm_key)
        with storage_errors():
            return sum_days(rows, first, last, each_of)

    def _day_rows(
        self, subscription: str, first: date, last: date, first_vm_key: str | None, last_vm_key: str | None
    ) -> Iterator[Any]:
        for month in months_from(first.isoformat()[:7], last.isoformat()[:7]):
            low, high = day_range(month, first_vm_key, last_vm_key)
            yield from query_range(self.table, subscription.lower(), low, high, PAGE_SIZE)

    def disagreeing(self, rows: Sequence[CurrentRow], months: Sequence[str]) -> dict[str, str]:
        """VM key -> why its month rows disagree with its mark, for the VMs of ``rows`` (one
        subscription's, in key order) as the rows of ``months`` (in time order) show them: one range
        query per month and 1,000 month rows."""
        if not rows or not months:
            return {}
        keys = [row.vm.vm_key for row in rows]
        found = self.read(rows[0].vm.subscription_key, months, first_vm_key=min(keys), last_vm_key=max(keys))
        reasons = {row.vm.vm_key: month_rows_disagreement(row, found.get(row.vm.vm_key, {}), months)
                   for row in rows}  # fmt: skip
        return {key: reason for key, reason in reasons.items() if reason is not None}

    def rebuild(self, current: CurrentRow) -> bool:
        """Rewrite the VM's month rows from its transitions and store the mark; ``False`` when a writer
        changed the VM since ``current`` was read (or it has no transitions), nothing marked then."""
        if current.upkeep.pending is not None or current.etag is None:
            return False
        rows = self._rows(current)
        first = next(rows, None)
        if first is None:
            return False
        counter, days = MarkCounter(), DayCounter()
        if first.prev_key and first.key > current.span.first_key:
            # The rows before ``first`` were removed (``retention``): the months before its own stay as they
            # are, and it begins a month in the state its ``prev`` holds (the cut is a month's start).
            before_first = self._first_start(current)
            if before_first is None:
                return False
            counter, days = MarkCounter(before_first), DayCounter(month_start(month_of(first.time)))
        batch: list[Operation] = []
        watched = days.seen(counter.seen(chain([first], rows)))
        with storage_errors():
            operations = plan_rebuild(watched, current.vm.vm_key, _partition(current))
            for operation in chain(
                operations, _after(lambda: days.operations(current.vm.vm_key, _partition(current)))
            ):
                batch.append(operation)
                if len(batch) == MAX_TRANSACTION_SIZE - 1:  # the last keeps room for the mark
                    self.table.submit_transaction(batch)
                    batch = []
            mark = counter.mark()
            if mark is None:
                return False
            entity = {**months_mark_entity(current.vm, mark), **open_day_fields(days.open)}
            options = {
                "mode": UpdateMode.MERGE,
                "etag": current.etag,
                "match_condition": MatchConditions.IfNotModified,
            }
            try:
                self.table.submit_transaction([*batch, (TransactionOperation.UPDATE, entity, options)])
            except TableTransactionError as err:
                if err.status_code in _RACED:
                    return False
                raise
        return True

    def _first_start(self, current: CurrentRow) -> str | None:
        """The ``start`` of the VM's first month row: the state before its first transition."""
        vm = current.vm
        key = month_key(vm.vm_key, month_of(current.span.first_time), 0)
        try:
            entity = self.table.get_entity(_partition(current), key, select=[START])
        except ResourceNotFoundError:
            return None
        start = entity.get(START)
        return start if isinstance(start, str) else None

    def _rows(self, current: CurrentRow) -> Iterator[TransitionRow]:
        prefix = transitions_prefix(current.vm)
        entities = query_range(self.table, _partition(current), prefix, upper_bound(prefix), PAGE_SIZE)
        return (transition_from_entity(entity) for entity in entities)


def _after(operations: Callable[[], list[Operation]]) -> Iterator[Operation]:
    """``operations()`` called only when iterated to: the day rows are known once every row was seen."""
    yield from operations()


def _partition(current: CurrentRow) -> str:
    return current.vm.subscription_key
