"""Rewriting a VM's later rows in Table Storage: streamed, with a bounded number of rows in memory.

The I/O side of ``_tail_plan``: rows are read lazily in key order (a first page of 10, since a late event
usually changes a row or two, then pages of 1,000), re-derived one by one, and written in transactions of
at most 100 as they fill up. Three uses:

- ``insert_late``: a late event, stopping at the first row that needs no change;
- ``finish_pending``: the current row carries a ``Pending`` marker, so a rewrite was cut off (or is under
  way on another instance): re-derive everything from the marked key;
- ``rebuild``: the current row contradicts the rows (it is missing, or rows exist before its first key or
  after its last): re-derive the VM's whole history and write the current row it implies.

Conflicts (412, or 409 from a racing insert) raise ``TailConflict``: the ledger re-reads and tries again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from itertools import chain, islice
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation

from shared.domain.evidence import NewTransition
from shared.domain.ids import VmId
from shared.domain.vm_state import BillingPolicy
from shared.store._entities import current_entity
from shared.store._keys import time_key, time_key_after, transitions_prefix, upper_bound
from shared.store._reads import query_range
from shared.store._records import (
    Condition,
    CurrentRow,
    Pending,
    Span,
    TransitionRow,
    begins_condition,
    new_transition_row,
    with_cause,
)
from shared.store._tail_plan import (
    BEFORE_FIRST,
    Anchor,
    TailDeriver,
    Transaction,
    TransactionPlan,
    anchor_from_successor,
    settled_current,
)
from shared.store._transition_entities import transition_entity, transition_from_entity
from shared.store._write_plan import TableOperation, kept_from_evidence, replace_operation

FIRST_PAGE_SIZE = 10
PAGE_SIZE = 1000


# Where the rows a rewrite steps over begin: the first key, and the time of the first row (``None``: none).
Start = tuple[str, datetime | None]


class TailConflict(Exception):
    """Another writer changed a row or the current row meanwhile: re-read and try again."""


class TailWriter:
    def __init__(self, table: TableClient, policy: BillingPolicy) -> None:
        self.table = table
        self.policy = policy

    def get_transition(self, vm: VmId, key: str) -> TransitionRow | None:
        """One point read: the row ``key`` of ``vm``, or ``None``."""
        try:
            return transition_from_entity(self.table.get_entity(vm.subscription_key, key))
        except ResourceNotFoundError:
            return None

    def has_rows(self, vm: VmId) -> bool:
        """Whether the VM has any transition row (one query of at most one row)."""
        prefix = transitions_prefix(vm)
        page = query_range(self.table, vm.subscription_key, prefix, upper_bound(prefix), 1)
        return next(page, None) is not None

    def insert_late(self, new: NewTransition, key: str, current: CurrentRow, *, verified: bool) -> CurrentRow:
        """Write ``new`` (at ``key``, before the VM's last row) and re-derive the rows it changes.

        ``verified``: ``current`` was read just now (not taken from a cache), so it need not be written
        unless it changes.
        """
        rows = self._rows(new.vm, key, first_page=FIRST_PAGE_SIZE)
        successor = next(rows, None)
        if successor is not None and successor.key == key:
            raise TailConflict()  # recorded by another writer since the point read: look again
        anchor = anchor_from_successor(key, successor) or self._look_back(new.vm, key)
        row = new_transition_row(new, key, anchor.state_before(new.change, new.time), self.policy, anchor.key)
        base = current
        if key < current.span.first_key:
            base = replace(current, span=replace(current.span, first_key=key, first_time=new.time))
        base = kept_from_evidence(base, new)
        deriver = TailDeriver(Anchor(key, row.state), self.policy, stop_when_unchanged=True, cause=row)
        following = rows if successor is None else chain([successor], rows)
        create = (TransactionOperation.CREATE, transition_entity(row, new.vm.subscription_key))
        pending = Pending(key, anchor.key)
        return self._rewrite(
            current, base, pending, deriver, following, [create], verified=verified, start=(key, new.time)
        )

    def finish_pending(self, current: CurrentRow) -> CurrentRow:
        """Re-derive every row from the marked key on, and clear the marker."""
        pending = current.upkeep.pending
        assert pending is not None
        if pending.prev_key == BEFORE_FIRST:
            anchor = Anchor(BEFORE_FIRST)
        else:
            before = self.get_transition(current.vm, pending.prev_key)
            anchor = (
                Anchor(before.key, before.state) if before else self._look_back(current.vm, pending.from_key)
            )
        deriver = TailDeriver(anchor, self.policy, stop_when_unchanged=False)
        rows = self._rows(current.vm, pending.from_key)
        first = next(rows, None)
        if first is None:
            return self._rewrite(current, current, pending, deriver, rows, [], start=(pending.from_key, None))
        start = (pending.from_key, first.time)
        return self._rewrite(current, current, pending, deriver, chain([first], rows), [], start=start)

    def rebuild(self, vm: VmId, current: CurrentRow | None) -> CurrentRow | None:
        """Re-derive the VM's whole history and write the current row it implies (created if missing)."""
        rows = self._rows(vm, transitions_prefix(vm))
        first = next(rows, None)
        if first is None:
            return current
        span = Span(first.key, first.time, first.key, first.time)
        base = current or CurrentRow(vm, Condition(first.state, self.policy.label), span, None)
        anchor = Anchor(BEFORE_FIRST)
        if current is not None and first.prev_key and first.key > current.span.first_key:
            anchor = Anchor(first.prev_key, first.prev)  # the rows before were removed (``retention``)
        else:
            base = replace(base, span=replace(base.span, first_key=first.key, first_time=first.time))
        deriver = TailDeriver(anchor, self.policy, stop_when_unchanged=False)
        pending = Pending(transitions_prefix(vm), BEFORE_FIRST)
        return self._rewrite(current, base, pending, deriver, chain([first], rows), [])

    def _rewrite(
        self,
        current: CurrentRow | None,
        base: CurrentRow,
        pending: Pending,
        deriver: TailDeriver,
        rows: Iterable[TransitionRow],
        last_operations: list[TableOperation],
        *,
        verified: bool = False,
        start: Start | None = None,
    ) -> CurrentRow:
        """``start``: the key the rows stepped over begin at (the late row's own, or the marked key) and
        the time of the first of them; ``None``: the whole history is stepped over."""
        partition = base.vm.subscription_key
        # The VM's month rows no longer match its history: the timer rebuilds them (``store.months``).
        base = replace(base, upkeep=replace(base.upkeep, months=None, days=None))
        plan = TransactionPlan(replace(base, upkeep=replace(base.upkeep, pending=pending)))
        committer = _Committer(self.table, current)
        rows_written = bool(last_operations)
        for row in rows:
            derived = deriver.step(row)
            if deriver.stopped:
                break
            if derived is not None:
                rows_written = True
                for transaction in plan.add(
                    replace_operation(transition_entity(derived, partition), row.etag)
                ):
                    committer.submit(transaction)
        final = settled_current(base, deriver, self.policy)
        if not _cause_known(deriver, current, final, start[1] if start else None):
            final = self._with_cause_read(final, deriver, start[0] if start else "")
        unchanged = current is not None and replace(final, etag=None) == replace(current, etag=None)
        # Any row written changes the current row's ETag too: a month-row rebuild read before it then fails.
        write_current = plan.started or not verified or not unchanged or rows_written
        for transaction in plan.finish(final if write_current else None, last_operations):
            committer.submit(transaction)
        return final.with_etag(committer.etag)

    def _with_cause_read(self, final: CurrentRow, deriver: TailDeriver, start_key: str) -> CurrentRow:
        """``final`` naming as cause the last row, in key order, at the instant ``state.since`` that began
        its condition, before the last transaction writes it (so the cause commits with the rows, whatever
        order and path wrote them: a rewrite stopped early, cut off, rebuilt). One short query of the rows
        at that instant; those this rewrite stepped over count as derived (``deriver.cause``), the others
        as stored (this rewrite does not change them). When none began it (the VM's first row left it in
        the unknown state assumed before it), no cause, as an in-order write names: the cause ``final``
        carries over from the current row may be that of a condition the rewrite ended."""
        vm, since = final.vm, final.condition.state.since
        stepped_to = deriver.last.key if deriver.last else start_key
        cause = deriver.cause if deriver.cause is not None and deriver.cause.time == since else None
        rows = self._rows(vm, time_key(vm, since), high=time_key_after(vm, since), first_page=FIRST_PAGE_SIZE)
        for row in rows:
            stepped = start_key <= row.key <= stepped_to
            if not stepped and begins_condition(row) and (cause is None or row.key > cause.key):
                cause = row
        return with_cause(final, cause.origin if cause else None)

    def _look_back(self, vm: VmId, key: str) -> Anchor:
        """The last row before ``key``, read from the VM's first row: the slow way, after rows were lost."""
        tail = deque(self._rows(vm, transitions_prefix(vm), high=key), maxlen=1)
        return Anchor(tail[0].key, tail[0].state) if tail else Anchor(BEFORE_FIRST)

    def _rows(
        self, vm: VmId, low: str, *, high: str | None = None, first_page: int = PAGE_SIZE
    ) -> Iterator[TransitionRow]:
        """The VM's rows from ``low`` (inclusive) to ``high`` in key order, lazily: one short first page
        (``islice`` stops before the next page is asked for), then full pages after its last key."""
        partition, high = vm.subscription_key, high or upper_bound(transitions_prefix(vm))
        head = list(islice(query_range(self.table, partition, low, high, first_page), first_page))
        yield from (transition_from_entity(entity) for entity in head)
        if len(head) == first_page:
            rest = query_range(
                self.table, partition, head[-1]["RowKey"], high, PAGE_SIZE, start_inclusive=False
            )
            yield from (transition_from_entity(entity) for entity in rest)


def _cause_known(
    deriver: TailDeriver, current: CurrentRow | None, final: CurrentRow, stepped_after: datetime | None
) -> bool:
    """Whether the cause ``final`` names is right without the query of ``_with_cause_read``:

    - the rewrite stepped over every row at the instant the end condition began (it started before that
      instant and went past it, or to the VM's last row) and found there the row that began it; or
    - it stopped before that instant with the end state as it was: the rows there are untouched, and the
      cause the last write settled stands.
    """
    since, last, cause = final.condition.state.since, deriver.last, deriver.cause
    if last is None or (stepped_after is not None and stepped_after >= since):
        return False
    if deriver.stopped and last.time < since:
        return (
            current is not None
            and current.condition.cause is not None
            and current.condition.state == final.condition.state
            and current.condition.cause == final.condition.cause
        )
    if cause is None or cause.time != since:
        return False
    return last.time > since or (not deriver.stopped and last.key >= final.span.last_key)


class _Committer:
    """Submits transactions, writing the current row last with the ETag of its previous write."""

    def __init__(self, table: TableClient, current: CurrentRow | None) -> None:
        self.table = table
        self.etag = current.etag if current is not None else None
        self.exists = current is not None
        self._first_row: tuple[dict[str, Any], str | None] | None = None

    def submit(self, transaction: Transaction) -> None:
        operations = list(transaction.operations)
        if transaction.retouch and self._first_row is not None:
            operations.append(replace_operation(*self._first_row))
        if transaction.current is not None:
            entity = current_entity(transaction.current)
            operations.append(
                replace_operation(entity, self.etag) if self.exists else (TransactionOperation.CREATE, entity)
            )
        if not operations:
            return
        try:
            results = self.table.submit_transaction(operations)
        except TableTransactionError as err:
            if err.status_code in (409, 412):
                raise TailConflict() from err
            raise
        if transaction.first and transaction.operations:
            self._first_row = (transaction.operations[0][1], results[0].get("etag"))
        if transaction.current is not None:
            self.etag = results[-1].get("etag")
            self.exists = True
