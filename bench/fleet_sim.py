"""The fleet simulation: 100,000 VMs in 100 subscriptions (``--only simulation``; not in the default run).

Each VM is created 35 days ago and then deallocated and started in turn at ``RATE`` transitions a day,
seeded through the store's own writer (``shared.store.seeding``: the month, day and current rows, with
inventory, 100 entities per transaction, subscriptions seeded ``WORKERS`` at a time; no transition rows,
which no fleet answer reads while every VM's marks are set, as in ``--only days``). Then, against that one
ledger, through the counting proxy: ``/costs`` over the last 30 days (round trips, time, peak heap, and
the peak heap of one subscription's answer beside it), one ``/timelines`` page of 200 VMs (bytes with the
page's resolution, round trips), and the timer's reconcile over the loopback fake of List All with its
real budget, run after run (each run starting where the last was cut off) until every subscription has
been listed: its time per run against 80 % of the 300 s budget.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.data.tables import TableClient

import function_app
from bench.costs import d2s_spec, save_d2s_prices
from bench.harness import FAIL, PASS, Result, new_table, progress, timed_call, use_table
from devtools.fake_arm import FakeArm, make_vm
from devtools.faultproxy import FaultProxy
from shared import context
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.times import month_of, months_from
from shared.jobs.reconcile import RUN_BUDGET_SECONDS
from shared.jobs.reconcile_turns import reconcile_subscriptions, resume_at
from shared.sources import ArmClient
from shared.store import Ledger
from shared.store.seeding import seed_histories

SUB_PREFIX = "3c4d5e6f-7a8b-4c9d-8e0f-"
RATE = 1  # transitions a day: modest, so that seeding 100,000 VMs fits a run (answers do not depend on it)
HISTORY_DAYS = 35
WINDOW_DAYS = 30
PAGE_DAYS = 7
PAGE_BUCKETS = 40
WORKERS = 2  # subscriptions seeded at once (the machine has 2 cores, shared with Azurite)
MAX_RECONCILE_RUNS = 4
CHANGED_EVERY = 100  # one VM in 100 listed stopped (billed) where the ledger has it running


def simulation(
    proxy: FaultProxy, connection_string: str, vms: int, subscriptions: int
) -> tuple[list[Result], list[str]]:
    per_subscription = math.ceil(vms / subscriptions)
    subs = [f"{SUB_PREFIX}{index:012x}" for index in range(subscriptions)]
    now = datetime.now(UTC).replace(microsecond=0)
    table = new_table("benchsim")
    use_table(connection_string, table)
    progress(f"seeding {vms:,} VMs in {subscriptions} subscriptions at {RATE} transition(s) a day")
    began = time.monotonic()
    _seed(subs, per_subscription, now)
    seeded = time.monotonic() - began
    use_table(proxy.connection_string, table)
    ledger = context.get_ledger()
    scale = f"{vms:,} VMs in {subscriptions} subscriptions"
    results = _costs(proxy, now, scale, subs, per_subscription)
    results.append(_timelines(proxy, now, scale))
    for result in results:  # a long run: what it measured so far is not lost if it is stopped later
        progress(f"{result.measure}: {result.value}")
    reconcile_results, runs = _reconcile(proxy, ledger, subs, per_subscription)
    results += reconcile_results
    ledger.table.delete_table()
    notes = [
        f"simulation: seeding {vms:,} VMs ({RATE} transition(s) a day for {HISTORY_DAYS} days; month, day "
        f"and current rows through shared.store.seeding, {WORKERS} subscriptions at a time) took "
        f"{seeded:.0f} s (not measured)",
        "simulation /costs bound, per subscription of V VMs: ceil(V / 1000) x (1 + months) (current rows, "
        "day rows) + ceil(E / 1000) (the month rows of the partial first day's month, E of them) + 2 (its "
        "disks and IPs, its stored actuals: none here, one query each), + 4 (registry, prices, the disk and "
        "IP rates, a spare). Peak heap: tracemalloc peak of a second call (tracing slows it); the one "
        "subscription's call is /costs?subscriptionId=...",
        "simulation reconcile: " + "; ".join(runs),
    ]
    return results, notes


def _seed(subs: list[str], per_subscription: int, now: datetime) -> None:
    ledger = context.get_ledger()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda sub: _seed_subscription(ledger, sub, per_subscription, now), subs))
    save_d2s_prices(ledger, now)


def _seed_subscription(ledger: Ledger, sub: str, count: int, now: datetime) -> None:
    # Its own client (a thread each), with timeouts for Azurite's slow batches in a big partition.
    table = TableClient.from_connection_string(
        os.environ["VM_LEDGER_STORAGE"], ledger.table.table_name, read_timeout=300, connection_timeout=30
    )
    histories = (_history(_vm(sub, index), index, now) for index in range(count))
    seed_histories(table, ledger.policy, histories, summaries_only=True, spec_of=d2s_spec, spec_at=now)


def _vm(sub: str, index: int) -> VmId:
    return VmId(sub, f"rg-{index % 20:02d}", f"vm-{index:05d}")


def _times(index: int, now: datetime) -> list[datetime]:
    first = now - timedelta(days=HISTORY_DAYS) + timedelta(seconds=index * 7)
    step = timedelta(days=1) / RATE
    return [first + step * n for n in range(int((now - first) / step))]


def _history(vm: VmId, index: int, now: datetime) -> list[NewTransition]:
    """Created, then deallocated and started in turn: deallocated after an odd number of changes."""
    suffixes = ("start/action", "deallocate/action")
    return [
        NewTransition(
            vm, when, change_for("write" if n == 0 else suffixes[n % 2], SUCCEEDED),
            ResourceEvent(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vm.resource_id}/{n}")), "seed"),
        )
        for n, when in enumerate(_times(index, now))
    ]  # fmt: skip


def _costs(proxy: FaultProxy, now: datetime, scale: str, subs: list[str], per_sub: int) -> list[Result]:
    start = now - timedelta(days=WINDOW_DAYS)
    params = {"from": start.isoformat(), "to": now.isoformat(), "groupBy": "tag:team"}
    progress(f"/costs over {scale}")
    trips, seconds, raw = _call(proxy, function_app.list_costs, "costs", params)
    body = json.loads(raw)
    peak = _peak(function_app.list_costs, "costs", params)
    one_peak = _peak(function_app.list_costs, "costs", {**params, "subscriptionId": subs[0]})
    months = len(months_from(month_of(start), month_of(now)))
    edge_rows = per_sub * math.ceil(RATE * 31 / 200)  # a VM's month rows in the first day's month
    per = math.ceil(per_sub / 1000) * (1 + months) + math.ceil(edge_rows / 1000) + 2
    bound = len(subs) * per + 4
    total = body["total"]
    return [
        Result(
            f"simulation /costs, {scale}, last {WINDOW_DAYS} days: round trips",
            f"{trips:,} in {seconds:.1f} s ({total['vmCount']:,} VMs, {total['billedSeconds'] / 3600:,.0f} "
            "billed hours)",
            f"<= {bound:,} ({len(subs)} x {per} + 4)",
            PASS if trips <= bound and total["vmCount"] == len(subs) * per_sub else FAIL,
        ),
        Result(
            f"simulation /costs, {scale}: peak heap",
            f"{peak / 2**20:.1f} MiB (one subscription's answer: {one_peak / 2**20:.1f} MiB)",
        ),
    ]


def _timelines(proxy: FaultProxy, now: datetime, scale: str) -> Result:
    start = now - timedelta(days=PAGE_DAYS)
    resolution = f"PT{math.ceil(PAGE_DAYS * 86400 / PAGE_BUCKETS)}S"
    params = {"from": start.isoformat(), "to": now.isoformat(), "top": "200", "resolution": resolution}
    trips, seconds, raw = _call(proxy, function_app.list_vm_timelines, "timelines", params)
    size = len(raw)
    months = len(months_from(month_of(start), month_of(now)))
    return Result(
        f"simulation timelines page of 200 VMs, {scale}, {PAGE_DAYS} days, {resolution}: bytes",
        f"{size:,} ({trips} round trips in {seconds:.2f} s)",
        f"< 1,000,000 and <= {months + 7} round trips",
        PASS if size < 1_000_000 and trips <= months + 7 else FAIL,
    )


def _reconcile(
    proxy: FaultProxy, ledger: Ledger, subs: list[str], per_sub: int
) -> tuple[list[Result], list[str]]:
    """Timer runs of reconcile with the real budget, each starting where the last was cut off, until
    every subscription has been listed to its end."""
    logging.getLogger("shared.jobs.reconcile").setLevel(logging.CRITICAL)  # a line per VM found stopped
    now = datetime.now(UTC)
    listings = {sub: [_listed(sub, index, now) for index in range(per_sub)] for sub in subs}
    done: set[str] = set()
    lines, slowest, resume = [], 0.0, None
    with FakeArm(listings, page_size=1000) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        for run in range(1, MAX_RECONCILE_RUNS + 1):
            progress(f"reconcile run {run} ({len(done)} of {len(subs)} subscriptions listed so far)")
            cold = Ledger(ledger.table, ledger.policy, cache_size=0)
            proxy.reset_counts()
            began = time.monotonic()
            reports = reconcile_subscriptions(cold, client, subs, start_at=resume)
            seconds = time.monotonic() - began
            slowest = max(slowest, seconds)
            completed = [report.subscription_id for report in reports if report.failure is None]
            done.update(completed)
            changed = sum(report.changed for report in reports)
            lines.append(
                f"run {run}: first {reports[0].subscription_id[-4:]}, {len(completed)} listed to the end, "
                f"{len(reports) - len(completed)} cut off, {changed:,} changed, "
                f"{sum(report.confirmed for report in reports):,} confirmed, {proxy.total():,} Table round "
                f"trips, {seconds:.0f} s"
            )
            progress(lines[-1])
            resume = resume_at(reports)
            if len(done) == len(subs):
                break
    # Reconcile's budget is the share of the timer run the step table gives it (the run's other steps
    # have the rest, and the run ends well inside the Functions timeout): a run must stay within it.
    limit = RUN_BUDGET_SECONDS
    result = Result(
        f"simulation reconcile, {len(subs) * per_sub:,} VMs in {len(subs)} subscriptions: runs until every "
        "subscription was listed",
        f"{len(lines)} run(s), {len(done)} of {len(subs)} listed, slowest run {slowest:.0f} s",
        f"all listed, each run within reconcile's {limit:.0f} s budget",
        PASS if len(done) == len(subs) and slowest <= limit else FAIL,
    )
    return [result], lines


def _listed(sub: str, index: int, now: datetime) -> dict:
    """The VM as List All shows it: its seeded state, one in ``CHANGED_EVERY`` stopped (billed) instead."""
    vm = _vm(sub, index)
    deallocated = len(_times(index, now)) % 2 == 0  # the last change was the odd-numbered one
    power = "stopped" if index % CHANGED_EVERY == 0 else "deallocated" if deallocated else "running"
    return make_vm(sub, vm.resource_group, vm.name, power=power)


Answer = Callable[[func.HttpRequest], func.HttpResponse]


def _call(proxy: FaultProxy, function: Answer, path: str, params: dict[str, str]) -> tuple[int, float, bytes]:
    trips, seconds, response = timed_call(proxy, function, path, params)
    return trips, seconds, response.get_body()


def _peak(function: Answer, path: str, params: dict[str, str]) -> int:
    request = func.HttpRequest("GET", f"http://localhost:7071/api/{path}", body=b"", params=params)
    tracemalloc.start()
    function(request)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak
