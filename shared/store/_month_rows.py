"""Month rows: each VM's transitions of one UTC month, compact, in the VM's partition (private).

Fleet answers (``/costs``, ``timelines``) need every VM's state over a window. Reading each VM's
transitions costs one query per VM; month rows let them read all VMs of a month with range queries of
1,000 rows: round trips grow with VMs / 1000 times the months in the window.

Layout: ``mo|<YYYY-MM>|<group>|<name>!<chunk>``, month first so one range query reads a month for every
VM; ``!`` sorts below every character of a group or VM name, so the rows of one month sort in the order
of the VMs' current rows. Chunk ``00`` holds ``start`` (the state in force when the month began, or
before the VM's first transition) and up to ``CHUNK`` entries ``e000``..``e199``: one per transition, its
time and the state after it, with its operation and source (in ``_compact``'s short form since issue
24). A month with no transition between two that have some gets a row with ``start`` only (the first
``GAP_LIMIT`` such months), so a window in a quiet month still finds the state.

The current row's ``MonthsMark`` says the month rows hold the VM's whole history; without it they are not
read (the VM's own transitions answer instead). An in-order transition adds its entry in the transaction
that records it (no round trip): one upsert-merge of ``e<n>``, ``n`` counted on the mark (the current
row's ETag serialises writers), plus ``start`` when a month begins. A late event or a repair, which
rewrites rows in the middle of the history, drops the mark instead, and the timer rebuilds the VM's month
rows from its transitions (``store.months``), so the event path never pays for a rewrite. Rows lost or cut
short under a mark (no event repairs those) are found by ``_month_check`` as they are read.

Pure functions only: the callers read, plan here, and commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import Any

from azure.data.tables import TransactionOperation, UpdateMode

from shared.domain.evidence import Origin
from shared.domain.times import (
    format_time,
    month_number,
    month_of,
    month_start,
    months_from,
    next_month,
    parse_time,
)
from shared.domain.vm_state import VmState
from shared.store._compact import long_name, short_name, source_letter, source_of
from shared.store._records import CurrentRow, MonthsMark, TransitionRow

MONTH_PREFIX = "mo|"
CHUNK = 200
GAP_LIMIT = 24
START = "start"
_ENTRY = "e"
_HIBERNATED, _DELETED, _BILLABLE = 1, 2, 4

Entity = dict[str, Any]
Operation = tuple[TransactionOperation, Entity, Mapping[str, Any]]
MonthPlan = tuple[list[Operation], "MonthsMark | None"]


class MonthEntry:
    """One transition as a month row keeps it, parsed when first asked: a fleet answer reads a month's
    entries but parses only those its window needs (``time_text`` compares without parsing)."""

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed: tuple[datetime, VmState, Origin] | None = None

    @property
    def time_text(self) -> str:
        """The fixed-width time (``format_time``) the entry's text begins with: sorts as the time does."""
        return self.text[2:29]

    @property
    def time(self) -> datetime:
        return self._parse()[0]

    @property
    def state(self) -> VmState:
        return self._parse()[1]

    @property
    def origin(self) -> Origin:
        return self._parse()[2]

    def _parse(self) -> tuple[datetime, VmState, Origin]:
        if self._parsed is None:
            time_text, provisioning, power, flags, operation, source = json.loads(self.text)
            at = parse_time(time_text)
            state = state_from_code(json.dumps([provisioning, power, flags]), at)
            assert state is not None
            self._parsed = (at, state, Origin(source_of(source), long_name(operation)))
        return self._parsed


@dataclass
class VmMonth:
    """A VM's month as read back: the state it began with and its entries in time order."""

    has_start: bool = False
    start: VmState | None = None
    entries: list[MonthEntry] = field(default_factory=list)
    numbered: bool = True  # the entries read are numbered 0, 1, 2...: none of them is missing


# ---- months and keys -----------------------------------------------------------------------------


def month_key(vm_key: str, month: str, chunk: int) -> str:
    return f"{MONTH_PREFIX}{month}|{vm_key}!{chunk:02d}"


def month_range(
    month: str, first_vm_key: str | None, last_vm_key: str | None, *, rows: str = MONTH_PREFIX
) -> tuple[str, str]:
    """Keys of a month's rows (month rows, or others keyed ``<rows><month>|<vm key>!...``), of every VM or
    of the VMs from ``first_vm_key`` to ``last_vm_key``."""
    prefix = f"{rows}{month}|"
    low = f"{prefix}{first_vm_key}!" if first_vm_key is not None else prefix
    high = f'{prefix}{last_vm_key}"' if last_vm_key is not None else prefix[:-1] + "}"
    return low, high


# ---- encoding ----------------------------------------------------------------------------------------


def state_code(state: VmState | None) -> str:
    if state is None:
        return "null"
    flags = (
        (_HIBERNATED if state.hibernated else 0)
        | (_DELETED if state.deleted else 0)
        | (_BILLABLE if state.billable else 0)
    )
    return json.dumps([state.provisioning_state, state.power_state, flags], separators=(",", ":"))


def state_from_code(code: str, since: datetime) -> VmState | None:
    value = json.loads(code)
    if value is None:
        return None
    provisioning, power, flags = value
    return VmState(
        provisioning, power, bool(flags & _HIBERNATED), bool(flags & _DELETED), bool(flags & _BILLABLE), since
    )


def _entry_text(row: TransitionRow) -> str:
    state = json.loads(state_code(row.state))
    evidence = row.evidence
    # The operation and source in short form (``_compact``): entries written before read back the same.
    return json.dumps(
        [format_time(row.time), *state, short_name(evidence.operation_name), source_letter(evidence.source)],
        separators=(",", ":"),
    )


def _entry_name(index: int) -> str:
    return f"{_ENTRY}{index % CHUNK:03d}"


# ---- writes ------------------------------------------------------------------------------------------


def _upsert(entity: Entity, mode: UpdateMode) -> Operation:
    return (TransactionOperation.UPSERT, entity, {"mode": mode})


def _row(partition: str, vm_key: str, month: str, chunk: int, **properties: str) -> Entity:
    return {"PartitionKey": partition, "RowKey": month_key(vm_key, month, chunk), **properties}


def _quiet_months(after: str | None, before: str) -> list[str]:
    """The months strictly between ``after`` and ``before`` that get a ``start``-only row: the first
    ``GAP_LIMIT`` of them."""
    if after is None:
        return []
    return months_from(next_month(after), before)[:-1][:GAP_LIMIT]


def plan_append(current: CurrentRow | None, row: TransitionRow, vm_key: str, partition: str) -> MonthPlan:
    """The month-row writes for ``row``, the VM's newest transition (or its first), and the new mark.

    Nothing when the VM's month rows are not complete (no mark): the rebuild will write them.
    """
    month = month_of(row.time)
    entry = _entry_text(row)
    if current is None:
        mark = MonthsMark(month, 0, state_code(row.prev))
    elif current.upkeep.months is None:
        return [], None
    else:
        mark = current.upkeep.months
        if month_number(month) <= month_number(mark.month_open):
            index = mark.count
            entity = _row(partition, vm_key, mark.month_open, index // CHUNK, **{_entry_name(index): entry})
            return [_upsert(entity, UpdateMode.MERGE)], replace(mark, count=index + 1)
    start = state_code(row.prev)
    operations = [
        _upsert(_row(partition, vm_key, quiet, 0, **{START: start}), UpdateMode.REPLACE)
        for quiet in _quiet_months(None if current is None else mark.month_open, month)
    ]
    operations.append(
        _upsert(_row(partition, vm_key, month, 0, **{START: start, _entry_name(0): entry}), UpdateMode.MERGE)
    )
    return operations, replace(mark, month_open=month, count=1)


def plan_rebuild(rows: Iterable[TransitionRow], vm_key: str, partition: str) -> Iterator[Operation]:
    """Every month row of a VM, whole, from all its transitions in key order (streamed: one month in
    memory at a time). Pass the rows through ``MarkCounter.seen`` for the mark to store once these are
    written."""
    previous: str | None = None
    for month, group in groupby(rows, key=lambda row: month_of(row.time)):
        entries = list(group)
        start = state_code(entries[0].prev)
        for quiet in _quiet_months(previous, month):
            yield _upsert(_row(partition, vm_key, quiet, 0, **{START: start}), UpdateMode.REPLACE)
        for chunk in range(0, len(entries), CHUNK):
            properties = {START: start} if chunk == 0 else {}
            for index, row in enumerate(entries[chunk : chunk + CHUNK], start=chunk):
                properties[_entry_name(index)] = _entry_text(row)
            yield _upsert(_row(partition, vm_key, month, chunk // CHUNK, **properties), UpdateMode.REPLACE)
        previous = month


class MarkCounter:
    """Watches the rows ``plan_rebuild`` streams, for the mark they give: pass ``rows`` through ``seen``."""

    def __init__(self, before_first: str | None = None) -> None:
        # Given when the rows before the first one seen were removed: the first month row's ``start``.
        self.before_first: str | None = before_first
        self.month_open = ""
        self.count = 0

    def seen(self, rows: Iterable[TransitionRow]) -> Iterator[TransitionRow]:
        for row in rows:
            if self.before_first is None:
                self.before_first = state_code(row.prev)
            month = month_of(row.time)
            self.month_open, self.count = month, (self.count + 1 if month == self.month_open else 1)
            yield row

    def mark(self) -> MonthsMark | None:
        if self.before_first is None:
            return None
        return MonthsMark(self.month_open, self.count, self.before_first)


# ---- reads -------------------------------------------------------------------------------------------


def vm_key_of_month_key(key: str) -> tuple[str, str, int]:
    """``mo|2026-11|rg|web!00`` -> (``rg|web``, ``2026-11``, 0)."""
    body = key[len(MONTH_PREFIX) :]
    month, _, rest = body.partition("|")
    vm_key, _, chunk = rest.rpartition("!")
    return vm_key, month, int(chunk)


def collect(entities: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, VmMonth]]:
    """Month rows as read (any order of chunks) -> VM key -> month -> its start and entries in order."""
    found: dict[str, dict[str, VmMonth]] = {}
    indexed: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for entity in entities:
        vm_key, month, chunk = vm_key_of_month_key(entity["RowKey"])
        data = found.setdefault(vm_key, {}).setdefault(month, VmMonth())
        if START in entity:
            data.has_start = True
            data.start = state_from_code(entity[START], month_start(month))
        for name, value in entity.items():
            if name.startswith(_ENTRY) and name[1:].isdigit():
                indexed.setdefault((vm_key, month), []).append((chunk * CHUNK + int(name[1:]), value))
    for (vm_key, month), items in indexed.items():
        # The entry number is the transition's rank in key order: time, then event id.
        items.sort()
        data = found[vm_key][month]
        data.entries = [MonthEntry(text) for _, text in items]
        data.numbered = [number for number, _ in items] == list(range(len(items)))
    return found
