"""Scale set cost: ARM and Table round trips of a reconcile over 100 Uniform scale sets x 100 instances,
and of one scale-set-level event on a set of 100 instances.

The ledger is seeded in its row format with every instance created (100 entities per transaction); the
listings come from the loopback fake ARM (List All, scale set List All, one instance listing per Uniform
set), so ARM round trips are its recorded requests and Table round trips what the counting proxy saw.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from azure.data.tables import TableClient

from bench.harness import FAIL, PASS, Result, ledger_for, new_table, progress
from devtools.fake_arm import FakeArm, make_instance, make_scale_set
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import ScaleSetId
from shared.domain.operations import SUCCEEDED, change_for
from shared.jobs import handle_scale_set_event, reconcile_subscription
from shared.sources import ArmClient, ScaleSetEvent
from shared.store import Ledger
from shared.store.seeding import seed_histories

SUB = "6e8f0a21-3b4c-4d5e-9f60-718293a4b5c6"
SCALE_SETS = 100
INSTANCES = 100
PAGE_SIZE = 100  # instances (and scale sets) per listing page
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
OBSERVED = datetime(2026, 11, 2, 0, 5, tzinfo=UTC)
EVENT_TIME = datetime(2026, 11, 2, 0, 10, tzinfo=UTC)  # after the reconciles: it explains what it finds


def scale_set_cost(proxy) -> tuple[list[Result], list[str]]:  # type: ignore[no-untyped-def]
    ledger = ledger_for(proxy.connection_string, new_table("benchvmss"))
    sets = [
        make_scale_set(SUB, "rg-fleet", f"ss{index:03d}", capacity=INSTANCES) for index in range(SCALE_SETS)
    ]
    progress(f"seeding {SCALE_SETS} scale sets x {INSTANCES} instances")
    seed_instances(ledger, SUB, sets, connection_string=proxy.connection_string)
    total = SCALE_SETS * INSTANCES
    results: list[Result] = []
    for changed_share in (0.0, 0.01):
        entries = [_entry(scale_set, changed_share) for scale_set in sets]
        with FakeArm({SUB: []}, scale_sets={SUB: entries}, page_size=PAGE_SIZE) as fake:
            client = ArmClient(fake.url, "2024-07-01", retry_total=0)
            cold = Ledger(ledger.table, ledger.policy, cache_size=0)
            proxy.reset_counts()
            report = reconcile_subscription(cold, SUB, client.iter_fleet_pages(SUB), clock=lambda: OBSERVED)
            arm, table = len(fake.requests), proxy.total()
        if report.failure or report.listed != total:
            raise RuntimeError(f"scale set benchmark run failed: {report.summary()}")
        # Each set's instances are one listing page: its unchanged ones are one transaction of confirmations.
        confirm_batches = sum(math.ceil((INSTANCES - _changed(entry)) / 100) for entry in entries)
        bound = arm + math.ceil(total / 1000) + 2 * report.changed + confirm_batches
        results.append(
            Result(f"reconcile {SCALE_SETS} scale sets x {INSTANCES} instances, {changed_share:.0%} changed",
                   f"{arm + table} ({arm} ARM + {table} Table, of which {confirm_batches} confirming "
                   f"{report.confirmed:,} unchanged)", f"<= {bound}",
                   PASS if arm + table <= bound and arm == 2 + SCALE_SETS * math.ceil(INSTANCES / PAGE_SIZE)
                   else FAIL)
        )  # fmt: skip
    results.append(_one_event(proxy, ledger, sets[1]))
    ledger.table.delete_table()
    notes = [
        f"scale sets: {SCALE_SETS} Uniform sets of {INSTANCES} instances, listing pages of {PAGE_SIZE}; "
        "ARM round trips = 1 List All page + scale set pages + instance pages per set, all recorded by "
        "the fake; the Table bound is ceil(instances/1000) range reads + 2 x changed + one transaction of "
        "confirmation rows per 100 unchanged instances of a page, as for VMs.",
        "scale-set event: one deallocate on a set of 100 with 10 instances listed deallocated (after the "
        "reconcile runs above); round trips = instance pages + 1 range read of the set's rows + 1 write per "
        "changed instance (the range read gives each row's ETag, so no point reads).",
    ]
    return results, notes


def _one_event(proxy, ledger: Ledger, scale_set: dict) -> Result:  # type: ignore[no-untyped-def]
    listed = [make_instance(scale_set, str(n), power="deallocated" if n < 10 else "running")
              for n in range(INSTANCES)]  # fmt: skip
    target = ScaleSetId(SUB, "rg-fleet", scale_set["name"])
    event = ScaleSetEvent("bench-event", "Microsoft.Resources.ResourceActionSuccess", target, EVENT_TIME,
                          "Microsoft.Compute/virtualMachineScaleSets/deallocate/action",
                          "deallocate/action", SUCCEEDED, False)  # fmt: skip
    with FakeArm({SUB: []}, scale_sets={SUB: [{"scaleSet": scale_set, "instances": listed}]},
                 page_size=PAGE_SIZE) as fake:  # fmt: skip
        cold = Ledger(ledger.table, ledger.policy, cache_size=0)
        proxy.reset_counts()
        _, report = handle_scale_set_event(event, cold, ArmClient(fake.url, "2024-07-01", retry_total=0))
        arm, table = len(fake.requests), proxy.total()
    changed = report.at_event_time + report.at_listing_time
    bound = math.ceil(INSTANCES / PAGE_SIZE) + 1 + changed
    return Result(f"scale-set deallocate event, {INSTANCES} instances, {changed} changed",
                  f"{arm + table} ({arm} ARM + {table} Table)", f"<= {bound}",
                  PASS if arm + table <= bound and report.at_event_time == 10 else FAIL)  # fmt: skip


def _changed(entry: dict) -> int:
    """Instances listed in another power state than the seeded one (running)."""
    return sum(
        any(status["code"].startswith("PowerState/") and status["code"] != "PowerState/running"
            for status in instance["properties"]["instanceView"]["statuses"])
        for instance in entry["instances"]
    )  # fmt: skip


def _entry(scale_set: dict, changed_share: float) -> dict:
    every = int(1 / changed_share) if changed_share else 0
    instances = [make_instance(scale_set, str(n), power="stopped" if every and n % every == 0 else "running")
                 for n in range(INSTANCES)]  # fmt: skip
    return {"scaleSet": scale_set, "instances": instances}


def seed_instances(ledger: Ledger, subscription: str, sets: list[dict], *, connection_string: str) -> None:
    """Every instance of ``sets`` (``sku.capacity`` of them, ids 0..n-1) created at ``CREATED``, running."""
    # The SDK's default timeouts, not the app's 10 s: Azurite's batches slow down as one partition grows.
    table = TableClient.from_connection_string(connection_string, ledger.table.table_name)
    change = change_for("write", SUCCEEDED)
    histories = [
        [NewTransition(ScaleSetId(subscription, "rg-fleet", scale_set["name"]).instance(str(n)), CREATED,
                       change, ResourceEvent(f"seed-{scale_set['name']}-{n}", "seed"))]
        for scale_set in sets for n in range(scale_set["sku"]["capacity"])
    ]  # fmt: skip
    seed_histories(table, ledger.policy, histories)
