"""Removing transition rows older than the retention cut, while every answer built from days stays exact.

``TRANSITION_RETENTION_DAYS`` keeps at least that many days of transition rows: the cut is the first
instant of the UTC month that holds ``now - days``, so a month is kept whole or not at all. What answers
read instead of old transitions is kept: the day rows (each VM's billed, unknown and not-billed time per
UTC day), the month rows (each transition's time, state and origin, what fleet answers and timelines
read) and the current row. The month cut is what keeps them exact when the timer rebuilds them later
from the transitions left (``months.MonthRows.rebuild``): nothing lies between the cut and a VM's first
row left, so that row's ``prev`` is the state in force from the cut's month on.

A VM is left alone while a rewrite is under way on it or its month rows are not complete (the rebuild
reads its whole history first); its last row, which its current row names, is always kept. Transitions
older than the cut are not recorded any more (``Ledger.record`` skips them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from azure.data.tables import TableClient, TransactionOperation

from shared.domain.times import month_of, month_start
from shared.store._keys import time_key, transitions_prefix
from shared.store._records import CurrentRow

BATCH = 100


def retention_cut(now: datetime, days: int) -> datetime:
    """The first instant of the UTC month that holds ``now - days``: at least ``days`` are kept."""
    return month_start(month_of(now - timedelta(days=days)))


def can_remove(current: CurrentRow, cut: datetime) -> bool:
    """Whether the VM may lose rows before ``cut`` now (see the module docstring)."""
    upkeep = current.upkeep
    complete = upkeep.pending is None and upkeep.months is not None and upkeep.days is not None
    return complete and current.span.first_time < cut


def remove_before(table: TableClient, current: CurrentRow, cut: datetime) -> int:
    """Delete the VM's transition rows before ``cut`` but its last one, 100 a transaction; how many."""
    vm = current.vm
    keys = [key for key in _keys(table, vm.subscription_key, transitions_prefix(vm), time_key(vm, cut))
            if key != current.span.last_key]  # fmt: skip
    for start in range(0, len(keys), BATCH):
        table.submit_transaction(
            [
                (TransactionOperation.DELETE, {"PartitionKey": vm.subscription_key, "RowKey": key})
                for key in keys[start : start + BATCH]
            ]  # fmt: skip
        )
    return len(keys)


def _keys(table: TableClient, partition: str, low: str, high: str) -> Iterator[str]:
    entities = table.query_entities(
        "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
        parameters={"pk": partition, "low": low, "high": high},
        select=["RowKey"],
        results_per_page=1000,
    )
    return (entity["RowKey"] for entity in entities)
