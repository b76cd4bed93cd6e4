"""Sweep cost: reading a fleet of many subscriptions through Resource Graph, beside List All per subscription.

The fleet lives in the loopback fake ARM, which answers both APIs from the same VMs and enforces Resource
Graph's documented quota (15 queries per 5 s per user, real time), so the sweep's time includes its waits
for the quota to reset. Round trips are the fake's recorded requests. The sweep is read as the reconcile
job reads it: batch by batch (100 subscriptions a query), the rows of one batch grouped by subscription and
dropped before the next; the peak heap (tracemalloc) is measured over one batch, the most held at once.
The ledger side (current rows read per subscription, one instance view per disagreement) is the same for
both sources except List All's confirmations, and is measured by the reconcile section and tests.
"""

from __future__ import annotations

import logging
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from bench.harness import FAIL, PASS, Result, progress
from devtools.fake_arm import FakeArm, make_instance, make_scale_set, make_vm
from shared.jobs import RUN_BUDGET_SECONDS, RUN_DEADLINE_SECONDS
from shared.sources import MAX_SUBSCRIPTIONS_PER_QUERY, ArmClient, ResourceGraphClient

TIMEOUT_SECONDS = 600.0  # the Functions timeout (host.json)
QUOTA, WINDOW = 15, 5.0  # Learn: 15 queries per 5 s per user


@dataclass(frozen=True)
class Fleet:
    subscriptions: int
    vms_per_subscription: int
    scale_sets: int
    instances_per_scale_set: int

    @property
    def machines(self) -> int:
        return self.subscriptions * self.vms_per_subscription + self.scale_sets * self.instances_per_scale_set

    def label(self) -> str:
        return (
            f"{self.subscriptions * self.vms_per_subscription:,} VMs in {self.subscriptions:,} subscriptions "
            f"+ {self.scale_sets} scale sets x {self.instances_per_scale_set}"
        )


DEFAULT_FLEET = Fleet(100, 100, 10, 100)
FULL_FLEET = Fleet(1_000, 100, 100, 100)


def sweep_cost(fleet: Fleet = DEFAULT_FLEET) -> tuple[list[Result], list[str]]:
    logging.getLogger("shared.sources.resource_graph").setLevel(logging.WARNING)
    subs = [f"{index:08d}-0000-4000-8000-000000000000" for index in range(fleet.subscriptions)]
    progress(f"building the sweep fleet: {fleet.label()}")
    with FakeArm(_listings(subs, fleet), scale_sets=_scale_sets(subs, fleet), page_size=100) as fake:
        fake.graph.quota, fake.graph.window = QUOTA, WINDOW
        progress("sweeping it through Resource Graph")
        sweep = _sweep(fake, subs, fleet)
        progress("measuring one batch's heap")
        peak = _batch_peak(fake, subs[:MAX_SUBSCRIPTIONS_PER_QUERY])
        fake.graph.quota = 10**9  # List All does not use Resource Graph's quota
        before = len(fake.requests)
        progress("listing it with List All per subscription")
        listed, list_seconds = _list_all(fake, subs)
        list_trips = len(fake.requests) - before
    label = fleet.label()
    share = sweep.seconds / TIMEOUT_SECONDS
    results = [
        Result(f"sweep {label}: round trips", f"{sweep.queries} Resource Graph queries, 0 List All",
               f"<= {sweep.bound}", PASS if sweep.queries <= sweep.bound else FAIL),
        Result(f"sweep {label}: time", f"{sweep.seconds:.1f} s ({share:.1%} of the 10-minute timeout), "
               f"of which {sweep.waited:.1f} s waiting for the quota", f"< {RUN_BUDGET_SECONDS:.0f} s",
               PASS if sweep.seconds < RUN_BUDGET_SECONDS else FAIL),
        Result(f"sweep {label}: Resource Graph quota spent", f"{sweep.queries} queries ("
               f"{sweep.queries / QUOTA:.1f} windows of {QUOTA} per {WINDOW:.0f} s), "
               f"throttled {sweep.throttled}"),
        Result(f"sweep {label}: rows read", f"{sweep.rows:,}", f"= {fleet.machines:,}",
               PASS if sweep.rows == fleet.machines else FAIL),
        Result("sweep peak heap, one batch of 100 subscriptions", f"{peak / 2**20:.1f} MiB"),
        Result(f"List All per subscription, {label}: round trips", f"{list_trips:,} ARM requests"),
        Result(f"List All per subscription, {label}: time", f"{list_seconds:.1f} s "
               f"({list_seconds / TIMEOUT_SECONDS:.1%} of the timeout)"),
        Result("List All : sweep round trips", f"{list_trips / max(1, sweep.queries):.1f}"),
    ]  # fmt: skip
    if listed != fleet.machines:
        raise RuntimeError(f"List All read {listed:,} machines, expected {fleet.machines:,}")
    notes = [
        f"sweep: the loopback fake ARM answers Resource Graph (1,000-row pages, $skipToken) and List All "
        f"(100 a page, as the fake pages it) from one fleet, in this process (the fake's threads share the "
        f"GIL with the client). It enforces {QUOTA} queries per {WINDOW:.0f} s of real time; the client "
        f"waits for x-ms-user-quota-resets-after when none is left. The bound is, per batch of 100 "
        f"subscriptions, ceil(VMs/1000) + ceil(instances/1000) pages, at least one per query. The run's "
        f"reconcile stops requesting at {RUN_BUDGET_SECONDS:.0f} s and the whole run at "
        f"{RUN_DEADLINE_SECONDS:.0f} s. Disagreements each cost one instance view read: see the sweep "
        f"reconcile lines.",
    ]
    return results, notes


@dataclass(frozen=True)
class _Sweep:
    queries: int
    bound: int
    seconds: float
    waited: float
    throttled: int
    rows: int


def _sweep(fake: FakeArm, subs: list[str], fleet: Fleet) -> _Sweep:
    graph = ResourceGraphClient(fake.url, retry_total=3)
    began, rows, bound = time.monotonic(), 0, 0
    for start in range(0, len(subs), MAX_SUBSCRIPTIONS_PER_QUERY):
        batch = subs[start : start + MAX_SUBSCRIPTIONS_PER_QUERY]
        grouped = _grouped(graph, batch)
        rows += sum(len(vms) for vms in grouped.values())
        instances = sum(fleet.instances_per_scale_set for sub in batch if subs.index(sub) < fleet.scale_sets)
        bound += max(1, -(-len(batch) * fleet.vms_per_subscription // 1000)) + max(1, -(-instances // 1000))
    seconds = time.monotonic() - began
    return _Sweep(graph.queries_sent, bound, seconds, graph.waited_for_quota, fake.graph.throttled, rows)


def _grouped(graph: ResourceGraphClient, batch: list[str]) -> dict[str, dict[str, Any]]:
    """What the job holds for a batch: each subscription's swept rows by id."""
    grouped: dict[str, dict[str, Any]] = {}
    for page in graph.iter_fleet_pages(batch):
        for listed in page:
            grouped.setdefault(listed.resource_id.split("/")[2], {})[listed.resource_id.lower()] = listed
    return grouped


def _batch_peak(fake: FakeArm, batch: list[str]) -> int:
    graph = ResourceGraphClient(fake.url, retry_total=3)
    tracemalloc.start()
    _grouped(graph, batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _list_all(fake: FakeArm, subs: list[str]) -> tuple[int, float]:
    arm = ArmClient(fake.url, "2024-07-01", retry_total=3)
    began = time.monotonic()
    listed = sum(len(page) for sub in subs for page in arm.iter_fleet_pages(sub))
    return listed, time.monotonic() - began


def _listings(subs: list[str], fleet: Fleet) -> dict[str, list[dict[str, Any]]]:
    return {
        sub: [make_vm(sub, "rg-fleet", f"vm{index:04d}") for index in range(fleet.vms_per_subscription)]
        for sub in subs
    }


def _scale_sets(subs: list[str], fleet: Fleet) -> dict[str, list[dict[str, Any]]]:
    entries: dict[str, list[dict[str, Any]]] = {}
    for sub in subs[: fleet.scale_sets]:
        scale_set = make_scale_set(sub, "rg-pool", "pool")
        instances = [make_instance(scale_set, str(index)) for index in range(fleet.instances_per_scale_set)]
        entries[sub] = [{"scaleSet": scale_set, "instances": instances}]
    return entries
