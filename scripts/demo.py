"""`make demo`: the whole product on a laptop, no Azure account.

Uses the persistent Azurite of ``make serve`` (127.0.0.1:10002, data in ``.azurite/``; started here if it
is not running, reused if it is), replays the sample day of ARM events through the real ``on_vm_event``
into table ``vmledger``, asks the real HTTP functions for each VM's state and billed hours, then runs the
real ``reconcile_vms`` timer against a loopback fake of List All (on a free port) that knows what no
event said (a guest shutdown, a VM created before the tool); the same timer run lists the VM models
(size, OS, priority, tags) and fetches retail prices from a loopback fake of the Retail Prices API, so
the corrected table has an estimated cost column, followed by one chargeback table by tag. Everything
it started is stopped by pid at the end; the ledger stays, so ``make serve`` shows it afterwards.

The sample day is moved so that its last event happened ten minutes ago, so "today" means something.
Because of that move a rerun would add a second, shifted copy of the day, so each run first deletes the
sample subscription's partition (only that one: events posted to ``make serve`` for other subscriptions
stay), which makes reruns give the same table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.timer import TimerRequest

from scripts.azurite import PERSISTENT_LOCATION, STANDARD_TABLE_PORT, Azurite, PortBusyError
from shared.cli import power_label, print_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TABLE = "vmledger"  # the default table, so `make serve` and test.http see the demo's ledger
CURRENCY = "USD"
BASE_URL = "http://127.0.0.1:7071/api"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description="make demo")
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=STANDARD_TABLE_PORT,
        help="Azurite table port (default 10002, the one make serve uses)",
    )
    parser.add_argument(
        "--azurite-location",
        type=Path,
        default=PERSISTENT_LOCATION,
        help="folder of Azurite's data (default .azurite/)",
    )
    parser.add_argument("--snapshot", type=Path, default=ROOT / "demo-timeline.html",
                        help="where to write the static timeline page")  # fmt: skip
    options = parser.parse_args(argv)
    events = json.loads((SAMPLES / "events-day.json").read_text())
    listing_file = SAMPLES / "list-all.json"
    subscription = next(iter(json.loads(listing_file.read_text())))
    try:
        azurite = Azurite.persistent(options.azurite_port, options.azurite_location)
    except (PortBusyError, OSError, RuntimeError) as err:
        print(f"Cannot start Azurite: {err}", file=sys.stderr)
        return 1
    with azurite:
        if azurite.reused:
            print(f"Using the Azurite already on {azurite.table_endpoint} (left running), table {TABLE}")
        else:
            print(
                f"Azurite (pid {azurite.pid}) on {azurite.table_endpoint}, table {TABLE}, "
                f"data in {options.azurite_location}"
            )
        fake_arm, arm_url = _start_fake("tests.fake_arm", "--listing", listing_file)
        fake_prices, prices_url = _start_fake(
            "tests.fake_prices", "--catalogue", SAMPLES / "retail-prices.json"
        )
        try:
            _configure(azurite, arm_url, prices_url, subscription)
            _clear_subscription(subscription)
            status = _run(events, arm_url, options.snapshot)
        finally:
            _stop(fake_arm)
            _stop(fake_prices)
            print(
                f"Stopped the fake ARM (pid {fake_arm.pid}) and the fake prices API (pid {fake_prices.pid})."
            )
    if not azurite.reused:
        print(f"Stopped Azurite (pid {azurite.pid}); its data stays for `make serve`.")
    return status


def _run(events: list[dict[str, Any]], arm_url: str, snapshot: Path) -> int:
    import function_app
    from shared.domain.times import format_time, utc_now

    now = utc_now()
    events = _shift_to_end_before(events, now - timedelta(minutes=10))
    print(f"\n1. Replaying {len(events)} deliveries of a sample day through on_vm_event: both schemas,")
    print(
        "   a duplicate, an out-of-order start, a hibernate, and an extension and a storage event (skipped)."
    )
    with _counting_outcomes() as outcomes:
        for wire in events:
            function_app.on_vm_event(_binding(wire))
    print("   " + _ingest_summary(len(events), outcomes))
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    print(f"\n2. The ledger, as the HTTP API reports it (billed hours today = since {format_time(today)}):\n")
    before = _vm_rows(function_app, today)
    _print_rows(before)
    print(f"\n3. reconcile_vms against List All (statusOnly=true) served by a loopback fake at {arm_url};")
    print("   the same run lists the VM models (size, OS, priority, tags) and fetches retail prices from a")
    print("   loopback fake of the Retail Prices API, so each VM now has an estimated cost:")
    function_app.reconcile_vms(TimerRequest(past_due=False))
    after = _vm_rows(function_app, today)
    _print_rows(after, changed=_changed(before, after))
    _print_chargeback(function_app, today)
    _print_history(function_app, after)
    _write_timeline_snapshot(now, snapshot)
    _print_next_steps(after)
    return 0


def _write_timeline_snapshot(now: datetime, snapshot: Path) -> None:
    from shared.cli import write_snapshot
    from shared.context import get_ledger

    # The sample is one day long; a longer window would show mostly "not in the ledger yet".
    path = snapshot.resolve()
    count = write_snapshot(path, get_ledger(), start=now - timedelta(days=1), end=now)
    print(f"\n5. Timeline page: {BASE_URL}/timeline under `make serve`; a static snapshot of its {count} VMs")
    print(f"   (no server needed) is in {path}")
    print(f"   open {path.as_uri()}")


def _vm_rows(function_app, start: datetime) -> list[dict[str, str]]:
    from shared.domain.times import format_time

    listing = _call(function_app.list_vms, "vms")
    rows = []
    for vm in listing["value"]:
        route = {
            "subscriptionId": vm["subscriptionId"],
            "resourceGroup": vm["resourceGroup"],
            "vmName": vm["vmName"],
        }
        detail = _call(function_app.get_vm, "vms/...", {"from": format_time(start)}, route)
        power = power_label(vm["powerState"], vm["hibernated"], vm["deleted"])
        rows.append({
            "vm": f'{vm["resourceGroup"]}/{vm["vmName"]}',
            "power": power,
            "provisioning": vm["provisioningState"] or "",
            "billing_now": "yes" if vm["billable"] else "no",
            "since": vm["since"][:16].replace("T", " "),
            "today": f'{detail["billedSeconds"] / 3600:.2f}',
            "unknown": f'{detail["unknownSeconds"] / 3600:.2f}',
            "cost": _cost_label(detail["estimatedCost"]),
            "route": "/".join(route.values()),
        })  # fmt: skip
    return rows


def _cost_label(cost: dict[str, Any]) -> str:
    if cost["amount"] is None:
        return "-"
    return f"{cost['amount']:.2f} {cost['currency']}"


def _unpriced(group: dict[str, Any]) -> str:
    """A group's amount covers only its priced VMs: say so when some billed hours have no price."""
    hours = group["unpricedBilledSeconds"] / 3600
    return f" + {hours:.2f} h unpriced" if hours else ""


def _print_chargeback(function_app, start: datetime) -> None:
    from shared.domain.times import format_time

    body = _call(function_app.list_costs, "costs", {"from": format_time(start), "groupBy": "tag:team"})
    rows = [
        {
            "team": group["group"] if group["group"] is not None else "(no team tag)",
            "vms": str(group["vmCount"]),
            "billed": f"{group['billedSeconds'] / 3600:.2f}",
            "cost": _cost_label(group["estimatedCost"]) + _unpriced(group),
        }
        for group in body["value"]
    ]
    total = body["total"]
    billed = f"{total['billedSeconds'] / 3600:.2f}"
    rows.append({"team": "total", "vms": str(total["vmCount"]), "billed": billed,
                 "cost": _cost_label(total["estimatedCost"]) + _unpriced(total)})  # fmt: skip
    print(f"\n   Chargeback today by tag 'team' (GET {BASE_URL}/costs?groupBy=tag:team):\n")
    print_table(rows, {"team": "TEAM", "vms": "VMS", "billed": "BILLED H TODAY", "cost": "EST. COST TODAY"})
    print("   Retail list prices, compute only: no reservations, savings plans, negotiated rates, disks or")
    print("   network. Cost Management remains the invoice.")


def _changed(before: list[dict[str, str]], after: list[dict[str, str]]) -> set[str]:
    earlier = {row["vm"]: (row["power"], row["provisioning"]) for row in before}
    return {row["vm"] for row in after if earlier.get(row["vm"]) != (row["power"], row["provisioning"])}


def _print_rows(rows: list[dict[str, str]], changed: set[str] | frozenset[str] = frozenset()) -> None:
    # "BILLING NOW" is the current state's flag; the hours are the day's: a VM deleted this afternoon
    # reads "no" next to the hours it billed before.
    headers = {"vm": "VM", "power": "POWER STATE", "provisioning": "PROVISIONING",
               "billing_now": "BILLING NOW", "since": "SINCE (UTC)", "today": "BILLED H TODAY",
               "unknown": "UNKNOWN H", "cost": "EST. COST TODAY"}  # fmt: skip
    print_table(rows, headers, marked=lambda row: row["vm"] in changed)
    for note in _footnotes(rows, changed):
        print("   " + note)


def _footnotes(rows: list[dict[str, str]], changed: set[str] | frozenset[str]) -> list[str]:
    notes = []
    if changed:
        notes.append("* corrected or added by reconcile")
    if any(float(row["unknown"]) > 0 for row in rows):
        notes.append(
            "UNKNOWN H: time whose power state the ledger cannot tell (before a VM's first record unless\n"
            "   it was created then, or after a failure on a VM it never saw). Neither billed nor free, so\n"
            "   not in BILLED H TODAY."
        )
    if any(row["cost"] == "-" for row in rows):
        notes.append(
            "EST. COST TODAY: billed hours x the VM's retail hourly price; '-' until the timer has listed\n"
            "   the VM's size and fetched its price (step 3). Retail list prices, compute only."
        )
    if any(row["provisioning"] == "Failed" and row["power"] == "running" for row in rows):
        notes.append(
            "running + Failed: an operation on the VM failed (provisioning state), but it kept running and\n"
            "   is billed; provisioning and power state are independent."
        )
    return notes


@contextlib.contextmanager
def _counting_outcomes() -> Iterator[Counter[str]]:
    """Count what ``handle_event`` returns while the real ``on_vm_event`` calls it.

    ``on_vm_event`` returns None (an Event Grid trigger has no output), so the demo watches the function
    it calls, which ``on_vm_event`` looks up in ``shared.jobs`` at each call, instead of calling
    ``handle_event`` itself: the events still take the worker's path.
    """
    import shared.jobs

    original = shared.jobs.handle_event
    outcomes: Counter[str] = Counter()

    def counting(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        outcomes[outcome] += 1
        return outcome

    shared.jobs.handle_event = counting
    try:
        yield outcomes
    finally:
        shared.jobs.handle_event = original


def _ingest_summary(deliveries: int, outcomes: Counter[str]) -> str:
    parts = [f"{outcomes[name]} {name}" for name in ("recorded", "duplicate", "skipped") if outcomes[name]]
    return f"{deliveries} deliveries: " + ", ".join(parts)


def _print_history(function_app, rows: list[dict[str, str]]) -> None:
    row = next(row for row in rows if row["vm"].endswith("web-02"))
    sub, group, name = row["route"].split("/")
    route = {"subscriptionId": sub, "resourceGroup": group, "vmName": name}
    history = _call(function_app.list_vm_transitions, "vms/.../transitions", {}, route)
    print(f"\n4. Transitions of {group}/{name} (list_vm_transitions):")
    for item in history["value"]:
        note = f"  (changed after {item['changedAfter'][11:19]})" if item.get("changedAfter") else ""
        state = f"{item['powerState']:<12} {item['source']:<9}"
        print(f"   {item['time'][:19]}  {state} {item['operationName']}{note}")


def _print_next_steps(rows: list[dict[str, str]]) -> None:
    # web-01 is the VM test.http asks about; any row will do if the sample changes.
    rows = sorted(rows, key=lambda row: not row["vm"].endswith("/web-01"))
    print(f"\n6. The same API: `make serve` (or `func start` with Core Tools), then open {BASE_URL}/timeline")
    print(f"   GET {BASE_URL}/vms")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}/transitions?top=50")
    print(f"   GET {BASE_URL}/vms?format=csv   (also on transitions, timelines and costs)")
    print(f"   GET {BASE_URL}/costs?groupBy=resourceGroup   (or subscription, or tag:<name>)")


def _call(function, url_path: str, params: dict[str, str] | None = None, route: dict[str, str] | None = None):
    request = func.HttpRequest("GET", f"{BASE_URL}/{url_path}", body=b"", params=params or {},
                               route_params=route or {})  # fmt: skip
    response = function(request)
    body = json.loads(response.get_body())
    if response.status_code != 200:
        raise RuntimeError(f"{url_path} answered {response.status_code}: {body}")
    return body


def _binding(wire: dict[str, Any]):
    """Exactly what the Python worker builds for an Event Grid trigger."""
    return EventGridEventInConverter.decode(
        data=meta.Datum(type="json", value=json.dumps(wire)), trigger_metadata=None
    )


def _shift_to_end_before(events: list[dict[str, Any]], end: datetime) -> list[dict[str, Any]]:
    from shared.domain.times import parse_time

    def field(event: dict[str, Any]) -> str:
        return "time" if "specversion" in event else "eventTime"

    last = max(parse_time(event[field(event)]) for event in events)
    shift = end - last
    shifted = []
    for event in events:
        moved = parse_time(event[field(event)]) + shift
        shifted.append({**event, field(event): moved.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"})
    return shifted


def _configure(azurite: Azurite, arm_url: str, prices_url: str, subscription: str) -> None:
    # Set, not defaulted: the demo must never write its sample day into a real account, nor ask the
    # public prices API.
    os.environ.update({
        "VM_LEDGER_STORAGE": azurite.storage_setting,
        "VM_LEDGER_TABLE": TABLE,
        "RECONCILE_SUBSCRIPTION_IDS": subscription,
        "ARM_ENDPOINT": arm_url,
        "RETAIL_PRICES_ENDPOINT": prices_url,
        "PRICES_CURRENCY": CURRENCY,
    })  # fmt: skip
    os.environ.pop("VM_LEDGER_STORAGE__tableServiceUri", None)


def _clear_subscription(subscription: str) -> None:
    """Delete the sample subscription's partition (its VMs' rows) so that a rerun starts clean."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    table = TableClient.from_connection_string(os.environ["VM_LEDGER_STORAGE"], table_name=TABLE)
    try:
        keys = [
            ("delete", {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]})
            for entity in table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": subscription.lower()},
                select=["PartitionKey", "RowKey"],
            )
        ]
    except ResourceNotFoundError:  # first run: no table yet
        return
    for start in range(0, len(keys), 100):  # a transaction holds at most 100 entities
        table.submit_transaction(keys[start : start + 100])
    # The refreshes run at most once a period: forget when they last ran, so a rerun lists and fetches.
    for job in (f"inventory|{subscription.lower()}", f"prices|{CURRENCY}"):
        table.delete_entity("jobs", job)
    if keys:
        print(f"Cleared the previous run's {len(keys)} rows of subscription {subscription}.")


def _start_fake(module: str, option: str, data: Path) -> tuple[subprocess.Popen[str], str]:
    """A loopback fake (``tests.fake_arm`` or ``tests.fake_prices``) as a subprocess, and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", option, str(data)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = process.stdout.readline().strip() if process.stdout else ""
    if not url.startswith("http://127.0.0.1:"):
        _stop(process)
        raise RuntimeError(f"{module} did not start (printed {url!r})")
    return process, url


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
