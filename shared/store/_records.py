"""The records the ledger reads and writes, as plain values (their Table form is in ``_entities``).

A transition row holds the evidence it was recorded from (``shared.domain.evidence``: an event, an
Activity Log record, a listing, a health annotation). A current row groups what it knows of its VM by what
it is about: the ``Span`` of its history, its ``Condition`` (state, billing flag, and the origin of the
transition that began it), its ``VmProfile`` (Flexible scale set, inventory) and its ``Upkeep`` marks
(last confirmation, the latest Activity Log record, a rewrite under way, its month rows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.domain.days import OpenDay
from shared.domain.evidence import Evidence, NewTransition, Origin, origin_of
from shared.domain.ids import ScaleSetId, VmId, parse_scale_set_id
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy, Change, VmState, apply_change


class Outcome(StrEnum):
    """What recording (or handling) one event or observation did."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    # Handed to the queue function: a scale-set-level event, whose listing runs outside Event Grid's 30 s.
    QUEUED = "queued"


@dataclass(frozen=True)
class TransitionRow:
    """A recorded transition. ``key`` is opaque outside the store: a cursor for paging.

    ``prev`` is the state of the row before it, whose key is ``prev_key`` (``""`` for a VM's first row,
    ``None`` on rows written before the ledger kept it). ``billing_policy`` is the label of the policy that
    flagged it.
    """

    key: str
    time: datetime
    change: Change
    prev: VmState | None
    state: VmState
    evidence: Evidence
    billing_policy: str
    etag: str | None
    prev_key: str | None = None

    @property
    def origin(self) -> Origin:
        return origin_of(self.evidence)


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
class Span:
    """The VM's recorded history: its first and its last transition (keys are opaque outside the store)."""

    first_key: str
    first_time: datetime
    last_key: str
    last_time: datetime


@dataclass(frozen=True)
class Condition:
    """The VM's state now, the label of the billing policy that flagged it, and the origin of the
    transition that began it (``state.since``): what findings read. ``cause`` is ``None`` on rows written
    before it was kept, and when no transition began the condition (the unknown state assumed before a
    VM's first row)."""

    state: VmState
    billing_policy: str
    cause: Origin | None = None


@dataclass(frozen=True)
class VmProfile:
    """What the VM is, as listings tell it: the Flexible scale set it was listed in (its resource id as
    listed; a Uniform instance's is in its id), and its inventory (``None`` until the first inventory
    refresh saw it) with the time it was listed."""

    scale_set_id: str | None = None
    spec: VmSpec | None = None
    spec_at: datetime | None = None


@dataclass(frozen=True)
class Upkeep:
    """Marks that keep the ledger's answers cheap and its rows whole.

    ``last_confirmed``: the last time a reconcile listing confirmed the state unchanged (transitions confirm
    by their time): from the VM's confirmation row when read with ``confirmations``, or from the current row's
    own column, where reconciles wrote it before confirmations had rows of their own; ``activity_log_until``:
    the latest Activity Log transition, so an event near it is checked for being the same operation;
    ``pending``: a rewrite under way; ``months``: the month rows are complete (``None``: not yet built, or a
    late event or a repair rewrote history since: fleet answers read this VM's transitions, and the timer
    rebuilds them).
    """

    last_confirmed: datetime | None = None
    activity_log_until: datetime | None = None
    pending: Pending | None = None
    months: MonthsMark | None = None
    days: OpenDay | None = None  # with ``months``: the day rows (``_day_rows``) are complete too


@dataclass(frozen=True)
class CurrentRow:
    vm: VmId  # casing first seen
    condition: Condition
    span: Span
    etag: str | None
    profile: VmProfile = VmProfile()
    upkeep: Upkeep = Upkeep()

    def with_etag(self, etag: str | None) -> CurrentRow:
        return replace(self, etag=etag)

    @property
    def scale_set(self) -> ScaleSetId | None:
        """The scale set the VM belongs to: a Uniform instance's, or a Flexible member's."""
        listed = self.profile.scale_set_id
        return self.vm.scale_set or (parse_scale_set_id(listed) if listed else None)

    @property
    def confirmed_at(self) -> datetime:
        """When an event, an Activity Log record or a reconcile listing last confirmed the state."""
        confirmed, last = self.upkeep.last_confirmed, self.span.last_time
        return max(last, confirmed) if confirmed else last


def begins_condition(row: TransitionRow) -> bool:
    """Whether ``row`` began the condition its state is in (what findings call its cause). Not merely
    ``state.since == time``: a row at the same instant as the one that began it would pass that too."""
    return row.prev is None or not row.prev.same_condition(row.state)


def with_cause(current: CurrentRow, cause: Origin | None) -> CurrentRow:
    return replace(current, condition=replace(current.condition, cause=cause))


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
        evidence=new.evidence,
        billing_policy=policy.label,
        etag=None,
        prev_key=prev_key,
    )
