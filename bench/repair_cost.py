"""Measure 5: what a duplicate and a late event cost on a VM with a long history.

A VM with 1,000 and one with 10,000 transitions (``--long-history``), seeded in the row format straight
to Azurite; then, through the counting proxy, Event Grid delivers again an event recorded long ago (a
duplicate) and delivers late an event that lands just after it (it changes the next two rows). Round trips
are counted on the wire; the peak Python heap (``tracemalloc``) is taken around the one call to
``handle_event``. Both must be the same for both history lengths: what a delivery costs depends on what it
changes, not on how much history follows it.
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import FAIL, PASS, Result, alternating_history, ledger_for, new_table, progress, seed_rows
from devtools.events import vm_id, wire_event
from devtools.faultproxy import FaultProxy
from shared import settings
from shared.jobs import handle_event
from shared.settings import read_settings
from shared.sources import inbound_from_json
from shared.store import Ledger, Outcome, open_ledger

SHORT_HISTORY = 1_000
STEP = timedelta(minutes=5)
OLD_INDEX = 101  # a deallocate early in the history: everything else comes after it
HEAP_RATIO_TARGET = 2.0


def _measure(
    proxy: FaultProxy, ledger: Ledger, wire: dict[str, Any], expected: Outcome
) -> tuple[int, str, int]:
    """Round trips, their mix, and the peak heap in bytes of delivering ``wire`` once."""
    event = inbound_from_json(wire)
    proxy.reset_counts()
    tracemalloc.start()
    try:
        outcome = handle_event(event, ledger)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if outcome != expected:
        raise RuntimeError(f"expected {expected}, got {outcome}")
    counts: Counter[str] = proxy.counts()
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
    return sum(counts.values()), mix, peak


def repair_cost(
    proxy: FaultProxy, connection_string: str, long_history: int
) -> tuple[list[Result], list[str]]:
    table = new_table("repair")
    # Straight to Azurite, and patient: Azurite's batches slow down as one partition grows to many rows
    # (Azure Tables' do not); seeding is not measured.
    env = {settings.STORAGE_CONNECTION: connection_string, settings.TABLE_NAME: table}
    seeding = open_ledger(read_settings(env), read_timeout=300, timeout=900)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    measured: dict[str, dict[int, tuple[int, str, int]]] = {}
    sizes = (SHORT_HISTORY, long_history)
    for index, size in enumerate(sizes):
        # Each VM in a subscription (a partition) of its own, so the small one is not in a big partition.
        subscription = str(uuid.UUID(int=index + 1))
        resource_id = vm_id(f"vm-{size}", "rg-repair", subscription)
        history = alternating_history(size, end, STEP)
        progress(f"seeding a VM with {size:,} transitions")
        seed_rows(seeding.table, seeding.policy, resource_id, history)
        suffix, when = history[OLD_INDEX]
        old_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}/{OLD_INDEX}"))
        duplicate = wire_event(suffix.split("/")[0], when, resource_id=resource_id, event_id=old_id)
        late = [
            wire_event("restart", when + timedelta(minutes=minutes), resource_id=resource_id)
            for minutes in (1, 2)
        ]
        progress(f"a duplicate and a late event on {size:,} transitions")
        warm = ledger_for(proxy.connection_string, table)
        handle_event(inbound_from_json(wire_event("start", end + STEP, resource_id=resource_id)), warm)
        cold = Ledger(warm.table, warm.policy, cache_size=0)
        for label, ledger, wire, outcome in (
            ("duplicate, warm", warm, duplicate, Outcome.DUPLICATE),
            ("duplicate, cold", cold, duplicate, Outcome.DUPLICATE),
            ("late event, warm", warm, late[0], Outcome.RECORDED),
            ("late event, cold", cold, late[1], Outcome.RECORDED),
        ):
            measured.setdefault(label, {})[size] = _measure(proxy, ledger, wire, outcome)
    return _results(measured, sizes), [
        f"repair: VMs of {sizes[0]:,} and {sizes[1]:,} transitions seeded in the row format; the duplicate "
        f"is transition #{OLD_INDEX} delivered again, the late events are restarts 1 and 2 minutes after it "
        "(each rewrites the next two rows). Peak heap: tracemalloc around the one handle_event call."
    ]


def _results(measured: dict[str, dict[int, tuple[int, str, int]]], sizes: tuple[int, int]) -> list[Result]:
    small, large = sizes
    # A late event: the point read that finds it is not a duplicate, one query, one transaction.
    targets = {"duplicate, warm": 1, "duplicate, cold": 2, "late event, warm": 3, "late event, cold": 4}
    results = []
    for label, by_size in measured.items():
        trips = [by_size[size][0] for size in sizes]
        same = len(set(trips)) == 1 and trips[0] <= targets[label]
        results.append(
            Result(
                f"round trips / {label}, {small:,} / {large:,} transitions",
                f"{trips[0]} / {trips[1]} ({by_size[large][1]})",
                f"<= {targets[label]}, same for both",
                PASS if same else FAIL,
            )
        )
    for label, by_size in measured.items():
        heaps = [by_size[size][2] for size in sizes]
        ratio = heaps[1] / heaps[0]
        results.append(
            Result(
                f"peak heap / {label}, {small:,} / {large:,} transitions",
                f"{heaps[0] / 1024:.0f} / {heaps[1] / 1024:.0f} KiB (ratio {ratio:.2f})",
                f"ratio < {HEAP_RATIO_TARGET:g}",
                PASS if ratio < HEAP_RATIO_TARGET else FAIL,
            )
        )
    return results
