"""`make demo`: the whole product on a laptop, no Azure account.

Uses the persistent Azurite of ``make serve`` (table 127.0.0.1:10002 and queue 10001, data in
``.azurite/``; started here if it is not running, reused if it is), replays the sample day of ARM events
through the real ``on_vm_event`` into table ``vmledger``, asks the real HTTP functions for each VM's state
and billed hours, then runs the real ``reconcile_vms`` timer against a loopback fake of List All (on a
free port) that knows what no event said (a guest shutdown, VMs created before the tool, whose history
the same fake serves as an Activity Log for the backfill of adopted VMs), and prints the findings. A
small Uniform scale set is created, scaled out, partly deallocated and scaled in: ``on_vm_event`` queues
each scale-set event and the real ``record_scale_set_event`` takes it from the queue as the host would
(``devtools.queue_host``) and lists the set's instances from the same fake, which the demo moves along
with the events (``samples/scale-set-day.json``).
The same timer run lists the VM models (size, OS, priority, tags) and fetches retail prices from a
loopback fake of the Retail Prices API, so the corrected table has an estimated cost column, followed by
one chargeback table by tag.
Everything it started is stopped by pid at the end; the ledger stays, so ``make serve`` shows it afterwards.

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
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from devtools.azurite import PERSISTENT_LOCATION, STANDARD_TABLE_PORT, Azurite, PortBusyError
from devtools.queue_host import QueueTrigger
from devtools.worker import event_grid_argument
from shared.cli import power_label, print_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TABLE = "vmledger"  # the default table, so `make serve` and test.http see the demo's ledger
# Not the default queue: a `make serve` running on the same Azurite polls that one, and its queue function
# would list the scale set from another ARM endpoint than the demo's fake. The demo runs its own.
QUEUE = "vmledger-demo-scale-sets"
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
    parser.add_argument("--azurite-queue-port", type=int, default=None,
                        help="Azurite queue port (default: the table port - 1, i.e. 10001)")  # fmt: skip
    parser.add_argument(
        "--azurite-location",
        type=Path,
        default=PERSISTENT_LOCATION,
        help="folder of Azurite's data (default .azurite/)",
    )
    parser.add_argument("--snapshot", type=Path, default=ROOT / "demo-timeline.html",
                        help="where to write the static timeline page")  # fmt: skip
    options = parser.parse_args(argv)
    from shared.domain.times import utc_now

    events = json.loads((SAMPLES / "events-day.json").read_text())
    now = utc_now()
    shift = _shift_to(events, now - timedelta(minutes=10))
    listing_file = SAMPLES / "list-all.json"
    subscription = next(iter(json.loads(listing_file.read_text())))
    try:
        azurite = Azurite.persistent(
            options.azurite_port, options.azurite_location, queue_port=options.azurite_queue_port
        )
    except (PortBusyError, OSError, RuntimeError) as err:
        print(f"Cannot start Azurite: {err}", file=sys.stderr)
        return 1
    with azurite:
        print(f"{azurite.describe()}, table {TABLE}, queue {QUEUE}, data in {options.azurite_location}")
        with tempfile.TemporaryDirectory() as folder:
            activity_file = Path(folder) / "activity-log.json"
            activity_file.write_text(json.dumps(_shifted_activity_log(shift)))
            scale_sets = Path(folder) / "scale-sets.json"
            scale_sets.write_text((SAMPLES / "scale-sets.json").read_text())
            fake_arm, arm_url = _start_fake(
                "devtools.fake_arm", "--listing", listing_file, "--activity-log", activity_file,
                "--scale-sets", scale_sets,
            )  # fmt: skip
            fake_prices, prices_url = _start_fake(
                "devtools.fake_prices", "--catalogue", SAMPLES / "retail-prices.json"
            )
            try:
                _configure(azurite, arm_url, prices_url, subscription)
                _clear_subscription(subscription)
                scale_set_day = ScaleSetDay(
                    json.loads((SAMPLES / "scale-set-day.json").read_text()), scale_sets
                )
                status = _run(
                    _shift_events(events, shift), now, shift, arm_url, options.snapshot, scale_set_day
                )
            finally:
                _stop(fake_arm)
                _stop(fake_prices)
                print(f"Stopped the fake ARM (pid {fake_arm.pid}) and prices API (pid {fake_prices.pid}).")
    if azurite.owned():
        print(f"Stopped Azurite ({', '.join(azurite.owned())}); its data stays for `make serve`.")
    return status


@dataclass(frozen=True)
class ScaleSetDay:
    """The scale set's events, each with the instances a listing shows after it, and the fake's file."""

    steps: list[dict[str, Any]]
    listing: Path


def _run(
    events: list[dict[str, Any]],
    now: datetime,
    shift: timedelta,
    arm_url: str,
    snapshot: Path,
    scale_set_day: ScaleSetDay,
) -> int:
    import function_app
    from shared.domain.times import format_time

    print(f"\n1. Replaying {len(events)} deliveries of a sample day through on_vm_event: both schemas,")
    print(
        "   a duplicate, an out-of-order start, a hibernate, and an extension and a storage event (skipped)."
    )
    with _counting_outcomes() as outcomes:
        for wire in events:
            function_app.on_vm_event(event_grid_argument(wire))
    print("   " + _ingest_summary(len(events), outcomes))
    _replay_scale_set(function_app, scale_set_day, shift)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    print(f"\n2. The ledger, as the HTTP API reports it (billed hours today = since {format_time(today)}):\n")
    before = _vm_rows(function_app, today)
    _print_rows(before)
    print(f"\n3. reconcile_vms against List All (statusOnly=true) served by a loopback fake at {arm_url};")
    print(
        "   VMs it adopts are backfilled from the Activity Log the same fake serves. The same run lists the"
    )
    print(
        "   VM models (size, OS, priority, tags) and fetches retail prices from a loopback fake of the Retail"
    )
    print("   Prices API, so each VM now has an estimated cost:")
    function_app.reconcile_vms(TimerRequest(past_due=False))
    after = _vm_rows(function_app, today)
    _print_rows(after, changed=_changed(before, after))
    _print_chargeback(function_app, today)
    _print_history(function_app, after, "web-02", "4")
    _print_findings(function_app, now)
    _print_history(function_app, after, "archive-01", "6", backfilled=True)
    _write_timeline_snapshot(now, snapshot)
    _print_next_steps(after)
    return 0


def _replay_scale_set(function_app, scale_set_day: ScaleSetDay, shift: timedelta) -> None:
    """Each scale-set event, after moving the fake ARM's instances to what a listing shows after it."""
    day, scale_sets = scale_set_day.steps, scale_set_day.listing
    final = scale_sets.read_text()
    subscription = next(iter(json.loads(final)))
    print(
        f"\n   Scale set web-ss: {len(day)} scale-set events (created, scaled out, 2 of 4 deallocated, scaled"
    )
    print("   in). on_vm_event queues each one; record_scale_set_event takes it from the queue, lists the")
    print("   set's instances from the fake ARM and records what changed.")
    queue = QueueTrigger(function_app.record_scale_set_event, os.environ["VM_LEDGER_STORAGE"], QUEUE)
    with _counting_outcomes() as outcomes, _counting_outcomes("handle_scale_set_message") as recorded:
        for step in day:
            entry = json.loads(final)[subscription][0]
            scale_sets.write_text(json.dumps({subscription: [{**entry, "instances": step["instances"]}]}))
            function_app.on_vm_event(event_grid_argument(_shift_events([step["event"]], shift)[0]))
            queue.drain()
    scale_sets.write_text(final)  # what the reconcile will list: instance 1 shut down inside its guest
    print("   " + _ingest_summary(len(day), outcomes) + "; then from the queue: " + _listed_summary(recorded))


def _print_findings(function_app, now: datetime) -> None:
    from shared.cli import FINDING_HEADERS
    from shared.domain.times import parse_time

    def hours(item: dict[str, Any], billed: bool) -> str:
        # From the clock the sample day was moved by, not the answer's asOf, so reruns print the same.
        span = max((now - parse_time(item["since"])).total_seconds(), 0.0) / 3600
        return f"{span if not billed or item['billable'] else 0.0:.2f}"

    items = _call(function_app.list_findings, "findings")["value"]
    stopped = _call(function_app.list_findings, "findings", {"kind": "stoppedButBilled", "minHours": "0"})
    items += [item for item in stopped["value"] if item not in items]
    print("\n5. Findings: GET /findings, and /findings?kind=stoppedButBilled&minHours=0 for web-02, whose")
    print("   guest shutdown reconcile found just now (by default a stop must last an hour to count):\n")
    rows = [
        {
            "kind": item["kind"],
            "vm": f"{item['resourceGroup']}/{item['vmName']}",
            "power": power_label(item["powerState"], item["hibernated"], item["deleted"]),
            "since": item["since"][:16].replace("T", " "),
            "hours": hours(item, billed=False),
            "billed_h": hours(item, billed=True),
            "how": item["reachedBy"] or "",
        }
        for item in items
    ]
    print_table(rows, FINDING_HEADERS, marked=lambda row: False)


def _write_timeline_snapshot(now: datetime, snapshot: Path) -> None:
    from shared.cli import write_snapshot
    from shared.context import get_ledger

    # The sample is one day long; a longer window would show mostly "not in the ledger yet".
    path = snapshot.resolve()
    count = write_snapshot(path, get_ledger(), start=now - timedelta(days=1), end=now)
    print(f"\n7. Timeline page: {BASE_URL}/timeline under `make serve`; a static snapshot of its {count} VMs")
    print(f"   (no server needed) is in {path}")
    print(f"   open {path.as_uri()}")


def _vm_rows(function_app, start: datetime) -> list[dict[str, str]]:
    from shared.domain.times import format_time

    listing = _call(function_app.list_vms, "vms")
    rows = []
    for vm in listing["value"]:
        route = {"subscriptionId": vm["subscriptionId"], "resourceGroup": vm["resourceGroup"]}
        if "instanceId" in vm:  # a Uniform scale set instance: vms/{sub}/{rg}/{set}/instances/{id}
            route.update(scaleSetName=vm["scaleSet"]["name"], instanceId=vm["instanceId"])
            endpoint, path = (
                function_app.get_vm_instance,
                "{subscriptionId}/{resourceGroup}/{scaleSetName}/instances/{instanceId}",
            )
        else:
            route["vmName"] = vm["vmName"]
            endpoint, path = function_app.get_vm, "{subscriptionId}/{resourceGroup}/{vmName}"
        detail = _call(endpoint, "vms/...", {"from": format_time(start)}, route)
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
            "route": path.format(**route),
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
def _counting_outcomes(job: str = "handle_event") -> Iterator[Counter[str]]:
    """Count what ``job`` (``handle_event``, ``handle_scale_set_message``) returns while the real
    ``on_vm_event`` or ``record_scale_set_event`` calls it.

    The triggers return None (they have no output), so the demo watches the function they call, which
    they look up in ``shared.jobs`` at each call, instead of calling it itself: the events still take the
    worker's path.
    """
    import shared.jobs

    original = getattr(shared.jobs, job)
    outcomes: Counter[str] = Counter()

    def counting(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        outcomes[outcome] += 1
        return outcome

    setattr(shared.jobs, job, counting)
    try:
        yield outcomes
    finally:
        setattr(shared.jobs, job, original)


def _ingest_summary(deliveries: int, outcomes: Counter[str]) -> str:
    names = ("recorded", "duplicate", "skipped", "queued")
    return f"{deliveries} deliveries: " + ", ".join(f"{outcomes[n]} {n}" for n in names if outcomes[n])


def _listed_summary(outcomes: Counter[str]) -> str:
    """What the queue function's listings did: recorded changes, or found the ledger already right."""
    labels = (("recorded", "recorded changes"), ("duplicate", "found nothing new"), ("skipped", "skipped"))
    return ", ".join(f"{outcomes[name]} {label}" for name, label in labels if outcomes[name])


def _print_history(
    function_app, rows: list[dict[str, str]], vm: str, number: str, *, backfilled: bool = False
) -> None:
    row = next(row for row in rows if row["vm"].endswith(vm))
    sub, group, name = row["route"].split("/")
    route = {"subscriptionId": sub, "resourceGroup": group, "vmName": name}
    history = _call(function_app.list_vm_transitions, "vms/.../transitions", {}, route)
    note = ", its history from before the ledger backfilled" if backfilled else ""
    print(f"\n{number}. Transitions of {group}/{name} (list_vm_transitions){note}:")
    for item in history["value"]:
        note = f"  (changed after {item['changedAfter'][11:19]})" if item.get("changedAfter") else ""
        state = f"{item['powerState']:<12} {item['source']:<9}"
        print(f"   {item['time'][:19]}  {state} {item['operationName']}{note}")


def _print_next_steps(rows: list[dict[str, str]]) -> None:
    # web-01 is the VM test.http asks about; any row will do if the sample changes.
    rows = sorted(rows, key=lambda row: not row["vm"].endswith("/web-01"))
    print(f"\n8. The same API: `make serve` (or `func start` with Core Tools), then open {BASE_URL}/timeline")
    print(f"   GET {BASE_URL}/vms")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}/transitions?top=50")
    print(f"   GET {BASE_URL}/findings")
    print(f"   GET {BASE_URL}/costs?groupBy=resourceGroup   (or subscription, or tag:<name>)")
    print(f"   GET {BASE_URL}/vms?format=csv   (also on transitions, timelines, findings and costs)")
    instance = next((row["route"] for row in rows if "/instances/" in row["route"]), None)
    if instance:
        print(f"   GET {BASE_URL}/vms?scaleSet=web-ss   (also timelines, and timeline?scaleSet=web-ss)")
        print(f"   GET {BASE_URL}/vms/{instance}")


def _call(function, url_path: str, params: dict[str, str] | None = None, route: dict[str, str] | None = None):
    request = func.HttpRequest("GET", f"{BASE_URL}/{url_path}", body=b"", params=params or {},
                               route_params=route or {})  # fmt: skip
    response = function(request)
    body = json.loads(response.get_body())
    if response.status_code != 200:
        raise RuntimeError(f"{url_path} answered {response.status_code}: {body}")
    return body


def _time_field(event: dict[str, Any]) -> str:
    return "time" if "specversion" in event else "eventTime"


def _shift_to(events: list[dict[str, Any]], end: datetime) -> timedelta:
    """How far to move the sample day so that its last event happened at ``end``."""
    from shared.domain.times import parse_time

    return end - max(parse_time(event[_time_field(event)]) for event in events)


def _moved(text: str, shift: timedelta) -> str:
    from shared.domain.times import parse_time

    return (parse_time(text) + shift).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _shift_events(events: list[dict[str, Any]], shift: timedelta) -> list[dict[str, Any]]:
    return [{**event, _time_field(event): _moved(event[_time_field(event)], shift)} for event in events]


def _shifted_activity_log(shift: timedelta) -> dict[str, list[dict[str, Any]]]:
    """The sample Activity Log moved with the sample day, so its history stays before it."""
    log = json.loads((SAMPLES / "activity-log.json").read_text())
    return {
        sub: [
            {**r, "eventTimestamp": _moved(r["eventTimestamp"], shift),
             "submissionTimestamp": _moved(r["submissionTimestamp"], shift)}
            for r in records
        ]
        for sub, records in log.items()
    }  # fmt: skip


def _configure(azurite: Azurite, arm_url: str, prices_url: str, subscription: str) -> None:
    # Set, not defaulted: the demo must never write its sample day into a real account, nor ask the
    # public prices API.
    os.environ.update({
        "VM_LEDGER_STORAGE": azurite.storage_setting,
        "VM_LEDGER_TABLE": TABLE,
        "VM_LEDGER_QUEUE": QUEUE,
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


def _start_fake(module: str, *args: str | Path) -> tuple[subprocess.Popen[str], str]:
    """A loopback fake (``devtools.fake_arm`` or ``devtools.fake_prices``) as a subprocess, and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *map(str, args)],
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
