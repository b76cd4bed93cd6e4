"""The store's side of "one operation, two sources": where to look, and whether a recorded row matches.

Recording an Activity Log record reads the VM's rows from ``MATCH_WINDOW`` before it (the late-event path
reads the rows after it anyway); an event does the same only when the VM has Activity Log rows that recent
(``Upkeep.activity_log_until``), so the steady stream of events pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from azure.data.tables import TableClient

from shared.domain.evidence import ActivityLogRecord, Evidence, NewTransition, ResourceEvent
from shared.domain.same_operation import MATCH_WINDOW, OperationRecord, same_operation
from shared.domain.vm_state import Change
from shared.store._keys import time_key, time_key_after
from shared.store._reads import query_range
from shared.store._records import CurrentRow, TransitionRow
from shared.store._transition_entities import transition_from_entity

PAGE_SIZE = 1000


def match_from(new: NewTransition, current: CurrentRow | None) -> datetime | None:
    """The earliest time a row that is ``new``'s operation from the other source could have; ``None``
    when no such row can exist."""
    if current is None:
        return None
    start = new.time - MATCH_WINDOW
    if isinstance(new.evidence, ActivityLogRecord):
        return start
    seen_until = current.upkeep.activity_log_until
    if isinstance(new.evidence, ResourceEvent) and seen_until and seen_until >= start:
        return start
    return None


def already_recorded(new: NewTransition, key: str, rows: Iterable[TransitionRow]) -> TransitionRow | None:
    """The row of the other source that records ``new``'s operation, if one does."""
    mine = _operation(new.evidence, new.change, new.time)
    if mine is None:
        return None
    for row in rows:
        other = _operation(row.evidence, row.change, row.time) if row.key != key else None
        if other is not None and same_operation(mine, other):
            return row
    return None


def _operation(evidence: Evidence, change: Change, at: datetime) -> OperationRecord | None:
    """What the match compares of a transition from an event or an Activity Log record; ``None`` for
    listings and health events, which are not operations."""
    if not isinstance(evidence, ResourceEvent | ActivityLogRecord):
        return None
    outcome = change.provisioning_state
    return OperationRecord(evidence.source, evidence.operation_name, outcome, evidence.correlation_id, at)


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
