"""Confirmations that a reconcile listing found a VM as the ledger has it: rows of their own, 100 a request.

A reconcile that finds a VM unchanged writes no transition, yet it did confirm the state; the
``unconfirmed`` finding needs to know when. Each confirmation is upserted as the VM's confirmation row
(``cf|<group>|<name>``, beside the current row in the subscription's partition, so 100 go in one entity
group transaction) holding the time and the key of the last transition of the state it confirmed. The
current row is never written: its ETag, which a warm instance's next event writes against, stays as the
event left it, however many reconciles run. A confirmation counts only while that transition is still the
VM's last (``confirmed``): an event recorded since holds a newer state, which its own time confirms.

Other columns that never touch state (a Flexible member's scale set, the inventory) are merged into the
current row, one row at a time (``merge_into_current``); the inventory refresh merges 100 rows a
transaction (``_inventory_merges``) and falls back to this one for a transaction an event raced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TransactionOperation, UpdateMode

from shared.domain.ids import VmId
from shared.domain.times import format_time, parse_time
from shared.store import _columns as column
from shared.store._keys import CONFIRMATION_PREFIX, confirmation_key
from shared.store._records import CurrentRow

BATCH = 100
Entity = dict[str, Any]


class Confirmation(NamedTuple):
    """A VM (its ``vm_key``) found as the ledger had it at ``at``, when ``last_key`` was its last row."""

    vm_key: str
    at: datetime
    last_key: str


Seen = tuple[VmId, str]  # a VM and the key of its last transition as read


def confirm_rows(table: TableClient, rows: Sequence[Seen], at: datetime) -> int:
    """Upsert the confirmation rows of ``rows`` at ``at``; return how many were written."""
    written = 0
    for chunk in _chunks(list(rows), BATCH):
        table.submit_transaction([_upsert(vm, last_key, at) for vm, last_key in chunk])
        written += len(chunk)
    return written


def _upsert(vm: VmId, last_key: str, at: datetime) -> tuple[TransactionOperation, Entity, Entity]:
    entity = {
        "PartitionKey": vm.subscription_key,
        "RowKey": confirmation_key(vm),
        column.LAST_CONFIRMED: format_time(at),
        column.CONFIRMED_KEY: last_key,
    }
    return TransactionOperation.UPSERT, entity, {"mode": UpdateMode.REPLACE}


def confirmation_from_entity(entity: Mapping[str, Any]) -> Confirmation:
    return Confirmation(
        entity["RowKey"][len(CONFIRMATION_PREFIX) :],
        parse_time(entity[column.LAST_CONFIRMED]),
        entity[column.CONFIRMED_KEY],
    )


def confirmed(row: CurrentRow, confirmation: Confirmation | None) -> CurrentRow:
    """``row`` with ``confirmation``'s time as its last confirmation when it confirmed the row's state."""
    if confirmation is None or confirmation.last_key != row.span.last_key:
        return row
    known = row.upkeep.last_confirmed
    if known is not None and known >= confirmation.at:
        return row
    return replace(row, upkeep=replace(row.upkeep, last_confirmed=confirmation.at))


def with_confirmations(
    rows: Iterator[CurrentRow], confirmations: Iterator[Confirmation]
) -> Iterator[CurrentRow]:
    """Each row with its confirmation: both streams are in the same key order, joined as they come."""
    pending = next(confirmations, None)
    for row in rows:
        key = row.vm.vm_key
        while pending is not None and pending.vm_key < key:
            pending = next(confirmations, None)
        yield confirmed(row, pending if pending is not None and pending.vm_key == key else None)


def _chunks(rows: list[Seen], size: int) -> Iterator[list[Seen]]:
    """Chunks of one partition each (a transaction holds one), at most ``size`` rows."""
    by_partition: dict[str, list[Seen]] = {}
    for row in rows:
        by_partition.setdefault(row[0].subscription_key, []).append(row)
    for same in by_partition.values():
        for start in range(0, len(same), size):
            yield same[start : start + size]


def merge_into_current(table: TableClient, entity: Mapping[str, Any], etag: str | None) -> bool:
    """Merge ``entity`` (some columns of a current row: the Flexible scale set it was listed in, its
    inventory) into the row: one merge, checked by the row's ETag so it never overwrites a newer state;
    ``False`` when another writer came first."""
    try:
        table.update_entity(
            entity,
            mode=UpdateMode.MERGE,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
    except (ResourceModifiedError, ResourceNotFoundError):
        return False
    return True
