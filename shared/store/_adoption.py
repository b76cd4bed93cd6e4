"""Adopting many new VMs of one subscription at once: transactions of many VMs, not round trips per VM.

A VM reconcile lists that has no current row is new to the ledger. Recorded one by one, each costs a point
read (no current row), a query for transition rows without a current row (a lost current row is rebuilt
from them), and its transaction. Adopted together, a page of them costs:

- a query per ``RANGES_PER_QUERY`` key ranges for such rows: the page's new VMs in key order, cut into
  ranges wherever a VM the ledger already holds (``blockers``: it has transition rows) lies between, so a
  range holds no row but a lost current row's (or, rarely, a new VM's adopted this same run); Table
  Storage allows at most 15 comparisons in a filter, so a query carries at most 7 ranges;
- transactions of up to ``MAX_OPERATIONS`` operations (one partition: the subscription), each VM's
  writes whole in one of them (its transition, its month row and its current row, created).

A VM with rows found, or in a transaction that fails (an event created its current row since the read,
say), is left to the one-by-one path, which rebuilds, retries and compares as an event would.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from azure.core.exceptions import AzureError
from azure.data.tables import TableClient, TableTransactionError

from shared.domain.evidence import NewTransition
from shared.domain.vm_state import BillingPolicy
from shared.store._errors import storage_errors, unavailable
from shared.store._keys import TRANSITION_PREFIX, transition_key, transitions_prefix, upper_bound
from shared.store._write_plan import WritePlan, plan_append

MAX_OPERATIONS = 100  # an entity group transaction's limit
RANGES_PER_QUERY = 7  # 1 + 2 x 7 = 15 comparisons, Table Storage's most in one filter


@dataclass
class AdoptionCounts:
    """What adopting cost: the queries for lost rows, the transactions, the VMs they wrote."""

    queries: int = 0
    transactions: int = 0
    batched: int = 0
    one_by_one: int = 0


class Adoption:
    """Adopts a subscription's new VMs page by page; ``blockers`` are the vm keys of the VMs with rows."""

    def __init__(
        self,
        table: TableClient,
        policy: BillingPolicy,
        blockers: Iterable[str],
        *,
        register: Callable[[NewTransition], None],
        one_by_one: Callable[[NewTransition], object],
        remember: Callable[[WritePlan, str | None], None],
    ) -> None:
        self.table, self.policy = table, policy
        self._blockers = sorted(blockers)
        self._register, self._one_by_one, self._remember = register, one_by_one, remember
        self.counts = AdoptionCounts()

    def adopt(self, new: Sequence[NewTransition]) -> None:
        """Record ``new`` (first transitions of VMs without a current row, one subscription)."""
        ordered = sorted(new, key=lambda item: item.vm.vm_key)
        with storage_errors():
            with_rows = self._with_rows(ordered)
            batchable = [item for item in ordered if item.vm.vm_key not in with_rows]
            if batchable:
                self._register(batchable[0])
        for chunk in _transactions([self._plan(item) for item in batchable]):
            self._commit(chunk)
        for item in ordered:
            insort(self._blockers, item.vm.vm_key)
            if item.vm.vm_key in with_rows:
                self._record_alone(item)

    def _plan(self, new: NewTransition) -> tuple[NewTransition, WritePlan]:
        return new, plan_append(new, transition_key(new.vm, new.time, new.evidence.id), None, self.policy)

    def _commit(self, chunk: list[tuple[NewTransition, WritePlan]]) -> None:
        operations = [operation for _, plan in chunk for operation in plan.operations]
        try:
            results = self.table.submit_transaction(operations)
        except TableTransactionError:
            for new, _ in chunk:  # nothing of it was written: each VM the careful way
                self._record_alone(new)
            return
        except AzureError as err:
            raise unavailable(err) from err
        self.counts.transactions += 1
        self.counts.batched += len(chunk)
        at = 0
        for _, plan in chunk:
            at += len(plan.operations)
            self._remember(plan, results[at - 1].get("etag"))

    def _record_alone(self, new: NewTransition) -> None:
        self._one_by_one(new)
        self.counts.one_by_one += 1

    def _with_rows(self, ordered: list[NewTransition]) -> set[str]:
        """The vm keys of ``ordered`` that have transition rows already (a lost current row)."""
        if not ordered:
            return set()
        wanted = {item.vm.vm_key for item in ordered}
        partition = ordered[0].vm.subscription_key
        ranges = list(self._ranges(ordered))
        found: set[str] = set()
        for start in range(0, len(ranges), RANGES_PER_QUERY):
            found |= self._query(partition, ranges[start : start + RANGES_PER_QUERY]) & wanted
        return found

    def _ranges(self, ordered: list[NewTransition]) -> Iterator[tuple[str, str]]:
        """Key ranges covering the transition rows of ``ordered``, none holding a blocker's rows."""
        first = last = ordered[0]
        for item in ordered[1:]:
            if bisect_right(self._blockers, last.vm.vm_key) != bisect_left(self._blockers, item.vm.vm_key):
                yield transitions_prefix(first.vm), upper_bound(transitions_prefix(last.vm))
                first = item
            last = item
        yield transitions_prefix(first.vm), upper_bound(transitions_prefix(last.vm))

    def _query(self, partition: str, ranges: list[tuple[str, str]]) -> set[str]:
        parameters = {"pk": partition}
        clauses = []
        for index, (low, high) in enumerate(ranges):
            parameters[f"low{index}"], parameters[f"high{index}"] = low, high
            # Spaced: the SDK finds parameters by splitting the filter at spaces.
            clauses.append(f"( RowKey ge @low{index} and RowKey lt @high{index} )")
        entities = self.table.query_entities(
            f"PartitionKey eq @pk and ( {' or '.join(clauses)} )",
            parameters=parameters,
            select=["RowKey"],
            results_per_page=1000,
        )
        self.counts.queries += 1
        # <prefix><group>|<name>|<time>|<hash>: the vm key lies between the prefix and the last two parts
        return {str(entity["RowKey"])[len(TRANSITION_PREFIX) :].rsplit("|", 2)[0] for entity in entities}


def _transactions(
    planned: list[tuple[NewTransition, WritePlan]],
) -> Iterator[list[tuple[NewTransition, WritePlan]]]:
    """Chunks of at most ``MAX_OPERATIONS`` operations, each VM's writes whole in one chunk."""
    chunk: list[tuple[NewTransition, WritePlan]] = []
    size = 0
    for item in planned:
        count = len(item[1].operations)
        if chunk and size + count > MAX_OPERATIONS:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += count
    if chunk:
        yield chunk
