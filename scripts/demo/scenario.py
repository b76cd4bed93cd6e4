"""What the demo does to the app, step by step: the sample day through ``on_vm_event``, the scale set's
events through the queue, the ``reconcile_vms`` timer, each followed by what the API then answers."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.functions.timer import TimerRequest

from devtools.fake_topic import FakeTopic
from devtools.queue_host import QueueTrigger
from devtools.worker import event_grid_argument
from scripts.demo import QUEUE
from scripts.demo.presentation import (
    changed_rows,
    ingest_summary,
    listed_summary,
    print_actuals,
    print_chargeback,
    print_findings,
    print_history,
    print_next_steps,
    print_rows,
    print_topic_events,
    vm_rows,
    write_timeline_snapshot,
)
from scripts.demo.setup import shift_events


@dataclass(frozen=True)
class ScaleSetDay:
    """The scale set's events, each with the instances a listing shows after it, and the fake's file."""

    steps: list[dict[str, Any]]
    listing: Path


def run(
    events: list[dict[str, Any]],
    now: datetime,
    shift: timedelta,
    arm_url: str,
    snapshot: Path,
    scale_set_day: ScaleSetDay,
    topic: FakeTopic,
) -> int:
    import function_app
    from shared.domain.times import format_time

    print(f"\n1. Replaying {len(events)} deliveries of a sample day through on_vm_event: both schemas,")
    print(
        "   a duplicate, an out-of-order start, a hibernate, and an extension and a storage event (skipped)."
    )
    with _counting_outcomes() as outcomes:
        for wire in events:
            function_app.on_vm_event(event_grid_argument(wire))
    print("   " + ingest_summary(len(events), outcomes))
    _replay_scale_set(function_app, scale_set_day, shift)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    print(f"\n2. The ledger, as the HTTP API reports it (billed hours today = since {format_time(today)}):\n")
    before = vm_rows(function_app, today)
    print_rows(before)
    _push_findings(now)
    print_topic_events(
        topic.events, "   The findings as they stand, published to a loopback Event Grid topic"
    )
    published = len(topic.events)
    print(f"\n3. reconcile_vms against List All (statusOnly=true) served by a loopback fake at {arm_url};")
    print(
        "   VMs it adopts are backfilled from the Activity Log the same fake serves. The same run lists the"
    )
    print(
        "   VM models (size, OS, priority, tags) and fetches retail prices from a loopback fake of the Retail"
    )
    print(
        "   Prices API, so each VM now has an estimated cost, and asks a loopback fake of Cost Management for"
    )
    print("   the bill of the days not yet final:")
    function_app.reconcile_vms(TimerRequest(past_due=False))
    after = vm_rows(function_app, today)
    print_rows(after, changed=changed_rows(before, after))
    print_chargeback(function_app, today)
    print_actuals(function_app, today - timedelta(days=2))
    print_history(function_app, after, "web-02", "4")
    print_findings(function_app, now)
    print_topic_events(topic.events[published:], "   What the timer run raised and cleared on the topic")
    print_history(function_app, after, "archive-01", "6", backfilled=True)
    write_timeline_snapshot(now, snapshot)
    print_next_steps(after)
    return 0


def _push_findings(now: datetime) -> None:
    """What a timer run's findings step does, before the demo's reconcile: the sample day's findings."""
    from shared import context, jobs

    push = context.root().findings_push()
    assert push is not None
    jobs.push_findings(push, now=now, deadline=float("inf"))


def _replay_scale_set(function_app, scale_set_day: ScaleSetDay, shift: timedelta) -> None:
    """Each scale-set event, after moving the fake ARM's instances to what a listing shows after it."""
    day, scale_sets = scale_set_day.steps, scale_set_day.listing
    final = scale_sets.read_text()
    subscription = next(iter(json.loads(final)))
    print(
        f"\n   Scale set web-ss: {len(day)} scale-set events (created, scaled out, 2 of 4 deallocated, scaled"
    )
    print("   in). on_vm_event queues each one; record_scale_set_event takes it from the queue, lists the")
    print("   set's instances from the fake ARM and records what changed.")
    queue = QueueTrigger(function_app.record_scale_set_event, os.environ["VM_LEDGER_STORAGE"], QUEUE)
    with _counting_outcomes() as outcomes, _counting_outcomes("handle_scale_set_message") as recorded:
        for step in day:
            entry = json.loads(final)[subscription][0]
            scale_sets.write_text(json.dumps({subscription: [{**entry, "instances": step["instances"]}]}))
            function_app.on_vm_event(event_grid_argument(shift_events([step["event"]], shift)[0]))
            queue.drain()
    scale_sets.write_text(final)  # what the reconcile will list: instance 1 shut down inside its guest
    print("   " + ingest_summary(len(day), outcomes) + "; then from the queue: " + listed_summary(recorded))


@contextlib.contextmanager
def _counting_outcomes(job: str = "handle_event") -> Iterator[Counter[str]]:
    """Count what ``job`` (``handle_event``, ``handle_scale_set_message``) returns while the real
    ``on_vm_event`` or ``record_scale_set_event`` calls it.

    The triggers return None (they have no output), so the demo watches the function they call, which the
    composition root (``shared.context``) looks up in ``shared.jobs`` at each call, instead of calling it
    itself: the events still take the worker's path.
    """
    import shared.jobs

    original = getattr(shared.jobs, job)
    outcomes: Counter[str] = Counter()

    def counting(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        outcomes[outcome] += 1
        return outcome

    setattr(shared.jobs, job, counting)
    try:
        yield outcomes
    finally:
        setattr(shared.jobs, job, original)
