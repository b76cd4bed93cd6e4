"""The records the ledger reads and writes, as plain values (their Table form is in ``_entities``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.vm_state import BillingPolicy, Change, VmState, apply_change


class Source(StrEnum):
    """Where a transition was learnt."""

    EVENT = "event"
    RECONCILE = "reconcile"


class Outcome(StrEnum):
    """What recording (or handling) one event or observation did."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


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


@dataclass(frozen=True)
class TransitionRow:
    """A recorded transition. ``key`` is opaque outside the store: a cursor for paging."""

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


@dataclass(frozen=True)
class TotalsMark:
    """Where a VM's month rows stand (``_month_rows``), kept on its current row.

    ``month_open``: the month of the last transition; ``count``: its entries so far. Month rows are
    complete from ``complete_from`` on (``COMPLETE``: the whole history). ``before_first`` is the state
    code before the first transition (``None`` when a row from before month rows existed does not say).
    """

    month_open: str
    count: int
    complete_from: datetime
    before_first: str | None


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
    totals: TotalsMark | None = None  # None: a row written before month rows existed
    spec: VmSpec | None = None  # inventory, None until the first inventory refresh saw the VM
    spec_at: datetime | None = None  # when that inventory was listed

    def with_etag(self, etag: str | None) -> CurrentRow:
        return replace(self, etag=etag)


def new_transition_row(
    new: NewTransition, key: str, prev: VmState | None, policy: BillingPolicy
) -> TransitionRow:
    """The row that records ``new`` after the state ``prev``, flagged by ``policy``."""
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
    )
