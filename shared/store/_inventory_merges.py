"""Inventory merges of one subscription's current rows, up to 100 in one entity group transaction (private).

Each operation merges a row's inventory columns on the ETag the row was read with (as a single merge does,
``_confirm.merge_into_current``), so a row an event wrote since is never overwritten: the transaction then
fails whole, nothing of it written, and the caller stores those rows one by one, which tells the raced row
from the others. The current rows of a subscription share its partition, so a transaction can hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.inventory import VmSpec
from shared.store._entities import inventory_entity
from shared.store._records import CurrentRow

MAX_INVENTORY_MERGES = 100  # an entity group transaction's limit
Entity = dict[str, Any]
Listed = tuple[CurrentRow, VmSpec]  # a current row as read (with its ETag) and the inventory listed for it


def merge_inventories(table: TableClient, listed: Sequence[Listed], listed_at: datetime) -> bool:
    """Merge each spec of ``listed`` (rows of one subscription, at most ``MAX_INVENTORY_MERGES``) into its
    row in one transaction; ``False`` when it was refused whole (a row changed since it was read): nothing
    written."""
    if len(listed) > MAX_INVENTORY_MERGES or len({row.vm.subscription_key for row, _ in listed}) > 1:
        raise ValueError(f"one transaction holds at most {MAX_INVENTORY_MERGES} rows of one subscription")
    if not listed:
        return True
    try:
        table.submit_transaction([_merge(row, spec, listed_at) for row, spec in listed])
    except TableTransactionError:
        return False
    return True


def _merge(row: CurrentRow, spec: VmSpec, listed_at: datetime) -> tuple[TransactionOperation, Entity, Entity]:
    options = {"mode": UpdateMode.MERGE, "etag": row.etag, "match_condition": MatchConditions.IfNotModified}
    return TransactionOperation.UPDATE, inventory_entity(row.vm, spec, listed_at), options
