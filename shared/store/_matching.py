"""The store's side of "one operation, two sources": where to look, and whether a recorded row matches.

Recording an Activity Log record reads the VM's rows from ``MATCH_WINDOW`` before it (the late-event path
reads the rows after it anyway); an event does the same only when the VM has Activity Log rows that recent
(``CurrentRow.activity_log_until``), so the steady stream of events pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from azure.data.tables import TableClient

from shared.domain.same_operation import MATCH_WINDOW, OperationRecord, same_operation
from shared.store._entities import transition_from_entity
from shared.store._keys import time_key, time_key_after
from shared.store._records import CurrentRow, NewTransition, Source, TransitionRow
from shared.store._tail_writer import query_range

PAGE_SIZE = 1000


def match_from(new: NewTransition, current: CurrentRow | None) -> datetime | None:
    """The earliest time a row that is ``new``'s operation from the other source could have; ``None``
    when no such row can exist."""
    if current is None:
        return None
    start = new.time - MATCH_WINDOW
    if new.source == Source.ACTIVITY_LOG:
        return start
    if new.source == Source.EVENT and current.activity_log_until and current.activity_log_until >= start:
        return start
    return None


def already_recorded(new: NewTransition, key: str, rows: Iterable[TransitionRow]) -> TransitionRow | None:
    """The row of the other source that records ``new``'s operation, if one does."""
    mine = _record(
        new.source, new.operation_name, new.change.provisioning_state, new.correlation_id, new.time
    )
    for row in rows:
        if row.key == key:
            continue
        other = _record(
            row.source, row.operation_name, row.change.provisioning_state, row.correlation_id, row.time
        )
        if same_operation(mine, other):
            return row
    return None


def _record(
    source: str, operation: str, outcome: str, correlation_id: str | None, at: datetime
) -> OperationRecord:
    return OperationRecord(str(source), operation, outcome, correlation_id, at)


def same_operation_recorded(
    table: TableClient, new: NewTransition, key: str, current: CurrentRow | None
) -> bool:
    """Whether the other source (Event Grid or the Activity Log) recorded ``new``'s operation already:
    one range query over the match window around ``new``, and only when such a row can exist."""
    look_from = match_from(new, current)
    if look_from is None:
        return False
    low, high = time_key(new.vm, look_from), time_key_after(new.vm, new.time + MATCH_WINDOW)
    entities = query_range(table, new.vm.subscription_key, low, high, PAGE_SIZE)
    return already_recorded(new, key, (transition_from_entity(entity) for entity in entities)) is not None
