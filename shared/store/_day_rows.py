"""Day rows: each VM's billed, unknown and not-billed time per UTC day, one row a month (private).

A fleet answer over whole days sums these instead of replaying transitions, so its time and memory grow
with VMs x days, never with transitions; one range query per month reads 1,000 VMs' days whatever their
rate of transitions (one row per VM and month, never chunked).

Layout: ``dy|<YYYY-MM>|<group>|<name>!`` (``!`` ends the VM key, as in month rows, so a key range
holds exactly its VMs), one property ``dDD`` per closed day: ``billed,unknown,notBilled,
present,deallocated`` (microseconds; ``present`` 1 when the VM existed at some instant of the day;
``deallocated``, of ``notBilled``, deallocated or hibernated: what ``avoidedCost`` counts). The day of the
last transition is still open: its totals so far ride on the current row (``dayOpen``, ``dayRunning``),
with the months mark, which they share: written by the transaction that records an in-order transition
(the days it closes merged into their rows, no round trip more), dropped with it by a late event or a
repair, and rebuilt with the month rows by the timer (``store.months``). A current row without them (rows
written before day rows existed, or a rewrite under way) is answered from its transitions, exactly.

Pure functions only: the callers read, plan here, and commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import date, datetime
from itertools import groupby
from typing import Any

from azure.data.tables import TransactionOperation, UpdateMode

from shared.domain.days import DayTotals, OpenDay, after, first_open_day
from shared.domain.vm_state import VmState
from shared.store import _columns as column
from shared.store._month_rows import month_range
from shared.store._records import TransitionRow

DAY_PREFIX = "dy|"
MAX_MONTHS_CLOSED = 24  # by one in-order transition; more (a VM quiet for years): the timer rebuilds

Entity = dict[str, Any]
DaySum = tuple[DayTotals, int]
Operation = tuple[TransactionOperation, Entity, Mapping[str, Any]]


def day_key(vm_key: str, month: str) -> str:
    return f"{DAY_PREFIX}{month}|{vm_key}!"


def day_range(month: str, first_vm_key: str | None, last_vm_key: str | None) -> tuple[str, str]:
    """Keys of a month's day rows, of every VM or of the VMs from ``first_vm_key`` to ``last_vm_key``."""
    return month_range(month, first_vm_key, last_vm_key, rows=DAY_PREFIX)


def _text(totals: DayTotals) -> str:
    return f"{totals.billed},{totals.unknown},{totals.not_billed},{int(totals.present)},{totals.deallocated}"


def _totals(text: str) -> DayTotals:
    billed, unknown, not_billed, present, deallocated = text.split(",")
    return DayTotals(int(billed), int(unknown), int(not_billed), present == "1", int(deallocated))


# ---- the open day on the current row -----------------------------------------------------------------


def open_day_fields(open_day: OpenDay | None) -> Entity:
    if open_day is None:
        return {}
    return {column.DAY_OPEN: open_day.day.isoformat(), column.DAY_RUNNING: _text(open_day.running)}


def open_day_from(entity: Mapping[str, Any]) -> OpenDay | None:
    if column.DAY_OPEN not in entity or column.DAY_RUNNING not in entity:
        return None
    return OpenDay(date.fromisoformat(entity[column.DAY_OPEN]), _totals(entity[column.DAY_RUNNING]))


# ---- writes ------------------------------------------------------------------------------------------


def closed_day_operations(
    closed: Mapping[date, DayTotals], vm_key: str, partition: str, mode: UpdateMode
) -> list[Operation]:
    """One upsert per month of ``closed`` (merged into the month's row, or replacing it on a rebuild)."""
    operations: list[Operation] = []
    for month, days in groupby(sorted(closed), key=lambda day: day.isoformat()[:7]):
        entity = {"PartitionKey": partition, "RowKey": day_key(vm_key, month)}
        entity.update({f"d{day.day:02d}": _text(closed[day]) for day in days})
        operations.append((TransactionOperation.UPSERT, entity, {"mode": mode}))
    return operations


def plan_append(
    open_day: OpenDay | None, first: bool, prev: VmState | None, since: Any, row: TransitionRow,
    vm_key: str, partition: str,
) -> tuple[list[Operation], OpenDay | None]:  # fmt: skip
    """The day-row writes for ``row``, the VM's newest transition (``first``: its first), and the new
    open day; nothing and ``None`` when the day rows are not complete (the rebuild will write them)."""
    if first:
        return [], first_open_day(prev, row.state, row.time)
    if open_day is None:
        return [], None
    closed, opened = after(open_day, prev, since, row.state, row.time)
    operations = closed_day_operations(closed, vm_key, partition, UpdateMode.MERGE)
    if len(operations) > MAX_MONTHS_CLOSED:
        return [], None
    return operations, opened


class DayCounter:
    """Watches a VM's transitions in key order (pass them through ``seen``) for its closed days and open
    day: what a rebuild writes."""

    def __init__(self, held_since: datetime | None = None) -> None:
        self.closed: dict[date, DayTotals] = {}
        self.open: OpenDay | None = None
        self._last: TransitionRow | None = None
        # The rows before the first one seen were removed (``retention``): its ``prev`` held since then.
        self._held_since = held_since

    def seen(self, rows: Iterable[TransitionRow]) -> Iterator[TransitionRow]:
        for row in rows:
            last = self._last
            if last is None and self._held_since is not None:
                since = self._held_since
                start = first_open_day(row.prev, row.prev, since)
                self.closed, self.open = after(start, row.prev, since, row.state, row.time)
            elif last is None or self.open is None:
                self.open = first_open_day(row.prev, row.state, row.time)
            else:
                closed, self.open = after(self.open, last.state, last.time, row.state, row.time)
                self.closed.update(closed)
            self._last = row
            yield row

    def operations(self, vm_key: str, partition: str) -> list[Operation]:
        return closed_day_operations(self.closed, vm_key, partition, UpdateMode.REPLACE)


# ---- reads -------------------------------------------------------------------------------------------


def sum_days(
    entities: Iterable[Mapping[str, Any]], first: date, last: date, each_of: Collection[str] = ()
) -> tuple[dict[str, DaySum], dict[str, dict[date, DayTotals]]]:
    """Day rows as read -> VM key -> the sum of its stored days from ``first`` to ``last`` (inclusive) and
    how many there were: one small sum per VM, whatever the number of days or transitions; the VMs of
    ``each_of`` apart, each of their days kept (what an answer needs per day)."""
    found: dict[str, DaySum] = {}
    each: dict[str, dict[date, DayTotals]] = {}
    for vm_key, days in _stored_days(entities, first, last):
        if vm_key in each_of:
            each.setdefault(vm_key, {}).update((day, _totals(value)) for day, value in days)
            continue
        total, count = found.get(vm_key, (DayTotals(), 0))
        for _, value in days:
            total, count = total.plus(_totals(value)), count + 1
        found[vm_key] = (total, count)
    return found, each


def _stored_days(
    entities: Iterable[Mapping[str, Any]], first: date, last: date
) -> Iterator[tuple[str, Iterator[tuple[date, str]]]]:
    """Each row's VM key and its days from ``first`` to ``last``, as stored (``dDD`` -> text)."""
    for entity in entities:
        month, _, vm_key = entity["RowKey"][len(DAY_PREFIX) : -1].partition("|")
        days = (
            (date.fromisoformat(f"{month}-{name[1:]}"), value)
            for name, value in entity.items()
            if len(name) == 3 and name[0] == "d" and name[1:].isdigit()
        )
        yield vm_key, ((day, value) for day, value in days if first <= day <= last)
