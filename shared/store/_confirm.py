"""Confirming current rows that a reconcile listing found unchanged: one column merged, 100 rows a request.

A reconcile that finds a VM as the ledger has it writes no transition, yet it did confirm the state; the
``unconfirmed`` finding needs to know when. Each confirmation merges ``lastConfirmed`` into the current row
(all current rows of a subscription share its partition, so 100 go in one entity group transaction),
conditional on the ETag read at the start of the run: a row changed since (an event recorded meanwhile)
is left as that write made it, because the transition confirms it, at a later time. Other columns that
never touch state (a Flexible member's scale set, the inventory) are merged the same way, one row at a
time (``merge_into_current``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from shared.domain.ids import VmId
from shared.store._entities import confirmation_entity

logger = logging.getLogger(__name__)

BATCH = 100
# A row changed or gone since it was read: skip it, confirm the rest.
_SKIPPED_STATUSES = (404, 409, 412)


Seen = tuple[VmId, str | None]  # a VM and the ETag of its current row as read


def confirm_rows(table: TableClient, rows: Sequence[Seen], at: datetime) -> int:
    """Merge ``lastConfirmed = at`` into the current rows of ``rows``; return how many took it."""
    confirmed = 0
    for chunk in _chunks([row for row in rows if row[1]], BATCH):
        confirmed += _confirm_chunk(table, chunk, at)
    return confirmed


def _confirm_chunk(table: TableClient, chunk: list[Seen], at: datetime) -> int:
    pending = chunk
    while pending:
        try:
            table.submit_transaction([_merge(row, at) for row in pending])
            return len(pending)
        except TableTransactionError as err:
            index = getattr(err, "index", None)
            if err.status_code not in _SKIPPED_STATUSES or not isinstance(index, int):
                raise
            logger.debug("not confirming %s: it changed since it was read", pending[index][0].resource_id)
            pending = pending[:index] + pending[index + 1 :]
    return 0


def _merge(row: Seen, at: datetime) -> tuple[TransactionOperation, dict[str, Any], dict[str, Any]]:
    vm, etag = row
    options = {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
    return TransactionOperation.UPDATE, confirmation_entity(vm, at), options


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
