"""Measure 3: events per second through the real ``on_vm_event``, against two baselines in the same run.

All three write to Azurite directly (no proxy) with the same client library and options
(``shared.store.open_ledger``) and the same number of worker threads, over the same VMs:

- ``on_vm_event``: the function as the worker calls it, on a warm instance (its process ledger has seen
  every VM: each was created through it before the clock starts);
- baseline (a), the minimal safe pattern: one point read of the VM's current row, then one entity group
  transaction that inserts the transition and replaces the current row on its ETag;
- baseline (b): that transaction alone (insert + unconditional upsert), which is not safe with racing
  writers and is the floor of what any design pays.

Each timed phase sends one event to each VM (no two workers on one VM, so no conflicts). Phases of the
three run interleaved, and the best of the repetitions counts: noise on a shared machine only ever slows
a phase down.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

import function_app
from bench.harness import FAIL, PASS, Result, ledger_for, new_table, progress, use_table, vm_of
from devtools.events import at, vm_id, wire_event
from devtools.worker import event_grid_argument
from shared import context
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.vm_state import BillingPolicy, Change, VmState
from shared.store.seeding import in_order_entities, register_subscription

VMS = 1_000
WORKERS = (1, 8)
REPETITIONS = 2
WARM_UP = 100
TARGET_RATIO = 0.8
_RUNNING = Change(provisioning_state="Succeeded", power_state="running")


@dataclass
class _Variant:
    name: str
    prepare: Callable[[int], list[Any]]  # phase number -> one work item per VM
    handle: Callable[[Any], None]


def _run_phase(items: list[Any], handle: Callable[[Any], None], workers: int) -> float:
    """Events per second for handling ``items`` with ``workers`` threads."""
    began = time.perf_counter()
    if workers == 1:
        for item in items:
            handle(item)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(handle, items):
                pass
    return len(items) / (time.perf_counter() - began)


def _app_variant(connection_string: str, resource_ids: list[str]) -> _Variant:
    use_table(connection_string, new_table("tpapp"))
    progress(f"creating {len(resource_ids):,} VMs through on_vm_event (untimed)")
    creations = [event_grid_argument(wire_event("write", at(0), resource_id=rid)) for rid in resource_ids]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(function_app.on_vm_event, creations))
    context.get_ledger()  # built and warm: every VM's current row is in its cache

    def prepare(phase: int) -> list[Any]:
        verb = "deallocate" if phase % 2 else "start"
        return [
            event_grid_argument(wire_event(verb, at(hours=phase), resource_id=rid)) for rid in resource_ids
        ]

    def handle(event: Any) -> None:
        function_app.on_vm_event(event)

    return _Variant("on_vm_event", prepare, handle)


def _baseline_rows(resource_id: str, phase: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two entities a transition writes, in the ledger's own row format (same size on the wire)."""
    vm = vm_of(resource_id)
    when: datetime = at(hours=phase)
    event_id = str(uuid.uuid4())
    state = VmState("Succeeded", "running", False, False, True, when)
    evidence = ResourceEvent(
        event_id,
        "Microsoft.Compute/virtualMachines/start/action",
        "Microsoft.Resources.ResourceActionSuccess",
    )
    new = NewTransition(vm, when, _RUNNING, evidence)
    return in_order_entities(new, state, BillingPolicy.parse(None))


def _baseline_table(connection_string: str, resource_ids: list[str]) -> TableClient:
    table = ledger_for(connection_string, new_table("tpbase")).table
    register_subscription(table, vm_of(resource_ids[0]).subscription_key)
    currents = [_baseline_rows(rid, 0)[1] for rid in resource_ids]
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for entity in currents:
        by_partition.setdefault(entity["PartitionKey"], []).append(entity)
    for entities in by_partition.values():
        for start in range(0, len(entities), 100):
            table.submit_transaction([("upsert", entity) for entity in entities[start : start + 100]])
    return table


def _read_then_transact(connection_string: str, resource_ids: list[str]) -> _Variant:
    table = _baseline_table(connection_string, resource_ids)

    def prepare(phase: int) -> list[Any]:
        return [(rid, phase) for rid in resource_ids]

    def handle(item: tuple[str, int]) -> None:
        transition, current = _baseline_rows(*item)
        stored = table.get_entity(current["PartitionKey"], current["RowKey"])
        table.submit_transaction(
            [
                ("create", transition),
                (
                    "update",
                    current,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": stored.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                ),
            ]
        )

    return _Variant("baseline (a) read + transaction", prepare, handle)


def _transact_only(connection_string: str, resource_ids: list[str]) -> _Variant:
    table = _baseline_table(connection_string, resource_ids)

    def prepare(phase: int) -> list[Any]:
        return [(rid, phase) for rid in resource_ids]

    def handle(item: tuple[str, int]) -> None:
        transition, current = _baseline_rows(*item)
        table.submit_transaction([("create", transition), ("upsert", current, {"mode": UpdateMode.REPLACE})])

    return _Variant("baseline (b) transaction only", prepare, handle)


def ingest(connection_string: str) -> tuple[list[Result], list[str]]:
    resource_ids = [vm_id(f"vm-{index:04d}", f"rg-{index % 10}") for index in range(VMS)]
    variants = [
        _app_variant(connection_string, resource_ids),
        _read_then_transact(connection_string, resource_ids),
        _transact_only(connection_string, resource_ids),
    ]
    # Warm-up: a short untimed phase each, so that connection pools are filled before the clock starts.
    phase = 1
    for variant in variants:
        _run_phase(variant.prepare(phase)[:WARM_UP], variant.handle, 8)
    rates: dict[tuple[str, int], list[float]] = {}
    for workers in WORKERS:
        for repetition in range(REPETITIONS):
            for variant in variants:
                phase += 1
                items = variant.prepare(phase)
                progress(f"ingest: {variant.name}, {workers} worker(s), run {repetition + 1}/{REPETITIONS}")
                rates.setdefault((variant.name, workers), []).append(
                    _run_phase(items, variant.handle, workers)
                )
    results = []
    for workers in WORKERS:
        best = {variant.name: max(rates[(variant.name, workers)]) for variant in variants}
        ours, safe, floor = (best[variant.name] for variant in variants)
        ratio = ours / safe
        results.append(
            Result(
                f"ingest, {workers} worker(s), {VMS:,} VMs: on_vm_event / baseline (a)",
                f"{ratio:.2f}x ({ours:.0f} vs {safe:.0f} events/s; (b) {floor:.0f}/s)",
                f">= {TARGET_RATIO} x (a)",
                PASS if ratio >= TARGET_RATIO else FAIL,
            )
        )
    spread = [
        f"{name} x{workers}: " + ", ".join(f"{rate:.0f}" for rate in values)
        for (name, workers), values in rates.items()
    ]
    median = statistics.median(rate for values in rates.values() for rate in values)
    notes = [
        f"Ingest runs (events/s; the best counts; median of all runs {median:.0f}): " + "; ".join(spread)
    ]
    return results, notes
