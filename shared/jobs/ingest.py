"""Handling one Event Grid delivery: parse it, record it, log what happened.

Out-of-scope and malformed events are logged and return normally: raising would make Event Grid
redeliver them for a day. Storage failures raise, so that Event Grid delivers the event again; so does a
scale set listing that fails (``scale_set_events``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.jobs.scale_set_events import handle_scale_set_event
from shared.sources import ArmClient, InboundEvent, ScaleSetEvent, Skipped, parse_vm_event
from shared.store import Ledger, NewTransition, Outcome, Source

logger = logging.getLogger(__name__)
_LOG_LIMIT = 200


def handle_event(event: InboundEvent, ledger: Ledger, arm: Callable[[], ArmClient] | None = None) -> Outcome:
    """Record ``event`` if it concerns a VM, an instance or a scale set; return ``recorded``,
    ``duplicate`` or ``skipped``. ``arm`` gives the client that lists a scale set's instances."""
    parsed = parse_vm_event(event)
    if isinstance(parsed, Skipped):
        level = logging.WARNING if parsed.malformed else logging.DEBUG
        logger.log(
            level, "event %s skipped: %s (subject %s)", _safe(event.id), parsed.reason, _safe(event.subject)
        )
        return Outcome.SKIPPED
    if isinstance(parsed, ScaleSetEvent):
        if arm is None:
            logger.warning("event %s skipped: no ARM client to list %s", _safe(parsed.event_id),
                           parsed.scale_set.resource_id)  # fmt: skip
            return Outcome.SKIPPED
        return handle_scale_set_event(parsed, ledger, arm())[0]
    outcome = ledger.record(
        NewTransition(
            vm=parsed.vm,
            time=parsed.time,
            change=parsed.change,
            source=Source.EVENT,
            event_id=parsed.event_id,
            operation_name=parsed.operation_name,
            event_type=parsed.event_type,
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
