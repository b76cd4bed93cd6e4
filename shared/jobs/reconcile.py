"""Make the ledger converge on what Azure reports: Virtual Machines - List All, status only.

Events miss things: a shutdown inside the guest (billed *stopped*), Spot eviction, platform events,
lost deliveries, VMs that existed before the tool. Each run compares a subscription's listing with the
ledger's current rows (read with paged range queries, never one request per VM) and records what
differs as a ``reconcile`` transition at the observation time. The true change happened somewhere
between the VM's previous record and that time; the record keeps the previous time to show it.

A VM absent from a *complete* listing is recorded as deleted; a listing that failed part way deletes
nothing and the subscription is reported as failed.

A VM listed as the ledger has it is *confirmed*: its confirmation row (apart from its current row, whose ETag
events write against) gets the page's observation time, 100 rows a round trip (``Ledger.confirm``), so the
``unconfirmed`` finding can tell a ledger whose reconcile stopped running. A VM found stopped (allocated,
billed) that the ledger did not have so gets one warning line starting with ``stoppedButBilled`` (an alert can
fire on it): the finding rule's verdict on the state just recorded, from its first moment. VMs the ledger had
never seen are listed in the report (``adopted``) for the Activity Log backfill; a page's new VMs are
written together, in transactions of many (``Ledger.adoption``).

The timer's run lists each subscription in parts, resumable within its budget: ``jobs.reconcile_turns``.
The timer's next step backfills the adopted VMs (``jobs.refresh``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from shared.domain.evidence import NewTransition, Origin, Source
from shared.domain.findings import Thresholds, VmFacts, stopped_but_billed
from shared.domain.ids import VmId, vm_id_from_key
from shared.domain.times import format_time, utc_now
from shared.domain.vm_state import Change, apply_change
from shared.errors import StorageUnavailable
from shared.jobs._membership import record_membership
from shared.jobs._observation import differs, listed_vm_of, main_state, observed_change, observed_transition
from shared.jobs._steps import StepFailed
from shared.sources import ListedVm, ListingError
from shared.store import Adoption, CurrentRow, Ledger

logger = logging.getLogger(__name__)

RECONCILE_OPERATION = "reconcile/listAll"
RUN_BUDGET_SECONDS = 300.0
# The stoppedButBilled warning fires when the finding begins, not once it has lasted the findings' minimum.
_AT_ONCE = Thresholds(stopped_min_hours=0.0)


class ReconcileFailed(StepFailed):
    """At least one subscription could not be reconciled; raised after all were tried."""


@dataclass
class SubscriptionReport:
    subscription_id: str
    listed: int = 0
    unchanged: int = 0
    changed: int = 0
    new: int = 0
    deleted: int = 0
    unknown: int = 0
    failure: str | None = None
    vanished: list[str] = field(default_factory=list)
    confirmed: int = 0
    adopted: list[VmId] = field(default_factory=list)
    cut_short: bool = False  # failed because the run's listing budget ran out: first in the next run
    # Where a listing in parts got to (``jobs.reconcile_turns``): None, not begun or done; "" List All
    # done; else the key of the last Uniform scale set listed whole, in key order.
    resume_after: str | None = None
    # Resource Graph sweep only: disagreements Compute's instance view overruled, and those left for the
    # next run (its budget of instance view reads spent).
    overruled: int = 0
    deferred: int = 0

    def summary(self) -> str:
        status = f"FAILED ({self.failure})" if self.failure else "ok"
        counts = (
            f"listed {self.listed}, unchanged {self.unchanged}, changed {self.changed}, new {self.new}, "
            f"deleted {self.deleted}, unknown {self.unknown}"
        )
        if self.overruled or self.deferred:
            counts += f", overruled by Compute {self.overruled}, deferred {self.deferred}"
        return f"subscription {self.subscription_id}: {counts}: {status}"


def reconcile_subscription(
    ledger: Ledger,
    subscription_id: str,
    pages: Iterable[list[ListedVm]],
    *,
    clock: Callable[[], datetime] = utc_now,
) -> SubscriptionReport:
    """Apply one subscription's listing (streamed page by page) to the ledger."""
    report = SubscriptionReport(subscription_id.lower())
    with failures_in(report):
        unseen = known_states(ledger, report.subscription_id)
        adoption = ledger.adoption(unseen)
        for page in pages:
            apply_page(ledger, page, unseen, clock(), report, adoption)
        record_vanished(ledger, unseen, clock(), report)
    return report


@contextmanager
def failures_in(report: SubscriptionReport) -> Iterator[None]:
    """A listing that did not complete, or storage that failed, ends the turn as the report's failure."""
    try:
        yield
    except ListingError as err:
        report.failure = f"listing incomplete after {err.pages_read} page(s): {err.message}"
    except StorageUnavailable as err:
        report.failure = f"storage error: {err}"


def apply_page(
    ledger: Ledger,
    page: list[ListedVm],
    unseen: dict[str, Known],
    observed_at: datetime,
    report: SubscriptionReport,
    adoption: Adoption,
) -> None:
    """One listing page: the changed VMs recorded one by one, the new ones adopted together, the
    unchanged ones confirmed 100 a round trip."""
    unchanged: list[tuple[VmId, str]] = []
    new: list[NewTransition] = []
    for listed in page:
        adopted = apply_listed(ledger, listed, unseen, observed_at, report, unchanged)
        if adopted is not None:
            new.append(adopted)
    adoption.adopt(new)
    report.confirmed += ledger.confirm(unchanged, observed_at)


def raise_for_failures(reports: Iterable[SubscriptionReport]) -> None:
    """``ReconcileFailed`` naming the subscriptions that failed, if any did."""
    failed = [report.subscription_id for report in reports if report.failure]
    if failed:
        raise ReconcileFailed(f"reconcile failed for {len(failed)} subscription(s): {', '.join(failed)}")


class Known(NamedTuple):
    """What reconcile compares, kept small: the map holds one per VM of the subscription."""

    power_state: str | None
    hibernated: bool
    deleted: bool
    provisioning: str
    scale_set_id: str | None  # a Flexible member's, lower case
    last_key: str  # of its last transition: what a confirmation confirms


def known_states(ledger: Ledger, subscription: str) -> dict[str, Known]:
    """The ledger's current states of a subscription, by VM key, from paged range queries."""
    known = {}
    for row in ledger.iter_current_rows(subscription):
        state, scale_set_id = row.condition.state, row.profile.scale_set_id
        known[row.vm.vm_key] = Known(
            state.power_state,
            state.hibernated,
            state.deleted,
            main_state(state.provisioning_state),
            scale_set_id.lower() if scale_set_id else None,
            row.span.last_key,
        )
    return known


def apply_listed(
    ledger: Ledger,
    listed: ListedVm,
    unseen: dict[str, Known],
    observed_at: datetime,
    report: SubscriptionReport,
    unchanged: list[tuple[VmId, str]],
) -> NewTransition | None:
    """Record what ``listed`` shows of a VM the ledger holds; a new VM's first transition is returned for
    the page's adoption."""
    vm = listed_vm_of(listed.resource_id, report.subscription_id, "reconcile")
    if vm is None:
        return None
    report.listed += 1
    report.unknown += listed.power_state is None
    known = unseen.pop(vm.vm_key, None)
    if known is not None and not known.deleted and not _differs(known, listed):
        report.unchanged += 1
        record_membership(ledger, vm, known.scale_set_id, listed.scale_set_id)
        if listed.power_state is not None:  # a missing power status confirms nothing
            unchanged.append((vm, known.last_key))
        return None
    # Only changed VMs are read in full: one point read and one write each; new ones are adopted together.
    current = ledger.get_current(vm) if known is not None else None
    change = observed_change(listed, current.condition.state if current else None)
    adopted = None
    if current is None:
        adopted = _transition(vm, change, observed_at, None, scale_set_id=listed.scale_set_id)
        report.new += 1
        report.adopted.append(vm)
    else:
        _record(ledger, vm, change, observed_at, current, scale_set_id=listed.scale_set_id)
        report.changed += 1
    was_stopped = known is not None and not known.deleted and known.power_state == "stopped"
    if not was_stopped and _found_stopped_but_billed(ledger, change, observed_at, current):
        logger.warning(
            "stoppedButBilled: %s found stopped (allocated, still billed) by reconcile at %s; no powerOff "
            "was recorded since %s (a shutdown from inside the guest?)",
            vm.resource_id,
            format_time(observed_at),
            format_time(current.span.last_time) if current else "the ledger first saw it",
        )
    return adopted


def _found_stopped_but_billed(
    ledger: Ledger, change: Change, observed_at: datetime, current: CurrentRow | None
) -> bool:
    """Does the finding rule call the state this listing just recorded ``stoppedButBilled``?"""
    state = apply_change(current.condition.state if current else None, change, observed_at, ledger.policy)
    facts = VmFacts(
        state,
        cause=Origin(Source.RECONCILE, RECONCILE_OPERATION),
        last_change=observed_at,
        confirmed_at=observed_at,
        as_of=observed_at,
    )
    return stopped_but_billed(facts, _AT_ONCE) is not None


def _differs(known: Known, listed: ListedVm) -> bool:
    return differs(known.power_state, known.hibernated, known.provisioning, listed)


def record_vanished(
    ledger: Ledger, unseen: dict[str, Known], observed_at: datetime, report: SubscriptionReport
) -> None:
    """Called only after a complete listing: what it did not list is gone."""
    for key, known in unseen.items():
        if known.deleted:
            continue
        current = ledger.get_current(vm_id_from_key(report.subscription_id, key))
        if current is None or current.condition.state.deleted:
            continue
        _record(ledger, current.vm, Change(provisioning_state="Deleted", deletes=True), observed_at, current)
        report.deleted += 1
        report.vanished.append(current.vm.resource_id)


def _record(
    ledger: Ledger,
    vm: VmId,
    change: Change,
    observed_at: datetime,
    current: CurrentRow | None,
    *,
    scale_set_id: str | None = None,
) -> None:
    new = _transition(vm, change, observed_at, current, scale_set_id=scale_set_id)
    ledger.record(new, known_current=current)


def _transition(
    vm: VmId, change: Change, observed_at: datetime, current: CurrentRow | None, *, scale_set_id: str | None
) -> NewTransition:
    return observed_transition(
        vm, change, observed_at, current,
        id_prefix="reconcile", operation_name=RECONCILE_OPERATION, scale_set_id=scale_set_id,
    )  # fmt: skip
