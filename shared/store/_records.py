"""The records the ledger reads and writes, as plain values (their Table form is in ``_entities``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.domain.ids import ScaleSetId, VmId, parse_scale_set_id
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy, Change, VmState, apply_change


class Source(StrEnum):
    """Where a transition was learnt."""

    EVENT = "event"
    RECONCILE = "reconcile"
    HEALTH = "health"
    # Backfilled from the subscription's Activity Log (history from before the deployment, lost events).
    ACTIVITY_LOG = "activityLog"


class Outcome(StrEnum):
    """What recording (or handling) one event or observation did."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    # Handed to the queue function: a scale-set-level event, whose listing runs outside Event Grid's 30 s.
    QUEUED = "queued"


@dataclass(frozen=True)
class NewTransition:
    """A transition to record, before the ledger knows the state around it."""

    vm: VmId
    time: datetime
    change: Change
    source: str
    event_id: str
    operation_name: str
    event_type: str | None = None
    # Reconcile only: the last recorded time before the observation; the real change lies in between.
    changed_after: datetime | None = None
    # Events and Activity Log records: the operation's correlation id, the key the two sources share.
    correlation_id: str | None = None
    # Health events only: why the state changed (``shared.domain.health.Cause``), e.g. guestShutdown.
    cause: str | None = None
    # The Flexible scale set the VM was listed in (its resource id), to keep on its current row.
    member_of: str | None = None


@dataclass(frozen=True)
class TransitionRow:
    """A recorded transition. ``key`` is opaque outside the store: a cursor for paging.

    ``prev`` is the state of the row before it, whose key is ``prev_key`` (``""`` for a VM's first row,
    ``None`` on rows written before the ledger kept it).
    """

    key: str
    time: datetime
    change: Change
    prev: VmState | None
    state: VmState
    source: str
    event_id: str
    operation_name: str
    event_type: str | None
    billing_policy: str
    changed_after: datetime | None
    etag: str | None
    correlation_id: str | None = None
    cause: str | None = None
    prev_key: str | None = None


@dataclass(frozen=True)
class Pending:
    """A rewrite of a VM's rows in several transactions is under way (or was cut off): the rows from
    ``from_key`` on must be re-derived, starting from the state of the row ``prev_key`` (``""``: before
    the VM's first row). Set on the current row by the first transaction, cleared by the last."""

    from_key: str
    prev_key: str


@dataclass(frozen=True)
class MonthsMark:
    """A VM's month rows (``_month_rows``) hold its whole history: kept on its current row.

    ``month_open``: the month of the last transition; ``count``: its entries so far; ``before_first``:
    the state code before the VM's first transition.
    """

    month_open: str
    count: int
    before_first: str


@dataclass(frozen=True)
class CurrentRow:
    vm: VmId  # casing first seen
    state: VmState
    billing_policy: str
    first_key: str
    first_time: datetime
    last_key: str
    last_time: datetime
    etag: str | None
    # A Flexible member's scale set (resource id as listed); instances carry theirs in ``vm``.
    member_of: str | None = None
    # What findings read without touching history (``None`` on rows written before they existed):
    # the source and operation of the transition that began the current condition (``state.since``),
    last_cause_source: str | None = None
    last_cause_operation: str | None = None
    # the last time a reconcile listing confirmed the state unchanged (transitions confirm by their time),
    last_confirmed: datetime | None = None
    # and the latest Activity Log transition, so an event near it is checked for being the same operation.
    activity_log_until: datetime | None = None
    pending: Pending | None = None
    # None: the month rows are not complete (not yet built, or a late event or a repair rewrote history
    # since): fleet answers read this VM's transitions, and the timer rebuilds them.
    months: MonthsMark | None = None
    spec: VmSpec | None = None  # inventory, None until the first inventory refresh saw the VM
    spec_at: datetime | None = None  # when that inventory was listed

    def with_etag(self, etag: str | None) -> CurrentRow:
        return replace(self, etag=etag)

    @property
    def scale_set(self) -> ScaleSetId | None:
        """The scale set the VM belongs to: a Uniform instance's, or a Flexible member's."""
        return self.vm.scale_set_id or (parse_scale_set_id(self.member_of) if self.member_of else None)

    @property
    def confirmed_at(self) -> datetime:
        """When an event, an Activity Log record or a reconcile listing last confirmed the state."""
        return max(self.last_time, self.last_confirmed) if self.last_confirmed else self.last_time


def begins_condition(row: TransitionRow) -> bool:
    """Whether ``row`` began the condition its state is in (what findings call its cause). Not merely
    ``state.since == time``: a row at the same instant as the one that began it would pass that too."""
    return row.prev is None or not row.prev.same_condition(row.state)


def new_transition_row(
    new: NewTransition, key: str, prev: VmState | None, policy: BillingPolicy, prev_key: str
) -> TransitionRow:
    """The row that records ``new`` after the state ``prev`` of row ``prev_key``, flagged by ``policy``."""
    return TransitionRow(
        key=key,
        time=new.time,
        change=new.change,
        prev=prev,
        state=apply_change(prev, new.change, new.time, policy),
        source=new.source,
        event_id=new.event_id,
        operation_name=new.operation_name,
        event_type=new.event_type,
        billing_policy=policy.label,
        changed_after=new.changed_after,
        etag=None,
        correlation_id=new.correlation_id,
        cause=new.cause,
        prev_key=prev_key,
    )
