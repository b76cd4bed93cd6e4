"""Handling one Event Grid delivery: parse it, record it, log what happened.

Resource events and health events come through the same trigger: a health event goes to
``jobs.health``, which reads the VM's instance view through ``arm`` first.

Out-of-scope and malformed events are logged and return normally: raising would make Event Grid
redeliver them for a day. Storage failures raise, so that Event Grid delivers the event again.
"""

from __future__ import annotations

import logging

from shared.errors import ConfigurationError
from shared.jobs.health import InstanceViews, handle_health_event
from shared.sources import InboundEvent, Skipped, is_health_event, parse_vm_event
from shared.store import Ledger, NewTransition, Outcome, Source

logger = logging.getLogger(__name__)
_LOG_LIMIT = 200


def handle_event(event: InboundEvent, ledger: Ledger, arm: InstanceViews | None = None) -> Outcome:
    """Record ``event`` if it concerns a VM; return ``recorded``, ``duplicate`` or ``skipped``.

    ``arm`` reads instance views for health events; it is required once one arrives.
    """
    if is_health_event(event):
        if arm is None:
            raise ConfigurationError("a health event needs a Resource Manager client to read instance views")
        return handle_health_event(event, ledger, arm)
    parsed = parse_vm_event(event)
    if isinstance(parsed, Skipped):
        level = logging.WARNING if parsed.malformed else logging.DEBUG
        logger.log(
            level, "event %s skipped: %s (subject %s)", _safe(event.id), parsed.reason, _safe(event.subject)
        )
        return Outcome.SKIPPED
    outcome = ledger.record(
        NewTransition(
            vm=parsed.vm,
            time=parsed.time,
            change=parsed.change,
            source=Source.EVENT,
            event_id=parsed.event_id,
            operation_name=parsed.operation_name,
            event_type=parsed.event_type,
            correlation_id=parsed.correlation_id,
        )
    )
    logger.info(
        "event %s %s for %s: %s at %s",
        _safe(parsed.event_id),
        outcome,
        parsed.vm.resource_id,
        parsed.operation_name,
        parsed.time.isoformat(),
    )
    return outcome


def _safe(value: object) -> str:
    """Input-controlled text for a log line: printable and short."""
    return repr(value)[:_LOG_LIMIT]
