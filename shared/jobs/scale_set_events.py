"""A scale-set-level event (start, powerOff, deallocate, restart, delete instances, a scale out or in):
list the scale set's instances once and record each instance whose state differs from the ledger.

The event does not say which instances the operation touched (the request body is not in it; no body
means all), so the listing decides. An instance whose listed state is the one the operation leads to is
recorded at the event's time (the operation ended then); any other difference at the listing's time, as
a reconcile would. The listing is read whole before anything is written: a listing that fails raises, so
Event Grid delivers the event again, and nothing is half-written. Round trips: the instance pages, one
range query for the instances the ledger knows, a write per known instance that changed, and the new ones
(a scale-out) adopted together: a query and a transaction per 33 of them (``Ledger.adoption``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId, parse_vm_id
from shared.domain.operations import DELETE, POWER_AFTER_SUCCESS, SUCCEEDED, WRITE, change_for
from shared.domain.times import utc_now
from shared.domain.vm_state import Change
from shared.jobs._observation import observed_change, observed_transition, state_differs
from shared.sources import ArmClient, ListedVm, ListingError, ScaleSetEvent
from shared.store import CurrentRow, Ledger, Outcome

logger = logging.getLogger(__name__)

# The scale set delete itself (not "delete instances"): every instance is gone, nothing to list.
_DELETES_SCALE_SET = "microsoft.compute/virtualmachinescalesets/delete"


@dataclass
class ScaleSetReport:
    listed: int = 0
    at_event_time: int = 0
    at_listing_time: int = 0
    deleted: int = 0


def handle_scale_set_event(
    event: ScaleSetEvent, ledger: Ledger, arm: ArmClient, *, clock: Callable[[], datetime] = utc_now
) -> tuple[Outcome, ScaleSetReport]:
    """Record what ``event`` did to each instance; ``RECORDED`` when anything was written."""
    report = ScaleSetReport()
    whole_set_deleted = event.outcome == SUCCEEDED and event.operation_name.lower() == _DELETES_SCALE_SET
    listed = [] if whole_set_deleted else _list_instances(event, arm)
    listed_at = clock()
    scale_set = event.scale_set
    known = {
        row.vm.vm_key: row
        for row in ledger.iter_current_rows(
            scale_set.subscription_key, group=scale_set.resource_group, scale_set_name=scale_set.name
        )
    }
    adoption, new = ledger.adoption(known), Adopting(ledger)
    for item in listed:
        vm = parse_vm_id(item.resource_id)
        if vm is None or vm.scale_set is None or vm.scale_set.key != scale_set.key:
            logger.warning("event %s: listed id %r is not an instance of %s", event.event_id,
                           item.resource_id[:200], scale_set.resource_id)  # fmt: skip
            continue
        report.listed += 1
        _apply_listed(new, event, vm, item, known.pop(vm.vm_key, None), listed_at, report)
    adoption.adopt(new.transitions)  # a scale-out's new instances together, not a round trip each
    for current in known.values():
        if not current.condition.state.deleted:
            _record_gone(ledger, event, current, listed_at, report)
    outcome = Outcome.RECORDED if report.at_event_time + report.at_listing_time else Outcome.DUPLICATE
    logger.info(
        "event %s on %s: %s instance(s) listed, %s recorded at the event time, %s at the listing time "
        "(%s deleted)", event.event_id, scale_set.resource_id, report.listed, report.at_event_time,
        report.at_listing_time, report.deleted,
    )  # fmt: skip
    return outcome, report


def _list_instances(event: ScaleSetEvent, arm: ArmClient) -> list[ListedVm]:
    """Every instance, or none when Resource Manager says the scale set does not exist; any other
    failure (another 404 too) raises."""
    try:
        return [item for page in arm.iter_instance_pages(event.scale_set) for item in page]
    except ListingError as err:
        if err.resource_not_found and err.pages_read == 0:
            logger.info("event %s: %s no longer exists", event.event_id, event.scale_set.resource_id)
            return []
        raise


class Recorder(Protocol):
    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> object: ...


class Adopting:
    """Where the transitions of a listing go: new instances' kept for adoption together, the rest
    recorded at once."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.transitions: list[NewTransition] = []

    def record(self, new: NewTransition, *, known_current: CurrentRow | None = None) -> None:
        if known_current is None:
            self.transitions.append(new)
        else:
            self.ledger.record(new, known_current=known_current)


def _apply_listed(
    ledger: Recorder,
    event: ScaleSetEvent,
    vm: VmId,
    listed: ListedVm,
    current: CurrentRow | None,
    listed_at: datetime,
    report: ScaleSetReport,
) -> None:
    known = current.condition.state if current is not None else None
    if known is not None and not known.deleted and not state_differs(known, listed):
        return
    if known is not None and listed.power_state is None and not known.deleted:
        return  # a missing power status is no evidence of change
    if _after_last(event, current) and _led_there(event, listed, current):
        change = change_for(event.instance_operation, SUCCEEDED, hibernate=event.hibernate)
        _record_at_event(ledger, event, vm, change, current)
        report.at_event_time += 1
    else:
        change = observed_change(listed, known)
        _record_at_listing(ledger, event, vm, change, listed_at, current)
        report.at_listing_time += 1


def _record_gone(
    ledger: Ledger, event: ScaleSetEvent, current: CurrentRow, listed_at: datetime, report: ScaleSetReport
) -> None:
    """An instance the ledger knows that the complete listing did not return: deleted."""
    gone = Change(provisioning_state="Deleted", deletes=True)
    if _after_last(event, current) and event.instance_operation in (DELETE, WRITE):
        _record_at_event(ledger, event, current.vm, change_for(DELETE, SUCCEEDED), current)
        report.at_event_time += 1
    else:
        _record_at_listing(ledger, event, current.vm, gone, listed_at, current)
        report.at_listing_time += 1
    report.deleted += 1


def _after_last(event: ScaleSetEvent, current: CurrentRow | None) -> bool:
    """Only a successful operation newer than what the ledger knew can explain the listed state."""
    return event.outcome == SUCCEEDED and (current is None or current.span.last_time < event.time)


def _led_there(event: ScaleSetEvent, listed: ListedVm, current: CurrentRow | None) -> bool:
    """Is the listed state the one the operation leads to? A write leads a new instance to running."""
    if event.instance_operation == WRITE:
        return (current is None or current.condition.state.deleted) and listed.power_state == "running"
    power = POWER_AFTER_SUCCESS.get(event.instance_operation)
    if power is None or listed.power_state != power:
        return False
    return listed.hibernated == (event.hibernate and power == "deallocated")


def _record_at_event(
    ledger: Recorder, event: ScaleSetEvent, vm: VmId, change: Change, current: CurrentRow | None
) -> None:
    # One id per event and instance: a redelivered event finds its rows already there.
    evidence = ResourceEvent(f"{event.event_id}/{vm.name.lower()}", event.operation_name, event.event_type)
    new = NewTransition(current.vm if current else vm, event.time, change, evidence)
    ledger.record(new, known_current=current)


def _record_at_listing(
    ledger: Recorder,
    event: ScaleSetEvent,
    vm: VmId,
    change: Change,
    listed_at: datetime,
    current: CurrentRow | None,
) -> None:
    new = observed_transition(
        vm, change, listed_at, current, id_prefix="listing", operation_name=event.operation_name
    )
    ledger.record(new, known_current=current)
