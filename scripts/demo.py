"""`make demo`: the whole product on a laptop, no Azure account.

Starts Azurite (loopback, in memory), replays the sample day of ARM events through the real
``on_vm_event``, asks the real HTTP functions for each VM's state and billed hours, then runs the real
``reconcile_vms`` timer against a loopback fake of List All that knows what no event said (a guest
shutdown, a VM created before the tool). Everything it started is stopped by pid at the end.

The sample day is moved so that its last event happened ten minutes ago, so "today" means something.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.timer import TimerRequest

from scripts.azurite import Azurite
from shared.cli import power_label, print_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
BASE_URL = "http://localhost:7071/api"


def main() -> int:
    events = json.loads((SAMPLES / "events-day.json").read_text())
    listing_file = SAMPLES / "list-all.json"
    subscription = next(iter(json.loads(listing_file.read_text())))
    with Azurite() as azurite:
        print(f"Azurite (pid {azurite.process.pid}) on {azurite.table_endpoint}")
        fake_arm, arm_url = _start_fake_arm(listing_file)
        try:
            _configure(azurite, arm_url, subscription)
            return _run(events, arm_url)
        finally:
            _stop(fake_arm)
            print(f"Stopped the fake ARM (pid {fake_arm.pid}) and Azurite (pid {azurite.process.pid}).")


def _run(events: list[dict[str, Any]], arm_url: str) -> int:
    import function_app
    from shared.domain.times import format_time, utc_now

    now = utc_now()
    events = _shift_to_end_before(events, now - timedelta(minutes=10))
    print(f"\n1. Replaying {len(events)} deliveries of a sample day through on_vm_event: both schemas,")
    print(
        "   a duplicate, an out-of-order start, a hibernate, and an extension and a storage event (skipped)."
    )
    for wire in events:
        function_app.on_vm_event(_binding(wire))
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    print(f"\n2. The ledger, as the HTTP API reports it (billed hours today = since {format_time(today)}):\n")
    before = _vm_rows(function_app, today)
    _print_rows(before)
    print(f"\n3. reconcile_vms against List All (statusOnly=true) served by a loopback fake at {arm_url}:")
    function_app.reconcile_vms(TimerRequest(past_due=False))
    after = _vm_rows(function_app, today)
    _print_rows(after, changed=_changed(before, after))
    _print_history(function_app, after)
    _write_timeline_snapshot(now)
    _print_next_steps(after)
    return 0


def _write_timeline_snapshot(now: datetime) -> None:
    from shared.cli import write_snapshot
    from shared.context import get_ledger

    # The sample is one day long; a longer window would show mostly "not in the ledger yet".
    path = ROOT / "demo-timeline.html"
    count = write_snapshot(path, get_ledger(), start=now - timedelta(days=1), end=now)
    print(f"\n5. Timeline page: {BASE_URL}/timeline under `func start`; a static snapshot of its {count} VMs")
    print(f"   (no server needed) is in {path}")


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
            "billed": "yes" if vm["billable"] else "no",
            "since": vm["since"][:16].replace("T", " "),
            "today": f'{detail["billedSeconds"] / 3600:.2f}',
            "unknown": f'{detail["unknownSeconds"] / 3600:.2f}',
            "route": "/".join(route.values()),
        })  # fmt: skip
    return rows


def _changed(before: list[dict[str, str]], after: list[dict[str, str]]) -> set[str]:
    earlier = {row["vm"]: (row["power"], row["provisioning"]) for row in before}
    return {row["vm"] for row in after if earlier.get(row["vm"]) != (row["power"], row["provisioning"])}


def _print_rows(rows: list[dict[str, str]], changed: set[str] | frozenset[str] = frozenset()) -> None:
    headers = {"vm": "VM", "power": "POWER STATE", "provisioning": "PROVISIONING", "billed": "BILLED",
               "since": "SINCE (UTC)", "today": "BILLED H TODAY", "unknown": "UNKNOWN H"}  # fmt: skip
    print_table(rows, headers, marked=lambda row: row["vm"] in changed)
    if changed:
        print("   (* corrected or added by reconcile)")


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
    print("\n6. The same API under `func start` (Core Tools) at", BASE_URL)
    print(f"   GET {BASE_URL}/vms")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}?from=2026-11-01T00:00:00Z")
    print(f"   GET {BASE_URL}/vms/{rows[0]['route']}/transitions?top=50")
    print(f"   GET {BASE_URL}/vms?format=csv   (also on transitions and timelines)")


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


def _configure(azurite: Azurite, arm_url: str, subscription: str) -> None:
    os.environ.update({
        "VM_LEDGER_STORAGE": azurite.connection_string,
        "VM_LEDGER_TABLE": "vmledgerdemo",
        "RECONCILE_SUBSCRIPTION_IDS": subscription,
        "ARM_ENDPOINT": arm_url,
    })  # fmt: skip
    os.environ.pop("VM_LEDGER_STORAGE__tableServiceUri", None)


def _start_fake_arm(listing_file: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_arm", "--port", "0", "--listing", str(listing_file)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = process.stdout.readline().strip() if process.stdout else ""
    if not url.startswith("http://127.0.0.1:"):
        _stop(process)
        raise RuntimeError(f"the fake ARM did not start (printed {url!r})")
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
