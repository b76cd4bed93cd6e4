"""Scale set events through the work queue: what the Event Grid invocation costs, and how long until the
instances are recorded by the queue function.

Event Grid waits 30 s for ``on_vm_event`` to answer. A scale-set-level event now costs the invocation one
queue send, whatever the set's size; the listing and the recording run in ``record_scale_set_event``.
Measured here on Azurite with the loopback fake ARM (listing pages of 100):

- 100 Uniform sets of 100 instances, one deallocate event per set delivered back to back (a burst), then
  the queue drained by the stand-in of the host's queue trigger, one message at a time (the host runs up
  to ``batchSize + newBatchThreshold`` at once per instance: the drain time is an upper bound);
- one set of 5,000 instances, one deallocate.

Every instance is seeded created and running, and listed deallocated. Invocation round trips are what the
counting proxies and the fake saw during the ``on_vm_event`` calls of a warm instance (ledger open, queue
created); the queue function's are counted the same way while it drains (the stand-in's own receive and
delete calls go straight to Azurite and are not counted). Times are wall-clock times of this run.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import function_app
from bench.harness import FAIL, INFO, PASS, Result, ledger_for, new_table, progress
from bench.scale_set_cost import seed_instances
from devtools.azurite import Azurite, connection_string
from devtools.events import scale_set_id, scale_set_operation, wire_event
from devtools.fake_arm import FakeArm, make_instance, make_scale_set
from devtools.faultproxy import FaultProxy
from devtools.queue_host import QueueSettings, QueueTrigger
from devtools.worker import event_grid_argument
from shared import context, settings

SUB = "6e8f0a21-3b4c-4d5e-9f60-718293a4b5c6"
SETS, SET_SIZE = 100, 100
LARGE_SIZE = 5_000
PAGE_SIZE = 100
EVENT_TIME = datetime(2026, 11, 2, 0, 10, tzinfo=UTC)  # after the seeded creation
EVENT_GRID_WAIT = 30.0  # seconds Event Grid waits for an answer before it delivers again


def scale_set_queue_cost(azurite: Azurite) -> tuple[list[Result], list[str]]:
    large = [make_scale_set(SUB, "rg-fleet", "large", capacity=LARGE_SIZE)]
    sets = [make_scale_set(SUB, "rg-fleet", f"ss{n:03d}", capacity=SET_SIZE) for n in range(SETS)]
    # Each scenario on a table of its own: Azurite slows down as a table grows, and the two would add up.
    results = _scenario(azurite, large, f"one set of {LARGE_SIZE:,} instances")
    results += _scenario(azurite, sets, f"{SETS} sets x {SET_SIZE} instances")
    notes = [
        f"scale set queue: Uniform sets seeded running, listed deallocated (pages of {PAGE_SIZE}); "
        "invocation = on_vm_event on a warm instance, round trips seen by the counting proxies and the fake "
        "ARM; time to recorded = from the first event's delivery to the last instance recorded, the queue "
        "drained one message at a time (the host runs several at once: an upper bound). Queue function "
        "bound, per set = instance pages + range reads of the set's rows (1,000 a page) + 1 write per "
        "changed instance.",
    ]
    return results, notes


def _scenario(azurite: Azurite, sets: list[dict], label: str) -> list[Result]:
    table = new_table("benchqueue")
    queue = "benchqueue" + table[-8:]
    ledger = ledger_for(azurite.connection_string, table)
    progress(f"{label}: seeding every instance created and running")
    seed_instances(ledger, SUB, sets, connection_string=azurite.connection_string)
    entries = [{"scaleSet": s, "instances": _deallocated(s, s["sku"]["capacity"])} for s in sets]
    with (
        FakeArm({SUB: []}, scale_sets={SUB: entries}, page_size=PAGE_SIZE) as fake,
        FaultProxy(azurite.port) as tables,
        FaultProxy(azurite.queue_port) as queues,
    ):
        _point_app_at(fake.url, connection_string(tables.port, queues.port), table, queue)
        context.get_ledger(), context.get_work_queue()  # a warm instance
        listings = QueueTrigger(_with_progress(label, len(sets)), azurite.connection_string, queue,
                                QueueSettings.from_host_json())  # fmt: skip
        progress(f"{label}: {len(sets)} deallocate event(s) through on_vm_event, then the queue function")
        results = _burst(_Counters(fake, tables, queues), listings.drain, sets, label)
    ledger.table.delete_table()
    context.reset()
    for result in results:
        progress(f"{result.measure}: {result.value}")
    return results


def _with_progress(label: str, total: int) -> Callable[[Any], None]:
    """The real queue function, saying every tenth listing how far the drain is."""
    done = 0
    began = time.perf_counter()

    def record(message: Any) -> None:
        nonlocal done
        function_app.record_scale_set_event(message)
        done += 1
        if done % 10 == 0 or done == total:
            progress(f"{label}: {done}/{total} listings recorded, {time.perf_counter() - began:.0f} s")

    return record


class _Counters:
    """ARM requests, Table and Queue round trips since the last ``reset``."""

    def __init__(self, fake: FakeArm, tables: FaultProxy, queues: FaultProxy) -> None:
        self.fake, self.tables, self.queues = fake, tables, queues
        self.reset()

    def reset(self) -> None:
        self._arm = len(self.fake.requests)
        self.tables.reset_counts()
        self.queues.reset_counts()

    def read(self) -> tuple[int, int, int]:
        return len(self.fake.requests) - self._arm, self.tables.total(), self.queues.total()


def _burst(counters: _Counters, drain: Callable[..., list], sets: list[dict], label: str) -> list[Result]:
    events = [_event(scale_set["name"]) for scale_set in sets]
    counters.reset()
    began = time.perf_counter()
    durations = []
    for event in events:
        start = time.perf_counter()
        function_app.on_vm_event(event_grid_argument(event))
        durations.append(time.perf_counter() - start)
    arm, table, queue = counters.read()
    counters.reset()
    deliveries = drain(timeout=3600)
    recorded = time.perf_counter() - began
    work = counters.read()
    done = sum(delivery.outcome == "done" for delivery in deliveries)
    per_event = (arm + table + queue) / len(events)
    # Per set: its instance pages, the range reads of its rows (1,000 a page), one write per instance.
    sizes = [scale_set["sku"]["capacity"] for scale_set in sets]
    bound = sum(math.ceil(size / PAGE_SIZE) + math.ceil(size / 1000) + size for size in sizes)
    instances = sum(sizes)
    within = work[0] + work[1] <= bound and work[2] == 0 and done == len(events)
    return [
        Result(f"scale-set event invocation, {label}: round trips / event",
               f"{per_event:.2f} ({arm} ARM + {table} Table + {queue} Queue for {len(events)})", "<= 1",
               PASS if per_event <= 1 and arm == table == 0 else FAIL),
        Result(f"scale-set event invocation, {label}: time",
               f"max {max(durations):.3f} s, mean {statistics.fmean(durations):.3f} s",
               f"< {EVENT_GRID_WAIT:.0f} s (Event Grid's wait)",
               PASS if max(durations) < EVENT_GRID_WAIT else FAIL),
        Result(f"queue function, {label}: round trips",
               f"{sum(work)} ({work[0]} ARM + {work[1]} Table + {work[2]} Queue)", f"<= {bound}",
               PASS if within else FAIL),
        Result(f"queue function, {label}: time to recorded",
               f"{recorded:.1f} s for {instances:,} instances ({instances / recorded:.0f}/s)", "-", INFO),
    ]  # fmt: skip


def _event(name: str) -> dict:
    return wire_event("deallocate", EVENT_TIME, resource_id=scale_set_id(name, "rg-fleet", SUB),
                      operation=scale_set_operation("deallocate"), seed=f"bench-{name}")  # fmt: skip


def _deallocated(scale_set: dict, size: int) -> list[dict]:
    return [make_instance(scale_set, str(n), power="deallocated") for n in range(size)]


def _point_app_at(arm: str, connection: str, table: str, queue: str) -> None:
    unset = (settings.STORAGE_SERVICE_URI, settings.STORAGE_QUEUE_SERVICE_URI, settings.BILLED_POWER_STATES)
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update({settings.STORAGE_CONNECTION: connection, settings.TABLE_NAME: table,
                       settings.QUEUE_NAME: queue, settings.ARM_ENDPOINT: arm})  # fmt: skip
    context.reset()
