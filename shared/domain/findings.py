"""Findings people act on, as pure rules over what a VM's current row says: one function per kind.

The rules read only a VM's current state, since when it holds, the source and operation that began it and
when the ledger last confirmed it, so every finding of a fleet comes from pages of current rows, never
one history query per VM. ``RULES`` is the registry the endpoint, the CLI and the page all enumerate.

- ``stoppedButBilled``: power ``stopped`` (allocated, billed) for at least ``stopped_min_hours``, with how
  it got there: a ``powerOff`` operation, or found by reconcile (a shutdown from inside the guest).
- ``deallocatedLong``: deallocated or hibernated for at least ``deallocated_min_hours``: candidates for
  deletion, whose disks still bill (compute does not).
- ``failedProvisioning``: provisioning ``Failed`` while billed (the last transition set it).
- ``unattachedDisk``: a managed disk no VM owns (``diskState`` Unattached), from the inventory's disks, not
  from a VM's row (``unattached_disk``).
- ``unconfirmed``: power state unknown, or no event, Activity Log record or reconcile listing has
  confirmed the state for ``unconfirmed_after_hours`` (two reconcile periods): reconcile is not running.
- ``billingDrift``: the latest day of the last ``DRIFT_LOOKBACK_DAYS`` whose compute hours on the bill
  (Cost Management) and in the ledger differ by more than 10 % and half an hour
  (``shared.domain.actuals.drifts``): the ledger missed something the events or reconcile should have
  seen, or the bill charged for time the VM was not running. Read beside the current row from the stored
  actuals, which keep the ledger's hours of each day as they were when the bill was stored.

Deleted VMs have no findings. Hours are raw (no rounding); billed hours are the compute hours billed in
that state since ``since``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.domain.actuals import DriftDay, day_start
from shared.domain.evidence import Origin, Source
from shared.domain.vm_state import UNKNOWN, VmState

HOUR = 3600.0
DEFAULT_STOPPED_MIN_HOURS = 1.0
DEFAULT_DEALLOCATED_MIN_DAYS = 30.0
DEFAULT_UNCONFIRMED_AFTER_MINUTES = 30.0  # two periods of the default 15-minute reconcile
DRIFT_LOOKBACK_DAYS = 31


class FindingKind(StrEnum):
    STOPPED_BUT_BILLED = "stoppedButBilled"
    DEALLOCATED_LONG = "deallocatedLong"
    FAILED_PROVISIONING = "failedProvisioning"
    UNCONFIRMED = "unconfirmed"
    BILLING_DRIFT = "billingDrift"
    UNATTACHED_DISK = "unattachedDisk"  # not a VM's: a managed disk no VM owns (``DISK_RULES``)


class ReachedBy(StrEnum):
    """How a VM came to be stopped and billed."""

    POWER_OFF = "powerOff"  # a powerOff operation (an event or an Activity Log record)
    FOUND_BY_RECONCILE = "foundByReconcile"  # no ARM operation: a shutdown from inside the guest
    OTHER = "other"  # another operation, or a row written before causes were kept


@dataclass(frozen=True)
class Thresholds:
    """Minimum time in a state before it is a finding; ``unconfirmed_after_hours`` is the staleness that
    makes a state unconfirmed, ``unconfirmed_min_hours`` an extra minimum asked by a caller."""

    stopped_min_hours: float = DEFAULT_STOPPED_MIN_HOURS
    deallocated_min_hours: float = DEFAULT_DEALLOCATED_MIN_DAYS * 24
    failed_min_hours: float = 0.0
    unconfirmed_after_hours: float = DEFAULT_UNCONFIRMED_AFTER_MINUTES / 60
    unconfirmed_min_hours: float = 0.0
    unattached_min_hours: float = 0.0

    def with_min_hours(self, hours: float) -> Thresholds:
        """A caller's ``minHours`` in place of every kind's minimum (staleness itself stays a setting)."""
        return replace(
            self,
            stopped_min_hours=hours,
            deallocated_min_hours=hours,
            failed_min_hours=hours,
            unconfirmed_min_hours=hours,
            unattached_min_hours=hours,
        )


@dataclass(frozen=True)
class VmFacts:
    """What the rules see of one VM: its current row, and the time of the question."""

    state: VmState
    cause: Origin | None  # of the transition that began the state's condition
    last_change: datetime  # the last transition's time: it set the provisioning state
    confirmed_at: datetime
    as_of: datetime
    drift: DriftDay | None = None  # the latest drifting day of the bill the VM is charged on, if any


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    since: datetime
    hours: float
    billed_hours: float
    reached_by: ReachedBy | None = None  # stoppedButBilled only
    drift: DriftDay | None = None  # billingDrift only


Rule = Callable[[VmFacts, Thresholds], Finding | None]


def _hours(facts: VmFacts, since: datetime) -> float:
    return max((facts.as_of - since).total_seconds(), 0.0) / HOUR


def _finding(kind: FindingKind, facts: VmFacts, since: datetime, how: ReachedBy | None = None) -> Finding:
    hours = _hours(facts, since)
    return Finding(kind, since, hours, hours if facts.state.billable else 0.0, reached_by=how)


def stopped_but_billed(facts: VmFacts, thresholds: Thresholds) -> Finding | None:
    state = facts.state
    if state.deleted or state.power_state != "stopped" or not state.billable:
        return None
    if _hours(facts, state.since) < thresholds.stopped_min_hours:
        return None
    return _finding(FindingKind.STOPPED_BUT_BILLED, facts, state.since, reached_by(facts))


def reached_by(facts: VmFacts) -> ReachedBy:
    cause = facts.cause
    if cause is not None and cause.source == Source.RECONCILE:
        return ReachedBy.FOUND_BY_RECONCILE
    if cause is not None and (cause.operation_name or "").lower().endswith("/poweroff/action"):
        return ReachedBy.POWER_OFF
    return ReachedBy.OTHER


def deallocated_long(facts: VmFacts, thresholds: Thresholds) -> Finding | None:
    state = facts.state
    if state.deleted or state.power_state != "deallocated":
        return None
    if _hours(facts, state.since) < thresholds.deallocated_min_hours:
        return None
    return _finding(FindingKind.DEALLOCATED_LONG, facts, state.since)


def failed_provisioning(facts: VmFacts, thresholds: Thresholds) -> Finding | None:
    state = facts.state
    failed = (state.provisioning_state or "").partition("/")[0].lower() == "failed"
    if state.deleted or not failed or not state.billable:
        return None
    if _hours(facts, facts.last_change) < thresholds.failed_min_hours:
        return None
    return _finding(FindingKind.FAILED_PROVISIONING, facts, facts.last_change)


def unconfirmed(facts: VmFacts, thresholds: Thresholds) -> Finding | None:
    state = facts.state
    if state.deleted:
        return None
    if state.power_state == UNKNOWN:
        since = state.since
    elif _hours(facts, facts.confirmed_at) >= thresholds.unconfirmed_after_hours:
        since = facts.confirmed_at
    else:
        return None
    if _hours(facts, since) < thresholds.unconfirmed_min_hours:
        return None
    return _finding(FindingKind.UNCONFIRMED, facts, since)


def billing_drift(facts: VmFacts, thresholds: Thresholds) -> Finding | None:
    """The day's hours the bill and the ledger disagree on (both are billed hours of one of them)."""
    drift = facts.drift
    if drift is None:
        return None
    difference = abs(drift.bill_hours - drift.ledger_hours)
    return Finding(FindingKind.BILLING_DRIFT, day_start(drift.day), difference, difference, drift=drift)


RULES: dict[FindingKind, Rule] = {
    FindingKind.STOPPED_BUT_BILLED: stopped_but_billed,
    FindingKind.DEALLOCATED_LONG: deallocated_long,
    FindingKind.FAILED_PROVISIONING: failed_provisioning,
    FindingKind.UNCONFIRMED: unconfirmed,
    FindingKind.BILLING_DRIFT: billing_drift,
}


def unattached_disk(disk_since: datetime, as_of: datetime, thresholds: Thresholds) -> Finding | None:
    """A managed disk no VM owns, unattached since ``disk_since`` (as the ledger saw it): it bills every hour
    and no compute runs on it. Its billed hours are not compute hours (0); its cost is its monthly rate."""
    hours = max((as_of - disk_since).total_seconds(), 0.0) / HOUR
    if hours < thresholds.unattached_min_hours:
        return None
    return Finding(FindingKind.UNATTACHED_DISK, disk_since, hours, 0.0)


# Every kind, in the order answers list them: the VM rules, then the disks'.
ALL_KINDS: tuple[FindingKind, ...] = (*RULES, FindingKind.UNATTACHED_DISK)


def findings_of(facts: VmFacts, thresholds: Thresholds, kinds: Iterable[FindingKind]) -> list[Finding]:
    """The findings of one VM, in ``kinds`` order (kinds that are not about VMs are left to their rules)."""
    found = (RULES[kind](facts, thresholds) for kind in kinds if kind in RULES)
    return [finding for finding in found if finding is not None]
