"""Handling one Event Grid delivery: parse it, record it, log what happened.

Resource events and health events come through the same trigger: a health event goes to
``jobs.health``, which reads the VM's instance view through ``arm`` first. A scale-set-level event goes to
the work queue when there is one (``jobs.scale_set_queue``): its listing would not fit Event Grid's 30 s.

Out-of-scope and malformed events are logged and return normally: raising would make Event Grid
redeliver them for a day. Storage failures raise, so that Event Grid delivers the event again; so does a
queue that does not take a scale set event, or (handled inline) a scale set listing that fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.domain.evidence import NewTransition, ResourceEvent
from shared.errors import ConfigurationError
from shared.jobs.health import handle_health_event
from shared.jobs.scale_set_events import handle_scale_set_event
from shared.jobs.scale_set_queue import enqueue_scale_set_event
from shared.sources import (
    ArmClient,
    InboundEvent,
    ScaleSetEvent,
    Skipped,
    is_health_event,
    parse_resource_event,
)
from shared.store import Ledger, Outcome, WorkQueue

logger = logging.getLogger(__name__)
_LOG_LIMIT = 200


def handle_event(
    event: InboundEvent,
    ledger: Ledger,
    arm: Callable[[], ArmClient] | None = None,
    *,
    queue: Callable[[], WorkQueue] | None = None,
) -> Outcome:
    """Record ``event`` if it concerns a VM, an instance or a scale set; return ``recorded``,
    ``duplicate``, ``skipped`` or ``queued``.

    ``arm`` gives the Resource Manager client, built only when an event needs it: a health event reads
    the VM's instance view, a scale set event lists the set's instances. ``queue`` gives the work queue
    that scale set events are handed to (the Event Grid function); without one they are handled here
    (the command line's replay, which no 30-second deadline bounds).
    """
    if is_health_event(event):
        return handle_health_event(event, ledger, _client(arm, "a health event"))
    parsed = parse_resource_event(event)
    if isinstance(parsed, Skipped):
        level = logging.WARNING if parsed.malformed else logging.DEBUG
        logger.log(
            level, "event %s skipped: %s (subject %s)", _safe(event.id), parsed.reason, _safe(event.subject)
        )
        return Outcome.SKIPPED
    if isinstance(parsed, ScaleSetEvent):
        if queue is not None:
            return enqueue_scale_set_event(parsed, queue())
        return handle_scale_set_event(parsed, ledger, _client(arm, "a scale set event"))[0]
    evidence = ResourceEvent(parsed.event_id, parsed.operation_name, parsed.event_type, parsed.correlation_id)
    outcome = ledger.record(NewTransition(parsed.vm, parsed.time, parsed.change, evidence))
    logger.info(
        "event %s %s for %s: %s at %s",
        _safe(parsed.event_id),
        outcome,
        parsed.vm.resource_id,
        parsed.operation_name,
        parsed.time.isoformat(),
    )
    return outcome


def _client(arm: Callable[[], ArmClient] | None, needed_by: str) -> ArmClient:
    # Raising, not skipping: the event would otherwise be lost without a trace.
    if arm is None:
        raise ConfigurationError(f"{needed_by} needs a Resource Manager client")
    return arm()


def _safe(value: object) -> str:
    """Input-controlled text for a log line: printable and short."""
    return repr(value)[:_LOG_LIMIT]
