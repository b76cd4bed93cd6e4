"""Measures 1 and 2: Table round trips per accepted event and per query, counted on the wire.

Every request goes through ``devtools.faultproxy`` (no faults), which counts what actually reaches the
Table endpoint, whatever the code paths: nothing here is derived from reading the ledger's code.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func

import function_app
from bench.harness import (
    FAIL,
    PASS,
    Result,
    alternating_history,
    cold_ledger,
    ledger_for,
    new_table,
    progress,
    seed_rows,
    use_table,
    verb_of,
)
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from devtools.faultproxy import FaultProxy
from devtools.worker import event_grid_argument
from shared import context
from shared.domain.ids import parse_vm_id
from shared.jobs import handle_event, reconcile_subscription
from shared.sources import ArmClient, inbound_from_binding
from shared.store import Ledger

VMS = 40
STEADY_EVENTS_PER_VM = 10
RECONCILES = 5  # each followed by one event per VM on the warm instance
QUERY_SIZES = (10, 1_000, 10_000)
SEED_THROUGH_EVENTS = 1_000  # larger histories are written as rows, 100 per transaction
QUERY_STEP = timedelta(minutes=5)


def _counted(proxy: FaultProxy, deliver: Callable[[], int]) -> tuple[float, Counter[str]]:
    """Requests per unit that ``deliver`` reports, and the mix of request kinds."""
    proxy.reset_counts()
    units = deliver()
    counts = proxy.counts()
    return sum(counts.values()) / units, counts


def _mix(counts: Counter[str], units: int) -> str:
    return ", ".join(f"{kind} {count / units:.2f}" for kind, count in sorted(counts.items()))


def _each(events: list[dict[str, Any]], record: Callable[[func.EventGridEvent], object]) -> int:
    bindings = [event_grid_argument(wire) for wire in events]
    for event in bindings:
        record(event)
    return len(bindings)


def per_event(proxy: FaultProxy) -> list[Result]:
    """Measure 1: round trips per accepted event, steady state and the costs around it."""
    table = new_table("rtevent")
    use_table(proxy.connection_string, table)
    vms = [vm_id(f"vm-{index:03d}", "rg-bench") for index in range(VMS)]
    results: list[Result] = []

    def by_app(event: func.EventGridEvent) -> None:
        function_app.on_vm_event(event)

    def by(ledger: Ledger) -> Callable[[func.EventGridEvent], object]:
        return lambda event: handle_event(inbound_from_binding(event), ledger)

    def rounds(first_hour: int, count: int, verbs=("deallocate", "start")) -> list[dict[str, Any]]:
        return [
            wire_event(verbs[hour % len(verbs)], at(hours=hour), resource_id=resource_id)
            for hour in range(first_hour, first_hour + count)
            for resource_id in vms
        ]

    progress("round trips per event")
    context.get_ledger()  # the instance is up: creating the table is not an event's cost
    creations = [wire_event("write", at(hours=0), resource_id=resource_id) for resource_id in vms]
    value, counts = _counted(proxy, lambda: _each(creations, by_app))
    results.append(
        Result("round trips / event: first event of a new VM", f"{value:.2f} ({_mix(counts, VMS)})")
    )

    steady = rounds(1, STEADY_EVENTS_PER_VM)
    value, counts = _counted(proxy, lambda: _each(steady, by_app))
    verdict = PASS if value <= 1.0 else FAIL
    results.append(
        Result(
            "round trips / event: steady state, warm instance (on_vm_event)",
            f"{value:.2f} ({_mix(counts, len(steady))})",
            "<= 1 (stretch)",
            verdict,
        )
    )

    ledger = context.get_ledger()
    cold = cold_ledger(ledger)
    steady_cold = rounds(1 + STEADY_EVENTS_PER_VM, STEADY_EVENTS_PER_VM)
    value, counts = _counted(proxy, lambda: _each(steady_cold, by(cold)))
    results.append(
        Result(
            "round trips / event: steady state, cold instance (no cache)",
            f"{value:.2f} ({_mix(counts, len(steady_cold))})",
            "<= 2",
            PASS if value <= 2.0 else FAIL,
        )
    )

    # Late: each VM gets an event half an hour before its last transition (warm cache, then none).
    last_hour = 2 * STEADY_EVENTS_PER_VM
    late_warm = [wire_event("restart", at(hours=last_hour - 0.5), resource_id=rid) for rid in vms]
    _each(rounds(last_hour + 1, 1), by(ledger))  # warm the cache of ``ledger`` on every VM
    value, counts = _counted(proxy, lambda: _each(late_warm, by(ledger)))
    results.append(Result("round trips / late event, warm instance", f"{value:.2f} ({_mix(counts, VMS)})"))
    late_cold = [wire_event("powerOff", at(hours=last_hour - 1.5), resource_id=rid) for rid in vms]
    value, counts = _counted(proxy, lambda: _each(late_cold, by(cold)))
    results.append(Result("round trips / late event, cold instance", f"{value:.2f} ({_mix(counts, VMS)})"))

    value, counts = _counted(proxy, lambda: _each(steady[-VMS:], by(ledger)))
    results.append(
        Result(
            "round trips / redelivered event (already recorded), warm", f"{value:.2f} ({_mix(counts, VMS)})"
        )
    )

    # Conflict: two warm instances take turns on the same VMs, so each finds its cached ETag outdated.
    other = ledger_for(proxy.connection_string, table)
    _each(rounds(last_hour + 2, 1), by(other))  # ``other`` now has a cache entry for each VM
    _each(rounds(last_hour + 3, 1), by(ledger))  # ... which this write makes stale
    contested = rounds(last_hour + 4, 1)
    value, counts = _counted(proxy, lambda: _each(contested, by(other)))
    results.append(
        Result(
            "round trips / event after another instance wrote (412, re-read, retry)",
            f"{value:.2f} ({_mix(counts, VMS)})",
        )
    )
    results.append(_interleaved_with_reconciles(proxy, table, vms, first_hour=last_hour + 6))
    return results


def _interleaved_with_reconciles(proxy: FaultProxy, table: str, vms: list[str], first_hour: int) -> Result:
    """A round of events on the warm instance after each reconcile run on another instance (the timer's):
    each reconcile confirms every VM unchanged, and only the events' requests are counted."""
    timer = ledger_for(proxy.connection_string, table)
    verbs, after = ("start", "deallocate"), {"start": "running", "deallocate": "deallocated"}
    # One round first, not counted: the instance above lost the race, so its cached ETags are stale.
    previous = "deallocate"
    _each(
        [wire_event(previous, at(hours=first_hour - 0.5), resource_id=rid) for rid in vms],
        function_app.on_vm_event,
    )
    requests = events = confirmed = 0
    for hour in range(first_hour, first_hour + RECONCILES):
        listing = [make_vm(SUB, "rg-bench", parse_vm_id(rid).name, power=after[previous]) for rid in vms]
        with FakeArm({SUB: listing}, page_size=VMS) as fake:
            pages = ArmClient(fake.url, "2024-07-01", retry_total=0).iter_vm_pages(SUB)
            confirmed += reconcile_subscription(timer, SUB, pages, clock=lambda h=hour: at(hours=h)).confirmed
        previous = verbs[hour % 2]
        round_ = [wire_event(previous, at(hours=hour + 0.5), resource_id=rid) for rid in vms]
        proxy.reset_counts()
        events += _each(round_, lambda event: function_app.on_vm_event(event))
        requests += proxy.total()
    value = requests / events
    return Result(
        f"round trips / event: warm, after each of {RECONCILES} reconciles run by another instance",
        f"{value:.2f} ({events} events, {confirmed} confirmations between them)",
        "<= 1",
        PASS if value <= 1.0 and confirmed == RECONCILES * VMS else FAIL,
    )


def per_query(proxy: FaultProxy, connection_string: str) -> tuple[list[Result], list[str]]:
    """Measure 2: round trips of ``get_vm`` and one page of ``list_vm_transitions`` over the last day."""
    table = new_table("rtquery")
    notes: list[str] = []
    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(minutes=2)
    # Seeding goes straight to Azurite: only the queries pass through the counting proxy.
    use_table(connection_string, table)
    ledger = context.get_ledger()
    resource_ids = {}
    for size in QUERY_SIZES:
        resource_id = vm_id(f"vm-{size}", "rg-query")
        resource_ids[size] = resource_id
        history = alternating_history(size, end, QUERY_STEP)
        progress(f"seeding a VM with {size:,} transitions")
        if size <= SEED_THROUGH_EVENTS:
            for suffix, when in history:
                function_app.on_vm_event(
                    event_grid_argument(wire_event(verb_of(suffix), when, resource_id=resource_id))
                )
        else:
            seed_rows(ledger.table, ledger.policy, resource_id, history)
            notes.append(
                f"The {size:,}-transition VM was seeded with batched transactions (100 rows each) in the "
                "ledger's row format (shared.store.seeding), not through events; smaller ones through "
                "on_vm_event."
            )
    use_table(proxy.connection_string, table)
    context.get_ledger()  # a warm instance: the clients exist before the queries are counted

    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    calls = {
        "get_vm (last day)": (function_app.get_vm, "", window),
        "list_vm_transitions (last day, one page)": (
            function_app.list_vm_transitions,
            "/transitions",
            window,
        ),
        "get_vm (whole history, no window)": (function_app.get_vm, "", {}),
    }
    results: list[Result] = []
    billed: dict[int, Any] = {}
    for label, (function, suffix, params) in calls.items():
        progress(f"round trips per query: {label}")
        per_size = []
        for size in QUERY_SIZES:
            parts = resource_ids[size].split("/")
            route = {"subscriptionId": parts[2], "resourceGroup": parts[4], "vmName": parts[8]}
            request = func.HttpRequest(
                "GET",
                f"http://localhost:7071/api/vms/{parts[2]}/{parts[4]}/{parts[8]}{suffix}",
                body=b"",
                params=params,
                route_params=route,
            )
            proxy.reset_counts()
            response = function(request)
            per_size.append(proxy.total())
            if response.status_code != 200:
                raise RuntimeError(f"{label} answered {response.status_code}: {response.get_body()[:300]!r}")
            body = json.loads(response.get_body())
            if label.startswith("get_vm (last"):
                billed[size] = body["billedSeconds"]
        value = " / ".join(str(count) for count in per_size)
        if "whole history" in label:
            results.append(Result(f"round trips / {label}, 10 / 1k / 10k transitions", value))
            continue
        bounded = max(per_size) <= 3 and len(set(per_size)) == 1
        results.append(
            Result(
                f"round trips / {label}, 10 / 1k / 10k transitions",
                value,
                "<= 3, same for all",
                PASS if bounded else FAIL,
            )
        )
    if billed[1_000] != billed[10_000]:
        raise RuntimeError(f"seeded rows disagree with event-fed rows: {billed}")
    notes.append(
        "Check: the last day of the row-seeded and the event-fed VM bill the same "
        f"({billed[1_000]} s), so the seeded rows are what events would have written."
    )
    return results, notes
