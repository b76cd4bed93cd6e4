"""Handling one health event: read the VM's instance view and record what it shows, with the cause.

A health event (preview ``HealthResources`` topic) says *why* a VM changed (a shutdown inside the guest,
a Spot eviction, platform maintenance) and *when*, never the power state. So, for an event about a VM:

1. If the ledger already holds a transition at or after the event's time, the event is late (or a
   repeat): the instance view shows the VM *now*, which says nothing about that earlier moment, and the
   newer record wins. Nothing is read or written.
2. Otherwise the instance view is read. A failed read raises (``UpstreamUnavailable``) before anything is
   written, so Event Grid delivers the event again.
3. What it shows is recorded at the event's time with source ``health`` and the cause, unless it is what
   the ledger already says. A transient state seen there (``stopping``, ``deallocating``) bills like the
   state it leads to, and the next event or reconcile records the end state.

Recording goes through ``Ledger.record``: idempotent per event id and ordered by time, as for resource
events. A VM that Resource Manager says no longer exists (404 ``ResourceNotFound``; any other 404 is a
failed read, as in 2.) is left to the reconcile, except after a Spot eviction, where the VM's eviction
policy was Delete: it is recorded as deleted at the eviction time.
"""

from __future__ import annotations

import logging
from typing import Protocol

from shared.domain.evidence import HealthAnnotation, NewTransition
from shared.domain.health import Cause
from shared.domain.ids import VmId
from shared.domain.vm_state import Change
from shared.jobs._observation import observed_change
from shared.sources import HealthEvent, InboundEvent, ListedVm, Skipped, parse_health_event
from shared.store import CurrentRow, Ledger, Outcome

logger = logging.getLogger(__name__)
_LOG_LIMIT = 200


class InstanceViews(Protocol):
    """What this job needs of the Resource Manager client."""

    def get_instance_view(self, vm: VmId) -> ListedVm | None: ...


def handle_health_event(event: InboundEvent, ledger: Ledger, arm: InstanceViews) -> Outcome:
    """Record what the VM's instance view shows at the event's time; ``recorded``, ``duplicate`` or
    ``skipped``. Raises when the instance view or the ledger cannot be read or written."""
    parsed = parse_health_event(event)
    if isinstance(parsed, Skipped):
        level = logging.WARNING if parsed.malformed else logging.DEBUG
        logger.log(level, "health event %s skipped: %s", _safe(event.id), parsed.reason)
        return Outcome.SKIPPED
    current = ledger.get_current(parsed.vm)
    if current is not None and current.span.last_time >= parsed.time:
        _log(parsed, "skipped: the ledger already has a record at or after this time (late or repeated)")
        return Outcome.SKIPPED
    observed = arm.get_instance_view(parsed.vm)
    change = _change(parsed, observed, current)
    if change is None:
        return Outcome.SKIPPED
    evidence = HealthAnnotation(parsed.event_id, parsed.operation_name, parsed.cause, parsed.event_type)
    vm = current.vm if current else parsed.vm
    outcome = ledger.record(NewTransition(vm, parsed.time, change, evidence), known_current=current)
    _log(parsed, str(outcome))
    return outcome


def _change(parsed: HealthEvent, observed: ListedVm | None, current: CurrentRow | None) -> Change | None:
    """The change to record, or ``None`` (logged) when there is nothing to record."""
    if observed is None:
        if parsed.cause is Cause.SPOT_EVICTION and not (current and current.condition.state.deleted):
            return Change(provisioning_state="Deleted", deletes=True)
        _log(parsed, "skipped: the VM no longer exists; the reconcile records its deletion")
        return None
    if observed.power_state is None:
        _log(parsed, "skipped: the instance view shows no power state; the reconcile will look again")
        return None
    if current is not None and _shows_current(observed, current):
        _log(parsed, "skipped: the instance view shows what the ledger already says")
        return None
    return observed_change(observed, current.condition.state if current else None)


def _shows_current(observed: ListedVm, current: CurrentRow) -> bool:
    state = current.condition.state
    if state.deleted or (observed.power_state, observed.hibernated) != (state.power_state, state.hibernated):
        return False
    seen = (observed.provisioning_state or "").partition("/")[0].lower()
    return not seen or seen == (state.provisioning_state or "").partition("/")[0].lower()


def _log(parsed: HealthEvent, what: str) -> None:
    logger.info(
        "health event %s for %s (%s, cause %s) at %s: %s",
        _safe(parsed.event_id),
        parsed.vm.resource_id,
        parsed.operation_name,
        parsed.cause.value,
        parsed.time.isoformat(),
        what,
    )


def _safe(value: object) -> str:
    """Input-controlled text for a log line: printable and short."""
    return repr(value)[:_LOG_LIMIT]
