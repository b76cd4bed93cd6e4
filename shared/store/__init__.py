"""Azure Table Storage: the ledger's records, its key layout (private), and the ``Ledger`` facade; the
cached prices and the timer's run records in the same table; the work queue in the same account."""

from shared.store._adoption import Adoption, AdoptionCounts
from shared.store._inventory_merges import MAX_INVENTORY_MERGES
from shared.store._keys import cursor_of, is_current_cursor, is_transition_cursor
from shared.store._month_check import month_rows_disagreement
from shared.store._month_rows import MonthEntry, VmMonth
from shared.store._month_rows import state_from_code as decode_state
from shared.store._records import (
    Condition,
    CurrentRow,
    MonthsMark,
    Outcome,
    Pending,
    Span,
    TransitionRow,
    Upkeep,
    VmProfile,
)
from shared.store.actuals import ActualsBook, ResourceDays
from shared.store.attached import (
    AttachedStore,
    UnattachedDisk,
    disk_cursor,
    is_disk_cursor,
    split_disk_cursor,
)
from shared.store.ledger import ConflictRetriesExhausted, Ledger
from shared.store.months import MonthRows
from shared.store.outbox import Outbox, Owned
from shared.store.price_book import PriceBook, StoredPrices
from shared.store.run_records import RunRecord, RunRecords
from shared.store.tables import STORAGE_CLIENT_OPTIONS, open_ledger, table_service_client
from shared.store.watched import MAX_WATCHED, WatchedSet, WatchedSubscriptions
from shared.store.work_queue import WorkQueue, open_work_queue, work_queue_client

__all__ = [
    "Adoption",
    "AdoptionCounts",
    "ActualsBook",
    "ResourceDays",
    "AttachedStore",
    "UnattachedDisk",
    "disk_cursor",
    "is_disk_cursor",
    "split_disk_cursor",
    "STORAGE_CLIENT_OPTIONS",
    "ConflictRetriesExhausted",
    "Condition",
    "CurrentRow",
    "Ledger",
    "MonthEntry",
    "MonthRows",
    "MonthsMark",
    "Outbox",
    "Owned",
    "Outcome",
    "Pending",
    "PriceBook",
    "RunRecord",
    "RunRecords",
    "MAX_INVENTORY_MERGES",
    "MAX_WATCHED",
    "WatchedSet",
    "WatchedSubscriptions",
    "Span",
    "StoredPrices",
    "TransitionRow",
    "Upkeep",
    "VmMonth",
    "VmProfile",
    "WorkQueue",
    "cursor_of",
    "decode_state",
    "is_current_cursor",
    "is_transition_cursor",
    "month_rows_disagreement",
    "open_ledger",
    "open_work_queue",
    "table_service_client",
    "work_queue_client",
]
