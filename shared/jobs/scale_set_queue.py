"""Scale-set-level events through the work queue: the Event Grid side enqueues, the queue side records.

Event Grid waits 30 s for an answer and then delivers again; listing a scale set of thousands of
instances and recording each one takes minutes. So ``on_vm_event`` only sends one small message (one
round trip; a failed send raises, so Event Grid retries) and ``record_scale_set_event``, triggered by
the queue, does ``handle_scale_set_event``.

Twice is harmless: a redelivered event or a message the host hands out again lists again, and an
instance whose state the ledger already has is not written (rows recorded at the event time carry one id
per event and instance). A failure raises, the host makes the message visible again after
``visibilityTimeout`` and tries again, up to ``MAX_DEQUEUE_COUNT`` times in all; then it moves the message
to the ``<queue>-poison`` queue. That last failure is logged as an error naming the event and the scale
set: nothing retries it, and the next reconcile records those instances' states at its listing time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.jobs.scale_set_events import handle_scale_set_event
from shared.sources import ArmClient, ScaleSetEvent, Skipped, read_scale_set_message, scale_set_message
from shared.store import Ledger, Outcome, WorkQueue

logger = logging.getLogger(__name__)

# host.json extensions.queues.maxDequeueCount (a test keeps them equal): the attempt after which the host
# gives a failed message to the poison queue.
MAX_DEQUEUE_COUNT = 5


def enqueue_scale_set_event(event: ScaleSetEvent, queue: WorkQueue) -> Outcome:
    """Hand ``event`` to the queue function; raises ``StorageUnavailable`` if the queue did not take it."""
    queue.send(scale_set_message(event))
    logger.info(
        "event %s on %s: %s queued for the instance listing (queue %s)",
        event.event_id, event.scale_set.resource_id, event.operation_name, queue.name,
    )  # fmt: skip
    return Outcome.QUEUED


def handle_scale_set_message(
    body: str | bytes, dequeue_count: int | None, ledger: Ledger, arm: Callable[[], ArmClient]
) -> Outcome:
    """Record what the event in ``body`` did to the set's instances; ``SKIPPED`` for a malformed message.

    ``dequeue_count`` is the host's count of deliveries of this message (1 the first time).
    """
    event = read_scale_set_message(body)
    if isinstance(event, Skipped):
        # Not raised: the same bytes would fail the same way five times before reaching the poison queue.
        logger.warning("queue message skipped: %s", event.reason)
        return Outcome.SKIPPED
    attempt = dequeue_count or 1
    try:
        outcome, _ = handle_scale_set_event(event, ledger, arm())
    except Exception as err:
        if attempt >= MAX_DEQUEUE_COUNT:
            logger.error(
                "event %s on %s: attempt %s of %s failed (%s); the host now moves the message to the "
                "poison queue, nothing retries it: the next reconcile records these instances at its "
                "listing time",
                event.event_id, event.scale_set.resource_id, attempt, MAX_DEQUEUE_COUNT, type(err).__name__,
            )  # fmt: skip
        else:
            logger.warning(
                "event %s on %s: attempt %s of %s failed (%s); the host tries again",
                event.event_id, event.scale_set.resource_id, attempt, MAX_DEQUEUE_COUNT, type(err).__name__,
            )  # fmt: skip
        raise
    return outcome
