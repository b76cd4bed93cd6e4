"""What a transition is known from: one small record per source of evidence, and the transition to record.

Four sources tell the ledger that a VM changed, and each says different things:

- a ``ResourceEvent`` (Event Grid): the event's id and type, the operation, its correlation id;
- an ``ActivityLogRecord`` (the backfill): the final record's id, the operation, its correlation id;
- a ``ListingObservation`` (reconcile's List All, a scale set's instance listing): no operation, only
  that the state differs at the listing's time, and the last recorded time before it (the change lies in
  between); a Flexible member's scale set, as listed;
- a ``HealthAnnotation`` (Resource Health): why the state changed (``Cause``), read with the instance view.

Every record has an ``id`` (what recording is idempotent by), an ``operation_name`` and its ``source``;
``NewTransition`` holds one of them. ``Origin`` is what month rows, segments and findings keep of a
transition: its source and operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from shared.domain.health import Cause
from shared.domain.ids import VmId
from shared.domain.vm_state import Change


class Source(StrEnum):
    """Where a transition was learnt (the ``source`` of its row and of the API's answers)."""

    EVENT = "event"
    RECONCILE = "reconcile"
    HEALTH = "health"
    # Backfilled from the subscription's Activity Log (history from before the deployment, lost events).
    ACTIVITY_LOG = "activityLog"


@dataclass(frozen=True)
class ResourceEvent:
    """An Event Grid resource event on a VM, or one instance's share of a scale set event."""

    source: ClassVar[Source] = Source.EVENT
    id: str
    operation_name: str
    event_type: str | None = None
    # The key the event shares with the Activity Log's records of the same operation (a GUID).
    correlation_id: str | None = None


@dataclass(frozen=True)
class ActivityLogRecord:
    """The final Activity Log record of an operation; ``id`` is its ``eventDataId`` (stable across reads)."""

    source: ClassVar[Source] = Source.ACTIVITY_LOG
    id: str
    operation_name: str
    correlation_id: str | None = None


@dataclass(frozen=True)
class ListingObservation:
    """A listing that found the VM in another state than the ledger's, at the listing's time.

    ``changed_after``: the VM's last recorded time before the listing (``None``: the ledger had never seen
    it); the real change lies in between. ``scale_set_id``: the Flexible scale set the listing named
    (as listed), kept on the VM's current row, not with the transition (read back, it is ``None``).
    """

    source: ClassVar[Source] = Source.RECONCILE
    id: str
    operation_name: str
    changed_after: datetime | None = None
    scale_set_id: str | None = None


@dataclass(frozen=True)
class HealthAnnotation:
    """A Resource Health event: why the VM changed, recorded with what its instance view showed."""

    source: ClassVar[Source] = Source.HEALTH
    id: str
    operation_name: str
    cause: Cause
    event_type: str | None = None


Evidence = ResourceEvent | ActivityLogRecord | ListingObservation | HealthAnnotation


@dataclass(frozen=True)
class NewTransition:
    """A transition to record, before the ledger knows the state around it."""

    vm: VmId
    time: datetime
    change: Change
    evidence: Evidence


@dataclass(frozen=True)
class Origin:
    """Where a transition came from: its source and operation (what month rows keep of it, and what a
    VM's current row names as the cause of its condition)."""

    source: Source
    operation_name: str | None


def origin_of(evidence: Evidence) -> Origin:
    return Origin(evidence.source, evidence.operation_name)
