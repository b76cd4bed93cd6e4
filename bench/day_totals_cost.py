"""``/costs`` at 4 and at 20 transitions a day: round trips, time and peak heap, with day rows, and the
previous answer (every VM's window replayed from its month rows) measured beside it in the same run.

1,000 VMs in one subscription, each created 35 days ago and then deallocated and started in turn at a
steady rate (4 or 20 a day, each VM at its own offset). Seeded in the ledger's row format with their
month, day and current rows but not their transition rows (``summaries_only``: 700,000 transition rows
take Azurite too long here; with every VM's marks set no fleet answer reads them, and a read of one would
show as a round trip over the bound). Two windows: the last 30 days to now (its first day is partial: that
day is replayed from the month rows of its month) and this month so far (whole days, the open day from
the current rows: nothing replayed).
"""

from __future__ import annotations

import json
import math
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.data.tables import TableClient

import function_app
from bench.findings_cost import findings_bound, walk_findings
from bench.harness import FAIL, PASS, Result, new_table, progress, use_table
from devtools.faultproxy import FaultProxy
from shared import context
from shared.answers._days import of_window
from shared.answers._fleet import fleet_windows
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.times import month_of, month_start, months_from
from shared.store.seeding import seed_histories

SUB = "7f901b32-4c5d-4e6f-8071-8293a4b5c6d7"
VMS = 1000
RATES = (4, 20)
HISTORY_DAYS = 35
WINDOW_DAYS = 30
PAGE_DAYS = 7  # the timeline page's default window
PAGE_BUCKETS = 40  # BUCKETS_MAX in the page: the finest resolution it asks for
_SUFFIXES = ("write", "start/action", "deallocate/action")  # created, then deallocated and started in turn


def day_totals_cost(proxy: FaultProxy, connection_string: str) -> tuple[list[Result], list[str]]:
    results: list[Result] = []
    now = datetime.now(UTC).replace(microsecond=0)
    windows = {
        f"last {WINDOW_DAYS} days (first day partial)": now - timedelta(days=WINDOW_DAYS),
        "this month so far (whole days + today)": month_start(month_of(now)),
    }
    for rate in RATES:
        table = new_table("benchdays")
        use_table(connection_string, table)
        progress(f"seeding {VMS:,} VMs at {rate} transitions a day for {HISTORY_DAYS} days (summaries)")
        _seed(rate, now)
        use_table(proxy.connection_string, table)
        ledger = context.get_ledger()
        for label, start in windows.items():
            bound, why = _bound(ledger.table, start, now)
            trips, seconds, peak = _measure(proxy, start, now)
            old_trips, old_seconds, old_peak = _measure_replay(proxy, start, now)
            results.append(
                Result(
                    f"/costs, {VMS:,} VMs at {rate} transitions a day, {label}: round trips",
                    f"{trips} in {seconds:.2f} s, peak heap {peak / 2**20:.1f} MiB (replaying every "
                    f"transition: {old_trips} in {old_seconds:.2f} s, {old_peak / 2**20:.1f} MiB)",
                    f"<= {bound} ({why})",
                    PASS if trips <= bound else FAIL,
                )
            )
        results.append(_timelines_page(proxy, now, rate))
        results += _other_pages(proxy, now, rate)
        ledger.table.delete_table()
    notes = [
        f"/costs at 4 and 20 transitions a day: {VMS:,} VMs in one subscription, seeded with month, day and "
        "current rows; round trips = Table requests the counting proxy saw; peak heap = tracemalloc peak of "
        "the call (a second call: tracing slows it); 'replaying every transition' is the previous answer "
        "(each VM's window from its month rows, shared.answers._fleet) measured beside it. Bound: current "
        "rows + day rows of each month the whole days touch (1,000 VMs a query) + the month rows of a "
        "partial first day's month (ceil(rows / 1000), a VM having ceil(its transitions that month / 200) "
        "rows) + the registry, the prices, the disk and IP rates, the subscription's disks and IPs (one "
        "page: no VM here holds any) and its stored actuals (one page: none here).",
        f"timelines page: top=200 over the last {PAGE_DAYS} days, with the resolution the page asks at its "
        f"widest ({PAGE_BUCKETS} periods of the window: at most {2 * PAGE_BUCKETS + 1} segments a VM) and "
        "without it (every segment, as before); bytes of the JSON body.",
    ]
    return results, notes


def _timelines_page(proxy: FaultProxy, now: datetime, rate: int) -> Result:
    start = now - timedelta(days=PAGE_DAYS)
    params = {"from": start.isoformat(), "to": now.isoformat(), "top": "200"}
    resolution = f"PT{math.ceil(PAGE_DAYS * 86400 / PAGE_BUCKETS)}S"
    sizes, trips = [], []
    for extra in ({"resolution": resolution}, {}):
        proxy.reset_counts()
        response = _get(function_app.list_vm_timelines, "timelines", {**params, **extra})
        trips.append(proxy.total())
        sizes.append(len(response.get_body()))
    months = len(months_from(month_of(start), month_of(now)))
    rows = _rows_a_month(rate)
    bound = months * math.ceil(200 * rows / 1000) + 7
    return Result(
        f"timelines page of 200 VMs at {rate} transitions a day, {PAGE_DAYS} days, {resolution}: bytes",
        f"{sizes[0]:,} in {trips[0]} round trips (without resolution: {sizes[1]:,})",
        f"< 1,000,000; <= {bound} ({months} months x ceil(200 x {rows} / 1000) + 7)",
        PASS if sizes[0] < 1_000_000 and trips[0] <= bound else FAIL,
    )


def _other_pages(proxy: FaultProxy, now: datetime, rate: int) -> list[Result]:
    """A ``/vms`` page of 1,000 VMs with their totals over the last 30 days, and ``/findings`` over the
    fleet, at this rate: their bounds count pages of VMs, days' months and the edge day's month rows."""
    start = now - timedelta(days=WINDOW_DAYS)
    params = {"from": start.isoformat(), "to": now.isoformat(), "top": "1000"}
    proxy.reset_counts()
    body = json.loads(_get(function_app.list_vms, "vms", params).get_body())
    vm_trips = proxy.total()
    months = len(months_from(month_of(start), month_of(now)))
    edge = math.ceil(VMS * _rows_a_month(rate) / 1000)
    vm_bound = 1 + months + edge + 6
    proxy.reset_counts()
    requests, found = walk_findings({"top": "1000"})
    finding_trips = proxy.total()
    finding_bound, finding_target = findings_bound(requests, math.ceil(VMS / 1000), 1)
    return [
        Result(
            f"/vms page of {len(body['value']):,} VMs at {rate} transitions a day, last {WINDOW_DAYS} days: "
            "round trips",
            f"{vm_trips}",
            f"<= {vm_bound} (1 + {months} months + {edge} (month rows of the first day's month) + 6)",
            PASS if vm_trips <= vm_bound else FAIL,
        ),
        Result(
            f"/findings {VMS:,} VMs at {rate} transitions a day, every kind: round trips",
            f"{finding_trips} ({found:,} findings in {requests} request(s))",
            finding_target,
            PASS if finding_trips <= finding_bound else FAIL,
        ),
    ]


def _rows_a_month(rate: int) -> int:
    """Month rows of a VM in a month of 31 days at ``rate`` transitions a day (200 transitions a row)."""
    return math.ceil(rate * 31 / 200)


def _get(
    function: Callable[[func.HttpRequest], func.HttpResponse], path: str, params: dict[str, str]
) -> func.HttpResponse:
    request = func.HttpRequest("GET", f"http://localhost:7071/api/{path}", body=b"", params=params)
    response = function(request)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.get_body()[:300]!r}")
    return response


def _bound(table: TableClient, start: datetime, now: datetime) -> tuple[int, str]:
    pages = math.ceil(VMS / 1000)
    whole_months = len(months_from(month_of(start), month_of(now)))
    partial_first = start != start.replace(hour=0, minute=0, second=0, microsecond=0)
    edge_rows = _month_rows(table, month_of(start)) if partial_first else 0
    edge = math.ceil(edge_rows / 1000)
    bound = pages * (1 + whole_months) + edge + 5
    return bound, f"{pages} x (1 + {whole_months} months) + {edge} ({edge_rows:,} month rows) + 5"


def _month_rows(table: TableClient, month: str) -> int:
    prefix = f"mo|{month}|"
    query = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"
    entities = table.query_entities(
        query, parameters={"pk": SUB, "low": prefix, "high": prefix[:-1] + "}"}, select=["RowKey"]
    )
    return sum(1 for _ in entities)


def _measure(proxy: FaultProxy, start: datetime, now: datetime) -> tuple[int, float, int]:
    params = {"from": start.isoformat(), "to": now.isoformat(), "groupBy": "resourceGroup"}
    request = func.HttpRequest("GET", "http://localhost:7071/api/costs", body=b"", params=params)
    proxy.reset_counts()
    began = time.monotonic()
    response = function_app.list_costs(request)
    seconds = time.monotonic() - began
    if response.status_code != 200:
        raise RuntimeError(f"/costs answered {response.status_code}: {response.get_body()[:300]!r}")
    trips = proxy.total()
    json.loads(response.get_body())
    tracemalloc.start()
    function_app.list_costs(request)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return trips, seconds, peak


def _measure_replay(proxy: FaultProxy, start: datetime, now: datetime) -> tuple[int, float, int]:
    """The previous answer: every VM's window replayed from its month rows."""
    ledger = context.get_ledger()

    def replay() -> None:
        rows = list(ledger.iter_current_rows(SUB))
        windows = fleet_windows(ledger, rows, start, now, now, whole_subscriptions=True)
        [of_window(window, start) for window in windows]

    proxy.reset_counts()
    began = time.monotonic()
    replay()
    seconds = time.monotonic() - began
    trips = proxy.total()
    tracemalloc.start()
    replay()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return trips, seconds, peak


def _seed(rate: int, now: datetime) -> None:
    ledger = context.get_ledger()
    created = now - timedelta(days=HISTORY_DAYS)
    step = timedelta(days=1) / rate

    def histories() -> Iterator[list[NewTransition]]:
        for index in range(VMS):
            vm = VmId(SUB, f"rg-{index % 20:02d}", f"vm-{index:05d}")
            first = created + timedelta(seconds=index * 7)
            times = [first + step * n for n in range(int((now - first) / step))]
            yield [
                NewTransition(
                    vm, when,
                    change_for(_SUFFIXES[min(n, 1 + n % 2)], SUCCEEDED),
                    ResourceEvent(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vm.resource_id}/{n}")), "seed"),
                )
                for n, when in enumerate(times)
            ]  # fmt: skip

    table = TableClient.from_connection_string(
        os.environ["VM_LEDGER_STORAGE"], ledger.table.table_name, read_timeout=300, connection_timeout=30
    )
    seed_histories(table, ledger.policy, histories(), summaries_only=True)
