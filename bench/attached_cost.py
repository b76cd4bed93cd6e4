"""What the inventory step's disks and IPs cost: 10,000 VMs in 10 subscriptions with 20,000 managed disks and
10,000 public IPs (and their NICs), listed from the loopback fake of Disks - List, Network Interfaces - List
All and Public IP Addresses - List All in pages of 1,000, and written to the ``attached`` rows.

ARM round trips are the fake's recorded requests, Table round trips what the counting proxy saw. The first
refresh writes every row; the second finds them (the steady state, every ``INVENTORY_REFRESH``).
"""

from __future__ import annotations

import math
import time

from bench.harness import FAIL, PASS, Result, ledger_for, new_table, progress
from devtools.fake_arm import FakeArm
from devtools.fake_arm.attached import make_disk, make_nic, make_public_ip
from devtools.faultproxy import FaultProxy
from shared.domain.times import utc_now
from shared.jobs.attached_inventory import refresh_attached
from shared.sources import ArmClient, list_attached

SUB_PREFIX = "7a8b9c0d-1e2f-4a3b-8c4d-"
SUBSCRIPTIONS = 10
VMS_PER_SUBSCRIPTION = 1000
PAGE_SIZE = 1000


def attached_cost(proxy: FaultProxy) -> tuple[list[Result], list[str]]:
    subscriptions = [f"{SUB_PREFIX}{index:012x}" for index in range(SUBSCRIPTIONS)]
    ledger = ledger_for(proxy.connection_string, new_table("benchatt"))
    results: list[Result] = []
    with FakeArm({sub: [] for sub in subscriptions}, page_size=PAGE_SIZE) as arm:
        progress(
            f"building {SUBSCRIPTIONS * VMS_PER_SUBSCRIPTION:,} VMs' disks, NICs and IPs in the fake ARM"
        )
        for sub in subscriptions:
            _fill(arm, sub)
        client = ArmClient(arm.url, "2024-07-01", retry_total=0)
        n = VMS_PER_SUBSCRIPTION
        per_subscription = 2 * math.ceil((n + 1) / 1000) + 1 + math.ceil((n + 1) / 100)
        pages = SUBSCRIPTIONS * sum(math.ceil(items / PAGE_SIZE) for items in (2 * n, n, n))
        for run in ("first", "steady state"):
            progress(f"inventory refresh of disks and IPs, {run}")
            arm_before = len(arm.requests)
            proxy.reset_counts()
            began = time.monotonic()
            reports = [
                refresh_attached(ledger, sub, lambda sub=sub: list_attached(client, sub), now=utc_now())
                for sub in subscriptions
            ]
            seconds = time.monotonic() - began
            arm_trips = len(arm.requests) - arm_before
            table_trips = sum(proxy.counts().values())
            held = sum(report.held for report in reports)
            bound = pages + SUBSCRIPTIONS * per_subscription
            ok = all(report.failure is None for report in reports) and held == 3 * SUBSCRIPTIONS * n
            results.append(
                Result(
                    f"round trips / inventory refresh, {SUBSCRIPTIONS * n:,} VMs with "
                    f"{2 * SUBSCRIPTIONS * n:,} disks and {SUBSCRIPTIONS * n:,} IPs, {run}",
                    f"{arm_trips + table_trips} ({arm_trips} ARM + {table_trips} Table) in {seconds:.1f} s",
                    f"<= {bound}",
                    PASS if ok and arm_trips + table_trips <= bound else FAIL,
                )
            )
    ledger.table.delete_table()
    notes = [
        f"inventory of disks and IPs: {SUBSCRIPTIONS} subscriptions of {VMS_PER_SUBSCRIPTION:,} VMs, each VM "
        "with 2 managed disks and 1 public IP on its NIC; listing pages of 1,000. Bound: the listing pages "
        "(disks, NICs, IPs) + per subscription 2 x ceil((VMs + 1) / 1000) reads of its rows (before, and "
        "in the rewrite), 1 of its unattached disks and ceil((VMs + 1) / 100) transactions (a row per VM "
        "and the listing time, rewritten each refresh).",
    ]
    return results, notes


def _fill(arm: FakeArm, sub: str) -> None:
    disks, nics, ips = [], [], []
    for index in range(VMS_PER_SUBSCRIPTION):
        group = f"rg-{index % 20:02d}"
        base = f"/subscriptions/{sub}/resourceGroups/{group}/providers"
        vm = f"{base}/Microsoft.Compute/virtualMachines/vm-{index:05d}"
        disks += [
            make_disk(f"{base}/Microsoft.Compute/disks/vm-{index:05d}-os", "Premium_LRS", 128, managed_by=vm),
            make_disk(
                f"{base}/Microsoft.Compute/disks/vm-{index:05d}-data", "StandardSSD_LRS", 256, managed_by=vm
            ),
        ]
        ip = make_public_ip(
            f"{base}/Microsoft.Network/publicIPAddresses/vm-{index:05d}-ip", "Standard", "Static"
        )
        ips.append(ip)
        nics.append(
            make_nic(f"{base}/Microsoft.Network/networkInterfaces/vm-{index:05d}-nic", vm, [ip["id"]])
        )
    arm.set_attached(sub, disks=disks, nics=nics, public_ips=ips)
