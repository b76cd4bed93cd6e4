"""When an Event Grid event and an Activity Log record are the same ARM operation, so it is recorded once.

Event Grid resource events carry ``data.correlationId`` but no ``operationId``; Activity Log records carry
both (domain brief §9). Two records of one VM are the same operation when they come from the two
different sources, name the same operation (case-insensitively) with the same outcome, and either

- both carry a correlation id, the ids are equal, and their times are at most ``MATCH_WINDOW`` apart
  (both mark the operation's end: the event is raised then, the Activity Log's final record is written
  then; their clocks and pipelines differ by seconds); or
- one of them has no correlation id and their times are at most ``TIME_TOLERANCE`` apart.

Two records with different correlation ids are different operations. Two same-named operations with the
same outcome on one VM within ``TIME_TOLERANCE`` leave the same state either way, so merging them when an
id is missing changes no billed second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.evidence import Source

MATCH_WINDOW = timedelta(minutes=5)
TIME_TOLERANCE = timedelta(minutes=2)
# The two sources whose records can describe one operation; listings and health events are not operations.
_PAIR = frozenset({Source.EVENT, Source.ACTIVITY_LOG})


@dataclass(frozen=True)
class OperationRecord:
    """What the match compares: ``outcome`` is ``Succeeded``, ``Failed`` or ``Canceled``."""

    source: Source
    operation_name: str
    outcome: str
    correlation_id: str | None
    time: datetime


def same_operation(a: OperationRecord, b: OperationRecord) -> bool:
    """True when ``a`` and ``b`` are one operation seen by both sources (the module docstring's rule)."""
    if {a.source, b.source} != _PAIR:
        return False
    if a.operation_name.lower() != b.operation_name.lower() or a.outcome.lower() != b.outcome.lower():
        return False
    apart = abs(a.time - b.time)
    if a.correlation_id and b.correlation_id:
        return a.correlation_id.lower() == b.correlation_id.lower() and apart <= MATCH_WINDOW
    return apart <= TIME_TOLERANCE
