"""Findings and backfill: Table round trips of ``/findings`` over 1,000 and 10,000 VMs, and of a 90-day
Activity Log backfill of one VM, counted on the wire by the counting proxy.

``/findings`` reads only current rows and their confirmation rows, in range queries of 1,000: its cost must
follow the number of pages of VMs, not the number of VMs. The fleets' current rows are seeded in the ledger's
row format (each VM created, 1 % then powered off two hours before the run; no histories: nothing here reads
them); the real ``list_findings`` is called with a real ``func.HttpRequest`` and every ``nextLink`` followed.
The backfill reads a VM's Activity Log from the loopback fake (published record shape, three records an
operation, 100 records a page) and records each operation through the store's ``record``.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import azure.functions as func

import function_app
from bench.harness import FAIL, PASS, Result, new_table, progress, use_table
from devtools.events import SUB
from devtools.fake_arm import FakeArm, operation_records
from devtools.faultproxy import FaultProxy
from shared import context
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.times import utc_now
from shared.jobs import backfill_vms
from shared.sources import ArmClient
from shared.store.seeding import seed_histories

FLEETS = (1_000, 10_000)
STOPPED_EVERY = 100  # 1 %
BACKFILL_DAYS = 90


def findings_cost(proxy: FaultProxy, connection_string: str) -> tuple[list[Result], list[str]]:
    results: list[Result] = []
    for count in FLEETS:
        table = new_table("benchfind")
        use_table(connection_string, table)  # seeding goes straight to Azurite
        progress(f"seeding {count:,} VMs for /findings")
        seed_fleet(context.get_ledger(), count, STOPPED_EVERY)
        use_table(proxy.connection_string, table)
        context.get_ledger()  # a warm instance: the clients exist before counting
        pages = math.ceil(count / 1000)
        for label, params in (
            ("kind=stoppedButBilled", {"kind": "stoppedButBilled", "top": "1000"}),
            ("every kind (all unconfirmed: no reconcile ran)", {"top": "1000"}),
        ):
            proxy.reset_counts()
            requests, found = walk_findings(params)
            trips = proxy.total()
            bound, target = findings_bound(requests, pages, 1)
            results.append(
                Result(
                    f"/findings {count:,} VMs, {label}: round trips",
                    f"{trips} ({found:,} findings in {requests} request(s))",
                    target,
                    PASS if trips <= bound else FAIL,
                )
            )
        context.get_ledger().table.delete_table()
    results.append(_backfill(proxy, connection_string))
    notes = [
        "/findings: fleets' current rows seeded in the ledger's row format (1 % powered off 2 h before "
        "the run); the real list_findings with top=1000, every nextLink followed; round trips = Table "
        "requests seen by the counting proxy (a query per 1,000 current rows and one of their confirmation "
        "rows, a registry read per request, a read of the price cache per request that found something; per "
        "subscription its stored actuals and its unattached disks; the disk findings' registry and rates; "
        "the disks and IPs of a page's deallocatedLong VMs: 3 reads).",
        f"backfill: one VM, {BACKFILL_DAYS} days of Activity Log with a start and a deallocate each day "
        "(3 records per operation, 100 records a page from the loopback fake), recorded before the VM's "
        "first event; ARM = Activity Log pages, Table = requests the counting proxy saw.",
    ]
    return results, notes


def findings_bound(requests: int, pages: int, subscriptions: int) -> tuple[int, str]:
    """Each request scans from its cursor: two queries a page of VMs it reads (current rows and their
    confirmation rows); the registry, and the price cache when it found something (the findings' estimated
    cost); per subscription its stored actuals (billingDrift) and its unattached disks (one page each
    here); the registry and the disk rates again for the disk findings; and, for a page with
    ``deallocatedLong`` VMs, the rates, their disks and IPs and their subscription's listing time."""
    bound = requests * (2 * pages + 2 * subscriptions + 7)
    return bound, f"<= {bound} ({requests} request(s) x (2 x {pages} pages + 2 x {subscriptions} + 7))"


def walk_findings(params: dict[str, str]) -> tuple[int, int]:
    """Call ``list_findings`` and follow ``nextLink``; return (requests, findings)."""
    requests = found = 0
    token: str | None = None
    while True:
        query = dict(params, **({"continuationToken": token} if token else {}))
        request = func.HttpRequest("GET", "http://localhost/api/findings", body=b"", params=query)
        response = function_app.list_findings(request)
        if response.status_code != 200:
            raise RuntimeError(f"/findings answered {response.status_code}: {response.get_body()[:200]!r}")
        body = json.loads(response.get_body())
        requests += 1
        found += len(body["value"])
        link = body.get("nextLink")
        if not link:
            return requests, found
        token = link.split("continuationToken=")[1].split("&")[0]


def seed_fleet(ledger, count: int, stopped_every: int) -> None:
    """``count`` VMs' current rows, created two days ago; every ``stopped_every``-th powered off 2 h ago."""
    now = utc_now()
    created, stopped = change_for("write", SUCCEEDED), change_for("poweroff/action", SUCCEEDED)
    histories = []
    for index in range(count):
        vm = VmId(SUB, "rg-fleet", f"vm{index:05d}")
        history = [NewTransition(vm, now - timedelta(days=2), created, ResourceEvent(f"w-{index}", "seed"))]
        if index % stopped_every == 0:
            power_off = ResourceEvent(f"p-{index}", "Microsoft.Compute/virtualMachines/powerOff/action")
            history.append(NewTransition(vm, now - timedelta(hours=2), stopped, power_off))
        histories.append(history)
    seed_histories(ledger.table, ledger.policy, histories, current_only=True)


def _backfill(proxy: FaultProxy, connection_string: str) -> Result:
    table = new_table("benchback")
    use_table(proxy.connection_string, table)
    ledger = context.get_ledger()
    now = utc_now()
    vm = VmId(SUB, "rg-back", "vm-history")
    created = change_for("write", SUCCEEDED)
    ledger.record(NewTransition(vm, now - timedelta(hours=1), created, ResourceEvent("w", "write")))
    prefix = "Microsoft.Compute/virtualMachines/"
    records = []
    for day in range(1, BACKFILL_DAYS):
        morning = now - timedelta(days=day, hours=10)
        records += operation_records(vm.resource_id, prefix + "start/action", morning, seed=f"s{day}")
        records += operation_records(
            vm.resource_id, prefix + "deallocate/action", morning + timedelta(hours=9), seed=f"d{day}"
        )
    progress(f"backfilling {BACKFILL_DAYS} days ({len(records)} Activity Log records) of one VM")
    with FakeArm(activity_log={SUB: records}, page_size=100) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        cold = type(ledger)(ledger.table, ledger.policy, cache_size=0)
        proxy.reset_counts()
        report = backfill_vms(cold, client, [vm], days=BACKFILL_DAYS)
        table_trips, arm_pages = proxy.total(), len(fake.requests)
    ledger.table.delete_table()
    if report.failures or report.recorded != report.operations:
        raise RuntimeError(f"backfill benchmark failed: {report.summary()}")
    per_op = table_trips / report.operations
    return Result(
        f"backfill {BACKFILL_DAYS} days of one VM: round trips",
        f"{arm_pages + table_trips} ({arm_pages} ARM + {table_trips} Table) for {report.operations} "
        f"operations = {per_op:.2f} Table / operation",
    )
