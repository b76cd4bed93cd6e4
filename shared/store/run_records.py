"""When each step of the reconcile timer last ran: one row per run record in the ledger table's ``jobs``
partition.

The row key is the record's name: the step's (``reconcile``, ``month-rows``), or the step's and the one
thing it runs for (``inventory|<subscription>``, ``prices|<currency>``). Each row holds ``attemptedAt``,
``succeeded`` and ``detail`` (at most 1,000 characters). The inventory and price refreshes' rows, which
the price book used to write, have these keys and columns: they read back the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.times import format_time, parse_time
from shared.store._errors import storage_errors

JOBS_PARTITION = "jobs"
MAX_DETAIL = 1000


@dataclass(frozen=True)
class RunRecord:
    """One attempt: when it began, whether it succeeded, and what it did or why it failed."""

    attempted_at: datetime
    succeeded: bool
    detail: str


class RunRecords:
    """Reads and writes the ``jobs`` partition of the ledger table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get(self, name: str) -> RunRecord | None:
        """The last attempt recorded as ``name`` (one point read), ``None`` when there was none."""
        with storage_errors():
            try:
                entity = self.table.get_entity(JOBS_PARTITION, name)
            except ResourceNotFoundError:
                return None
        detail = entity.get("detail", "")
        return RunRecord(parse_time(entity["attemptedAt"]), bool(entity["succeeded"]), detail)

    def put(self, name: str, record: RunRecord) -> None:
        """Record an attempt as ``name``, in place of the one before."""
        entity = {
            "PartitionKey": JOBS_PARTITION,
            "RowKey": name,
            "attemptedAt": format_time(record.attempted_at),
            "succeeded": record.succeeded,
            "detail": record.detail[:MAX_DETAIL],
        }
        with storage_errors():
            self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
