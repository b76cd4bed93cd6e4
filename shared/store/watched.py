"""The subscriptions watched through a management group: one row per group in the ledger table's
``watched`` partition, so every instance and every run reads the same set between refreshes.

Row key: the management group id. Columns: ``refreshedAt``, ``count`` and the ids, comma-joined, 700 to a
column (``ids0``, ``ids1``, ...: a Table string holds at most 32K characters). At most 10,000 subscriptions
(Resource Graph answers a management group's first 10,000): 15 columns, about 0.7 MiB, under the 1 MiB entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.times import format_time, parse_time
from shared.store._errors import storage_errors

WATCHED_PARTITION = "watched"
MAX_WATCHED = 10_000
_IDS_PER_COLUMN = 700


@dataclass(frozen=True)
class WatchedSet:
    """The enabled subscriptions found under a management group, and when they were found."""

    refreshed_at: datetime
    subscriptions: tuple[str, ...]


class WatchedSubscriptions:
    """Reads and writes the ``watched`` partition of the ledger table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get(self, group: str) -> WatchedSet | None:
        """The set last stored for ``group`` (one point read); ``None`` if there is none."""
        with storage_errors():
            try:
                entity = self.table.get_entity(WATCHED_PARTITION, group)
            except ResourceNotFoundError:
                return None
        columns = (entity.get(f"ids{index}", "") for index in range(MAX_WATCHED // _IDS_PER_COLUMN + 1))
        ids = tuple(sub for column in columns for sub in column.split(",") if sub)
        return WatchedSet(parse_time(entity["refreshedAt"]), ids)

    def put(self, group: str, subscriptions: Sequence[str], at: datetime) -> None:
        """Store ``subscriptions`` (at most ``MAX_WATCHED``) as ``group``'s set, in place of the last one."""
        if len(subscriptions) > MAX_WATCHED:
            raise ValueError(f"at most {MAX_WATCHED:,} subscriptions are watched, got {len(subscriptions):,}")
        entity: dict[str, object] = {
            "PartitionKey": WATCHED_PARTITION,
            "RowKey": group,
            "refreshedAt": format_time(at),
            "count": len(subscriptions),
        }
        for index in range(0, len(subscriptions), _IDS_PER_COLUMN):
            entity[f"ids{index // _IDS_PER_COLUMN}"] = ",".join(
                subscriptions[index : index + _IDS_PER_COLUMN]
            )
        with storage_errors():
            self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
