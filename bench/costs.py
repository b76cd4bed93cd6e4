"""Fleet answers and month rows: round trips and time of ``/costs`` and ``timelines`` for 1,000 and
10,000 VMs over 30 days, each VM with two managed disks and a public IP (the whole bill), and what month
rows cost each event.

The fleets are seeded in the ledger's row format (transitions, month rows and current rows with their
inventory, 100 entities per transaction) straight into Azurite, 1,000 VMs per subscription (Azurite's
in-memory batches slow down as one partition grows, which made a 10,000-VM partition take over 40
minutes to seed here); only the measured calls pass through the counting proxy. Each VM lives the 30
days: created 35 days ago, then deallocated and started every ten days, so a 30-day window reads the
month rows of the two months it touches.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import azure.functions as func
from azure.data.tables import TableClient

import function_app
from bench.harness import FAIL, PASS, Result, new_table, progress, timed_call, use_table
from devtools.events import at, vm_id, wire_event
from devtools.faultproxy import FaultProxy
from devtools.worker import event_grid_argument
from shared import context
from shared.domain.actuals import DayActual, billed_resource_id, resource_key
from shared.domain.attached import DiskSpec, Held, PublicIpSpec, VmAttachments
from shared.domain.attached_pricing import Rate
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.inventory import OsType, Priority, VmSpec
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.pricing import HourlyPrice, MeterKind
from shared.domain.times import month_of as month_key_of
from shared.domain.times import months_from
from shared.jobs import MONTHS_CHECKED, rebuild_month_rows
from shared.store import AttachedStore, Ledger, PriceBook
from shared.store.seeding import seed_histories

SUB_PREFIX = "6e8f0a21-3b4c-4d5e-9f60-"
VMS_PER_SUBSCRIPTION = 1000  # Azurite's batches slow down as one partition grows; Azure Tables' do not
SIZES = (1000, 10_000)
DAYS = 30
TEAMS = ("shop", "data", "ci", "web", "ml")
EVENT_VMS = 40
LOST_VMS = 10


def costs(proxy: FaultProxy, connection_string: str) -> tuple[list[Result], list[str]]:
    results: list[Result] = []
    notes: list[str] = []
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    months = len(months_from(month_key_of(start), month_key_of(now)))
    for count in SIZES:
        table = new_table("benchcost")
        use_table(connection_string, table)
        progress(f"seeding {count:,} VMs with 30 days of history")
        began = time.monotonic()
        _seed(count, now)
        notes.append(f"costs: seeding {count:,} VMs took {time.monotonic() - began:.0f} s (not measured)")
        use_table(proxy.connection_string, table)
        context.get_ledger()  # the instance is up: opening the table is not the answer's cost
        params = {"from": start.isoformat(), "to": now.isoformat(), "groupBy": "tag:team"}
        trips, seconds, body = _call(proxy, function_app.list_costs, "costs", params)
        subscriptions = math.ceil(count / VMS_PER_SUBSCRIPTION)
        pages = subscriptions * math.ceil(VMS_PER_SUBSCRIPTION / 1000)
        # Current rows, the day rows of each month, and the month rows of the partial first day's month
        # (each VM has under 200 transitions a month here: one month row each); + per subscription its
        # disks and IPs (a row per VM and its listing time, 1,000 a page); + the rates
        attached_pages = subscriptions * math.ceil((VMS_PER_SUBSCRIPTION + 1) / 1000)
        bill_pages = subscriptions * math.ceil(VMS_PER_SUBSCRIPTION * months / 1000)
        # + the stored actuals, read first: the VMs the bill covers (every VM here) have each of their days
        # kept apart from the same day rows for their estimate per billed day, no read more
        bound = pages * (months + 2) + attached_pages + bill_pages + 4
        results.append(
            Result(
                f"round trips / costs, {count:,} VMs in {subscriptions} subscription(s), {DAYS} days",
                f"{trips} in {seconds:.1f} s ({count / seconds:,.0f} VMs/s)",
                f"<= {bound}",
                PASS if trips <= bound else FAIL,
            )
        )
        total = body["total"]
        notes.append(
            f"costs, {count:,} VMs: {len(body['value'])} groups, {total['vmCount']:,} VMs, "
            f"{total['billedSeconds'] / 3600:,.0f} billed hours, {total['estimatedCost']['amount']:,} "
            f"{total['estimatedCost']['currency']} compute, {total['attachedCost']['amount']:,} in "
            f"{2 * count:,} disks and {count:,} IPs, {total['totalCost']['amount']:,} in all, "
            f"{total['avoidedCost']['amount']:,} avoided"
            f"; actual {total['actualCost']['amount']:,} over {total['actualCost']['days']} billed day(s), "
            f"discount {total['discount']}"
        )
        trips, seconds, _ = _call(
            proxy, function_app.list_vm_timelines, "timelines", {**params, "top": "200"}
        )
        results.append(
            Result(
                f"round trips / timelines page of 200 VMs, {count:,} VMs, {DAYS} days",
                f"{trips} in {seconds:.2f} s",
                f"<= {months + 7}",
                PASS if trips <= months + 7 else FAIL,
            )
        )
        results += _timer_check(proxy, count, subscriptions * math.ceil(VMS_PER_SUBSCRIPTION / 1000))
        context.get_ledger().table.delete_table()
    notes.append(
        "costs bound: ceil(VMs/1000) x (months + 2) + ceil((VMs + 1)/1000) + ceil(VMs x months / 1000) "
        f"+ 4 (the terms summed per subscription), months = {months} for {DAYS} days here: current rows, "
        "each month's day rows and the partial first day's month rows are read 1,000 a page, and so are the "
        "disks and IPs (a row per VM: 2 disks and 1 IP each, and the subscription's listing time) and the "
        "stored actuals (one row per VM and month); the VMs the bill covers (all here) have their days "
        "kept apart from the same day rows for their estimate per billed day; + the subscription "
        "registry, the prices, the disk and IP rates, a spare. timelines bound: months + 7 (registry, "
        "one page of current rows, "
        "one query per month, prices, the page's disks and IPs, their subscription's listing time, "
        "the rates, the page's stored actuals: one range per subscription on the page, one here; the "
        "billed days' hours come from the month rows the page already read)."
    )
    results += _per_event(proxy, connection_string)
    return results, notes


def _timer_check(proxy: FaultProxy, count: int, pages: int) -> list[Result]:
    """The timer's month-row run on the seeded fleet: first with every VM's rows as written (it only
    checks them), then with the month rows of ``LOST_VMS`` VMs deleted (it finds and rebuilds them)."""
    ledger = context.get_ledger()
    bound = pages * (MONTHS_CHECKED + 1) + 1  # + the subscription registry
    results = []
    for lost in (0, LOST_VMS):
        _lose_month_rows(ledger, lost)
        proxy.reset_counts()
        report = rebuild_month_rows(ledger)
        trips = sum(proxy.counts().values())
        want = bound + 2 * lost  # a rebuilt VM: a query of its transitions and one transaction
        found = report.disagreed == report.rebuilt == lost
        results.append(
            Result(
                f"round trips / timer's month-row check, {count:,} VMs, month rows of {lost} VMs lost",
                f"{trips} ({report.disagreed} found, {report.rebuilt} rebuilt)",
                f"<= {want} ({pages} x ({MONTHS_CHECKED} + 1) + 1 + 2 x {lost})",
                PASS if trips <= want and found else FAIL,
            )
        )
    return results


def _lose_month_rows(ledger: Ledger, vms: int) -> None:
    """Delete every month row of the first ``vms`` VMs of the first subscription (their marks stay)."""
    subscription = f"{SUB_PREFIX}{0:012x}"
    for index in range(vms):
        vm = VmId(subscription, f"rg-{index % 20:02d}", f"vm-{index:05d}")
        for month in (month_key_of(datetime.now(UTC) - timedelta(days=days)) for days in range(0, 70, 10)):
            ledger.table.delete_entity(vm.subscription_key, f"mo|{month}|{vm.vm_key}!00")


def _seed(count: int, now: datetime) -> None:
    ledger = context.get_ledger()
    created = now - timedelta(days=DAYS + 5)
    steps = [("write", created)] + [
        ("deallocate/action" if index % 2 else "start/action", created + timedelta(days=10 * index))
        for index in range(1, 4)
    ]

    def histories() -> Iterator[list[NewTransition]]:
        for index in range(count):
            subscription = f"{SUB_PREFIX}{index // VMS_PER_SUBSCRIPTION:012x}"
            vm = VmId(subscription, f"rg-{index % 20:02d}", f"vm-{index:05d}")
            yield [
                NewTransition(
                    vm,
                    when,
                    change_for(suffix, SUCCEEDED),
                    ResourceEvent(
                        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vm.resource_id}/{step}")),
                        f"Microsoft.Compute/virtualMachines/{suffix}",
                    ),
                )  # fmt: skip
                for step, (suffix, when) in enumerate(steps)
            ]

    # Seeding is not measured: its own client, with timeouts for Azurite's slow batches in a big partition.
    table = TableClient.from_connection_string(
        os.environ["VM_LEDGER_STORAGE"], ledger.table.table_name, read_timeout=300, connection_timeout=30
    )
    seed_histories(table, ledger.policy, histories(), spec_of=d2s_spec, spec_at=now)
    save_d2s_prices(ledger, now)
    _seed_attached(table, count, now)
    _seed_actuals(ledger, count, now)


def d2s_spec(vm: VmId) -> VmSpec:
    """A D2s v5 in West Europe, Windows one VM in three, tagged with a team six in seven (by its index)."""
    index = int(vm.name.rsplit("-", 1)[1])
    tags = {"team": TEAMS[index % len(TEAMS)]} if index % 7 else {}
    os_type = OsType.WINDOWS if index % 3 == 0 else OsType.LINUX
    return VmSpec("Standard_D2s_v5", "westeurope", os_type, None, Priority.REGULAR, tags)


def save_d2s_prices(ledger: Ledger, now: datetime) -> None:
    """The D2s v5's Linux and Windows prices in the price cache, as the price refresh stores them."""
    regular = {
        OsType.LINUX: HourlyPrice(Decimal("0.096"), "USD", "D2s v5"),
        OsType.WINDOWS: HourlyPrice(Decimal("0.188"), "USD", "D2s v5"),
    }
    prices = {
        ("westeurope", "standard_d2s_v5", MeterKind(os, Priority.REGULAR)): p for os, p in regular.items()
    }
    ledger.prices.save("USD", now, [("westeurope", "standard_d2s_v5")], prices)


def _seed_attached(table: TableClient, count: int, now: datetime) -> None:
    """Every VM holds a P10 OS disk, an E10 data disk and a Standard IP, held since before the window."""
    since = now - timedelta(days=DAYS + 5)
    store = AttachedStore(table)
    for first in range(0, count, VMS_PER_SUBSCRIPTION):
        subscription = f"{SUB_PREFIX}{first // VMS_PER_SUBSCRIPTION:012x}"
        rows = {}
        for index in range(first, min(first + VMS_PER_SUBSCRIPTION, count)):
            vm = VmId(subscription, f"rg-{index % 20:02d}", f"vm-{index:05d}")
            held = [
                Held(DiskSpec(f"{vm.resource_id}-{name}", sku, None, 128, None, None, since, "westeurope",
                              vm.resource_id, "Attached"), since)
                for name, sku in (("os", "Premium_LRS"), ("data", "StandardSSD_LRS"))
            ]  # fmt: skip
            ip = PublicIpSpec(f"{vm.resource_id}-ip", "Standard", "Static", "westeurope")
            rows[vm.vm_key] = VmAttachments((*held, Held(ip, since)), now)
        store.save_subscription(subscription, rows, [], now)
    rates = {
        "P10 LRS Disk": Rate(Decimal("19.71"), per_hour=False),
        "E10 LRS Disk": Rate(Decimal("7.3"), per_hour=False),
        "Standard IPv4 Static Public IP": Rate(Decimal("0.005"), per_hour=True),
    }
    PriceBook(table).save_rates("USD", now, ["westeurope"], {"westeurope": rates})


def _seed_actuals(ledger: Ledger, count: int, now: datetime) -> None:
    """The bill of every VM for every day of the window but the last two (not billed yet): 12 hours a day
    at 0.08 an hour, as the actuals step would have stored them."""
    days = [(now - timedelta(days=back)).date() for back in range(2, DAYS + 1)]
    for first in range(0, count, VMS_PER_SUBSCRIPTION):
        subscription = f"{SUB_PREFIX}{first // VMS_PER_SUBSCRIPTION:012x}"
        vms = [
            VmId(subscription, f"rg-{index % 20:02d}", f"vm-{index:05d}")
            for index in range(first, min(count, first + VMS_PER_SUBSCRIPTION))
        ]
        bill = {
            resource_key(vm): {
                day: DayActual(day, Decimal("0.96"), Decimal("0.90"), 12.0, "USD", 12.0) for day in days
            }
            for vm in vms
        }
        ids = {resource_key(vm): billed_resource_id(vm) for vm in vms}
        ledger.actuals.save(subscription, ids, bill, now)


def _call(
    proxy: FaultProxy,
    function: Callable[[func.HttpRequest], func.HttpResponse],
    path: str,
    params: dict[str, str],
) -> tuple[int, float, dict]:
    trips, seconds, response = timed_call(proxy, function, path, params)
    return trips, seconds, json.loads(response.get_body())


@contextmanager
def _without_month_rows() -> Iterator[None]:
    """The write plan with its month-row hook switched off: the ledger as it was before month rows."""
    import shared.store._write_plan as plan

    saved = plan.months_append
    plan.months_append = lambda current, row, vm_key, partition: ([], None)  # type: ignore[assignment]
    try:
        yield
    finally:
        plan.months_append = saved


def _per_event(proxy: FaultProxy, connection_string: str) -> list[Result]:
    """Round trips per event with and without month rows, side by side, through on_vm_event."""
    progress("round trips per event with and without month rows")
    results = []
    measured: dict[bool, dict[str, float]] = {}
    for with_months in (False, True):
        use_table(proxy.connection_string, new_table("benchmo"))
        context.get_ledger()
        group = "rg-months" if with_months else "rg-plain"
        vms = [vm_id(f"vm-{index:03d}", group) for index in range(EVENT_VMS)]
        holder = _without_month_rows() if not with_months else _nothing()
        with holder:
            _deliver([wire_event("write", at(hours=-24 * 40), resource_id=rid) for rid in vms])
            counts: dict[str, float] = {}
            in_order = [
                wire_event("deallocate" if hour % 2 else "start", at(hours=-24 * 40 + hour), resource_id=rid)
                for hour in range(1, 6)
                for rid in vms
            ]
            counts["steady state, warm"] = _per(proxy, in_order)
            next_month = [wire_event("deallocate", at(hours=-24 * 2), resource_id=rid) for rid in vms]
            counts["first event of a later month (quiet months between), warm"] = _per(proxy, next_month)
            late = [wire_event("restart", at(hours=-24 * 2 - 1), resource_id=rid) for rid in vms]
            counts["late event in the open month, warm"] = _per(proxy, late)
            if with_months:
                rebuild = _rebuild(proxy, len(vms))
        measured[with_months] = counts
        context.get_ledger().table.delete_table()
    for name, value in measured[True].items():
        extra = value - measured[False][name]
        target = "<= 2 (extra 0)" if name.startswith("steady") else "-"
        verdict = (PASS if value <= 2 and extra == 0 else FAIL) if name.startswith("steady") else "info"
        results.append(
            Result(
                f"round trips / event with month rows: {name}",
                f"{value:.2f} (without: {measured[False][name]:.2f}, extra {extra:+.2f})",
                target,
                verdict,
            )  # fmt: skip
        )
    results.append(rebuild)
    return results


def _rebuild(proxy: FaultProxy, late_vms: int) -> Result:
    """The timer's rebuild of the month rows the late events left without a mark, one VM at a time."""
    proxy.reset_counts()
    report = rebuild_month_rows(context.get_ledger())
    trips = sum(proxy.counts().values())
    # The registry, one page of current rows, and the check's month queries (at most MONTHS_CHECKED).
    fixed = 2 + MONTHS_CHECKED
    return Result(
        f"round trips / month-row rebuild after a late event (timer), {late_vms} VMs",
        f"{(trips - fixed) / max(report.rebuilt, 1):.2f} per VM ({trips} for {report.rebuilt} rebuilt)",
        f"<= 2 per VM + {fixed}",
        PASS if report.rebuilt == late_vms and trips <= 2 * late_vms + fixed else FAIL,
    )


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _deliver(events: list[dict]) -> None:
    for wire in events:
        function_app.on_vm_event(event_grid_argument(wire))


def _per(proxy: FaultProxy, events: list[dict]) -> float:
    bindings = [event_grid_argument(wire) for wire in events]
    proxy.reset_counts()
    for event in bindings:
        function_app.on_vm_event(event)
    return sum(proxy.counts().values()) / len(bindings)
