"""What the demo prints: the API's answers as tables (VMs, chargeback, findings, transitions) with their
footnotes, summaries of what the triggers did, the timeline snapshot and the next steps."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func

from scripts.demo import BASE_URL
from shared.cli import power_label, print_table


def print_findings(function_app, now: datetime) -> None:
    from shared.cli import FINDING_HEADERS
    from shared.domain.times import parse_time

    def hours(item: dict[str, Any], billed: bool) -> str:
        # From the clock the sample day was moved by, not the answer's asOf, so reruns print the same.
        span = max((now - parse_time(item["since"])).total_seconds(), 0.0) / 3600
        return f"{span if not billed or item['billable'] else 0.0:.2f}"

    # billingDrift is shown with its two numbers beside the bill (step 3): its hours are no time in a state.
    items = [item for item in _call_api(function_app.list_findings, "findings")["value"]
             if item["kind"] != "billingDrift"]  # fmt: skip
    stopped = _call_api(function_app.list_findings, "findings", {"kind": "stoppedButBilled", "minHours": "0"})
    seen = {(item["kind"], item["resourceId"]) for item in items}
    items += [item for item in stopped["value"] if (item["kind"], item["resourceId"]) not in seen]
    print("\n5. Findings: GET /findings, and /findings?kind=stoppedButBilled&minHours=0 for web-02, whose")
    print("   guest shutdown reconcile found just now (by default a stop must last an hour to count):\n")

    def money(item: dict[str, Any]) -> str:
        monthly = item.get("attachedCost") or {}
        if monthly.get("monthly") is None:
            return ""
        return f"still {monthly['monthly']:.2f} {monthly['currency']} a month in disks and IPs"

    rows = [
        {
            "kind": item["kind"],
            "vm": f"{item['resourceGroup']}/{item['vmName']}",
            "power": power_label(item["powerState"], item["hibernated"], item["deleted"]),
            "since": item["since"][:16].replace("T", " "),
            "hours": hours(item, billed=False),
            "billed_h": hours(item, billed=True),
            "how": item["reachedBy"] or money(item),
        }
        if item["kind"] != "unattachedDisk"
        else {
            "kind": item["kind"],
            "vm": f"{item['resourceGroup']}/{item['diskName']} (disk, {item['tier'] or item['sku']})",
            "power": "no VM",
            "since": item["since"][:16].replace("T", " "),
            "hours": "",
            "billed_h": "",
            "how": _cost_label(item["monthlyCost"]) + " a month",
        }
        for item in items
    ]
    print_table(rows, FINDING_HEADERS, marked=lambda row: False)


def write_timeline_snapshot(now: datetime, snapshot: Path) -> None:
    from shared.cli import write_snapshot
    from shared.context import root

    # The sample is one day long; a longer window would show mostly "not in the ledger yet".
    path = snapshot.resolve()
    app = root()
    count = write_snapshot(
        path,
        app.ledger(),
        currency=app.currency,
        thresholds=app.thresholds,
        start=now - timedelta(days=1),
        end=now,
    )
    print(f"\n7. Timeline page: {BASE_URL}/timeline under `make serve`; a static snapshot of its {count} VMs")
    print(f"   (no server needed) is in {path}")
    print(f"   open {path.as_uri()}")


def vm_rows(function_app, start: datetime) -> list[dict[str, str]]:
    from shared.domain.times import format_time

    listing = _call_api(function_app.list_vms, "vms")
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
        detail = _call_api(endpoint, "vms/...", {"from": format_time(start)}, route)
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


def print_chargeback(function_app, start: datetime) -> None:
    from shared.domain.times import format_time

    body = _call_api(function_app.list_costs, "costs", {"from": format_time(start), "groupBy": "tag:team"})
    rows = [
        {
            "team": group["group"] if group["group"] is not None else "(no team tag)",
            "vms": str(group["vmCount"]),
            "billed": f"{group['billedSeconds'] / 3600:.2f}",
            "cost": _cost_label(group["estimatedCost"]) + _unpriced(group),
            **_whole_bill(group),
        }
        for group in body["value"]
    ]
    total = body["total"]
    billed = f"{total['billedSeconds'] / 3600:.2f}"
    cost = _cost_label(total["estimatedCost"]) + _unpriced(total)
    rows.append(
        {"team": "total", "vms": str(total["vmCount"]), "billed": billed, "cost": cost, **_whole_bill(total)}
    )
    print(f"\n   Chargeback today by tag 'team' (GET {BASE_URL}/costs?groupBy=tag:team):\n")
    print_table(rows, {"team": "TEAM", "vms": "VMS", "billed": "BILLED H TODAY", "cost": "EST. COST TODAY",
                       "attached": "DISKS+IPS TODAY", "total": "TOTAL TODAY", "avoided": "AVOIDED TODAY",
                       "monthly": "DISKS+IPS A MONTH"})  # fmt: skip
    print(
        "   Retail list prices: compute, managed disks and public IPs (730 hours a month); no reservations,"
    )
    print("   savings plans, negotiated rates, disk transactions or bandwidth. Cost Management remains the")
    print("   invoice.")


def _whole_bill(group: dict[str, Any]) -> dict[str, str]:
    """A group's disks and IPs, total and avoided compute (stopping saved it), as table cells."""
    attached, total, avoided = group["attachedCost"], group["totalCost"], group["avoidedCost"]
    return {
        "attached": _cost_label(attached),
        "total": _cost_label(total)
        + (f" + {total['unpricedVmCount']} VM(s) unpriced" if total["unpricedVmCount"] else ""),
        "avoided": _cost_label(avoided),
        "monthly": _cost_label({"amount": attached["monthly"], "currency": attached["currency"]}),
    }


def print_actuals(function_app, day: datetime) -> None:
    """The bill of one day beside the estimate for the same day, per VM the bill charged, and its drift."""
    from shared.domain.times import format_time

    window = {"from": format_time(day), "to": format_time(day + timedelta(days=1))}
    rows = []
    for vm in _call_api(function_app.list_vms, "vms")["value"]:
        if "/virtualmachinescalesets/" in vm["resourceId"].lower():
            continue  # a Uniform instance: the bill charges its scale set
        route = {key: vm[key] for key in ("subscriptionId", "resourceGroup", "vmName")}
        body = _call_api(function_app.get_vm, "vms/x", window, route)
        actual = body["actualCost"]
        if actual["amount"] is not None:
            rows.append(_actual_row(vm, body, actual))
    findings = _call_api(function_app.list_findings, "findings", {"kind": "billingDrift"})["value"]
    print(f"\n   Cost Management's bill for {day.date()} beside the estimate of the same day")
    print(f"   (GET {BASE_URL}/vms/{{vm}}?from=...&to=..., actualCost; loopback fake of the Query API):\n")
    headers = {"vm": "VM", "bill_h": "BILL H", "ledger_h": "LEDGER H", "actual": "ACTUAL",
               "amortized": "AMORTIZED", "estimate": "ESTIMATE SAME DAY", "discount": "DISCOUNT"}  # fmt: skip
    print_table(rows, headers)
    if not rows:
        print(f"   The bill covers no VM of that day; the actuals step says: {_actuals_record()}")
    print("   DISCOUNT is actual / estimate: negotiated against list prices. Reservations and savings plans")
    print("   show in the amortized cost. A day is compared with the ledger once it has been over for a day:")
    for item in findings:
        drift = item["drift"]
        print(f"   billingDrift {item['resourceGroup']}/{item['vmName']} on {drift['day']}: the bill has "
              f"{drift['billHours']} h, the ledger {drift['ledgerHours']} h.")  # fmt: skip
        print(textwrap.fill(drift["explanation"], 100, initial_indent="   ", subsequent_indent="   "))
    if not findings:
        print("   no billingDrift.")


def _actuals_record() -> str:
    from shared.context import root

    app = root()
    records = [app.run_records().get(f"actuals|{sub.lower()}") for sub in app.subscriptions]
    return "; ".join(record.detail if record else "not run" for record in records)


def _actual_row(vm: dict[str, Any], body: dict[str, Any], actual: dict[str, Any]) -> dict[str, str]:
    discount = body["discount"]
    return {
        "vm": f"{vm['resourceGroup']}/{vm['vmName']}",
        "bill_h": f"{actual['hours']:.2f}",
        "ledger_h": f"{body['billedSeconds'] / 3600:.2f}",
        "actual": _cost_label(actual),
        "amortized": _cost_label({**actual, "amount": actual["amortized"]}),
        "estimate": _cost_label(body["estimatedCostSameDays"]),
        "discount": f"{discount:.2f}" if discount is not None else "-",
    }


def changed_rows(before: list[dict[str, str]], after: list[dict[str, str]]) -> set[str]:
    earlier = {row["vm"]: (row["power"], row["provisioning"]) for row in before}
    return {row["vm"] for row in after if earlier.get(row["vm"]) != (row["power"], row["provisioning"])}


def print_rows(rows: list[dict[str, str]], changed: set[str] | frozenset[str] = frozenset()) -> None:
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


def ingest_summary(deliveries: int, outcomes: Counter[str]) -> str:
    names = ("recorded", "duplicate", "skipped", "queued")
    return f"{deliveries} deliveries: " + ", ".join(f"{outcomes[n]} {n}" for n in names if outcomes[n])


def listed_summary(outcomes: Counter[str]) -> str:
    """What the queue function's listings did: recorded changes, or found the ledger already right."""
    labels = (("recorded", "recorded changes"), ("duplicate", "found nothing new"), ("skipped", "skipped"))
    return ", ".join(f"{outcomes[name]} {label}" for name, label in labels if outcomes[name])


def print_history(
    function_app, rows: list[dict[str, str]], vm: str, number: str, *, backfilled: bool = False
) -> None:
    row = next(row for row in rows if row["vm"].endswith(vm))
    sub, group, name = row["route"].split("/")
    route = {"subscriptionId": sub, "resourceGroup": group, "vmName": name}
    history = _call_api(function_app.list_vm_transitions, "vms/.../transitions", {}, route)
    note = ", its history from before the ledger backfilled" if backfilled else ""
    print(f"\n{number}. Transitions of {group}/{name} (list_vm_transitions){note}:")
    for item in history["value"]:
        note = f"  (changed after {item['changedAfter'][11:19]})" if item.get("changedAfter") else ""
        state = f"{item['powerState']:<12} {item['source']:<9}"
        print(f"   {item['time'][:19]}  {state} {item['operationName']}{note}")


def print_next_steps(rows: list[dict[str, str]]) -> None:
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


def _call_api(
    function, url_path: str, params: dict[str, str] | None = None, route: dict[str, str] | None = None
):
    request = func.HttpRequest("GET", f"{BASE_URL}/{url_path}", body=b"", params=params or {},
                               route_params=route or {})  # fmt: skip
    response = function(request)
    body = json.loads(response.get_body())
    if response.status_code != 200:
        raise RuntimeError(f"{url_path} answered {response.status_code}: {body}")
    return body


def print_topic_events(events: list[dict[str, Any]], heading: str) -> None:
    """One line per CloudEvent the loopback topic received: type, kind, VM, since."""
    print(f"\n{heading} ({len(events)} event(s)):")
    for event in events:
        data = event.get("data") or {}
        kind = data.get("kind", "")
        vm, since = data.get("vmName", ""), data.get("since", "")
        print(f"     {event['type']:<24} {kind:<19} {vm:<14} since {since}")
