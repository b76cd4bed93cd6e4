"""Setting the demo up: the sample day moved so that it ends ten minutes ago (its Activity Log with it),
the loopback fakes as subprocesses, the app's settings pointed at Azurite and the fakes, and the sample
subscription's partition cleared so that a rerun starts clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.azurite import Azurite
from scripts.demo import CURRENCY, QUEUE, ROOT, SAMPLES, TABLE, TOPIC_KEY


def _time_field(event: dict[str, Any]) -> str:
    return "time" if "specversion" in event else "eventTime"


def shift_to(events: list[dict[str, Any]], end: datetime) -> timedelta:
    """How far to move the sample day so that its last event happened at ``end``."""
    from shared.domain.times import parse_time

    return end - max(parse_time(event[_time_field(event)]) for event in events)


def _moved(text: str, shift: timedelta) -> str:
    from shared.domain.times import parse_time

    return (parse_time(text) + shift).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def shift_events(events: list[dict[str, Any]], shift: timedelta) -> list[dict[str, Any]]:
    return [{**event, _time_field(event): _moved(event[_time_field(event)], shift)} for event in events]


def shifted_activity_log(shift: timedelta) -> dict[str, list[dict[str, Any]]]:
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


def configure(
    azurite: Azurite, arm_url: str, prices_url: str, subscription: str, topic_endpoint: str
) -> None:
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
        "FINDINGS_TOPIC_ENDPOINT": topic_endpoint,
        "FINDINGS_TOPIC_KEY": TOPIC_KEY,
    })  # fmt: skip
    os.environ.pop("VM_LEDGER_STORAGE__tableServiceUri", None)


def clear_subscription(subscription: str) -> None:
    """Delete the sample subscription's partitions (its VMs' rows, their disks and IPs), and what the
    findings topic published of them, so that a rerun starts clean."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    from shared.store.outbox import PUBLISHED_PARTITION

    table = TableClient.from_connection_string(os.environ["VM_LEDGER_STORAGE"], table_name=TABLE)
    try:
        keys = _row_keys(table, subscription.lower())
    except ResourceNotFoundError:  # first run: no table yet
        return
    keys += _row_keys(table, f"attached|{subscription.lower()}")
    published = _row_keys(table, PUBLISHED_PARTITION)
    bill = _row_keys(table, f"actuals|{subscription.lower()}")
    for partition in {key[1]["PartitionKey"] for key in keys}:
        same = [key for key in keys if key[1]["PartitionKey"] == partition]
        for start in range(0, len(same), 100):  # a transaction holds at most 100 entities, one partition
            table.submit_transaction(same[start : start + 100])
    for batch in (published, bill):
        for start in range(0, len(batch), 100):
            table.submit_transaction(batch[start : start + 100])
    # The refreshes run at most once a period: forget when they last ran, so a rerun lists and fetches.
    sub = subscription.lower()
    for job in (f"inventory|{sub}", f"prices|{CURRENCY}", f"actuals|{sub}"):
        table.delete_entity("jobs", job)
    if keys:
        print(f"Cleared the previous run's {len(keys)} rows of subscription {subscription}.")


def _row_keys(table: Any, partition: str) -> list[tuple[str, dict[str, str]]]:
    return [
        ("delete", {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]})
        for entity in table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition}, select=["PartitionKey", "RowKey"]
        )
    ]


def start_fake(module: str, *args: str | Path) -> tuple[subprocess.Popen[str], str]:
    """A loopback fake (``devtools.fake_arm`` or ``devtools.fake_prices``) as a subprocess, and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *map(str, args)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = process.stdout.readline().strip() if process.stdout else ""
    if not url.startswith("http://127.0.0.1:"):
        stop(process)
        raise RuntimeError(f"{module} did not start (printed {url!r})")
    return process, url


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def bill_of(listing: dict[str, list[dict[str, Any]]], day: str) -> dict[str, Any]:
    """What the fake Cost Management bills for ``day`` (``YYYY-MM-DD``): legacy-app's 24 hours at a
    negotiated price (62 % of list; amortized lower still, as a reservation would make it) and 3 hours of
    archive-01, which the ledger has deallocated since long before: a drift to find."""
    vms = {vm["name"]: vm["id"].lower() for vms in listing.values() for vm in vms}
    subscription = next(iter(listing))

    def line(name: str, cost: float, hours: float) -> dict[str, Any]:
        return {"resourceId": vms[name], "meterCategory": "Virtual Machines", "day": day, "cost": cost,
                "quantity": hours, "currency": CURRENCY}  # fmt: skip

    return {
        subscription: {
            "ActualCost": [line("legacy-app", 1.43, 24.0), line("archive-01", 0.58, 3.0)],
            "AmortizedCost": [line("legacy-app", 0.98, 24.0), line("archive-01", 0.58, 3.0)],
        }
    }
