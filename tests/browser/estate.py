"""The VMs the browser tests show: a small estate of every kind of state, a scale set, prices."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import function_app
from devtools.events import ACTION_FAILED, WRITE_FAILED, instance_id, vm_id, wire_event
from devtools.worker import event_grid_argument

OTHER_SUB = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
LONG_NAME = "analytics-worker-with-an-exceptionally-long-name-for-the-layout1"  # 64, the most Azure allows


def demo_events(now: datetime) -> list[dict]:
    """A small estate: billed, free, hibernated, stopped, unknown, deleted, old and long-named VMs."""
    hour = now.replace(minute=0, second=0, microsecond=0)

    def ago(days: float = 0, hours: float = 0) -> datetime:
        return hour - timedelta(days=days, hours=hours)

    web1, web2 = vm_id("web-01", "rg-web"), vm_id("web-02", "rg-web")
    db1, batch = vm_id("db-01", "rg-data"), vm_id("batch-old", "rg-data")
    lost, gone = vm_id("lost-01", "rg-ops"), vm_id("temp-01", "rg-ops")
    long, other = vm_id(LONG_NAME, "rg-data"), vm_id("jump-01", "rg-web", subscription=OTHER_SUB)
    return [
        wire_event("write", ago(days=3), resource_id=web1),
        wire_event("powerOff", ago(days=2), resource_id=web1),
        wire_event("deallocate", ago(days=2, hours=-5), resource_id=web1),
        wire_event("start", ago(days=1), resource_id=web1),
        wire_event("write", ago(days=5), resource_id=web2),
        wire_event("deallocate", ago(days=4), resource_id=web2, url_query="&hibernate=true"),
        wire_event("write", ago(days=6), resource_id=db1),
        wire_event("restart", ago(days=2), resource_id=db1, event_type=ACTION_FAILED),
        wire_event("write", ago(days=20), resource_id=batch),
        wire_event("deallocate", ago(days=19), resource_id=batch),
        wire_event("write", ago(days=2), resource_id=lost, event_type=WRITE_FAILED),
        wire_event("write", ago(days=4), resource_id=gone),
        wire_event("delete", ago(days=3), resource_id=gone),
        wire_event("write", ago(days=1, hours=6), resource_id=long),
        wire_event("deallocate", ago(hours=10), resource_id=long),
        wire_event("write", ago(hours=20), resource_id=other),
    ]


def deliver(events: list[dict]) -> None:
    for wire in events:
        function_app.on_vm_event(event_grid_argument(wire))


def price_some(ledger, now: datetime) -> dict[str, str]:
    """Inventory for four VMs (two teams, one untagged) and retail prices for their size; others unpriced."""
    from shared.domain.ids import parse_vm_id
    from shared.domain.inventory import OsType, Priority, VmSpec
    from shared.domain.pricing import HourlyPrice, MeterKind

    teams = {"web-01": "shop", "web-02": "shop", "db-01": "data", LONG_NAME: None}
    groups = {"web-01": "rg-web", "web-02": "rg-web", "db-01": "rg-data", LONG_NAME: "rg-data"}
    for name, team in teams.items():
        row = ledger.get_current(parse_vm_id(vm_id(name, groups[name])))
        tags = {"Team": team} if team else {"owner": "ops"}
        spec = VmSpec("Standard_D2s_v5", "westeurope", OsType.LINUX, None, Priority.REGULAR, tags)
        assert ledger.update_inventory(row, spec, now)
    price = HourlyPrice(Decimal("0.5"), "USD", "D2s v5")
    kind = MeterKind(OsType.LINUX, Priority.REGULAR)
    ledger.prices.save(
        "USD", now, [("westeurope", "Standard_D2s_v5")], {("westeurope", "standard_d2s_v5", kind): price}
    )
    return {name: team for name, team in teams.items()}


def scale_set_estate(now: datetime) -> None:
    """Three instances of ``web-ss`` (created by instance events) and one VM of its own."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    instance_write = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write"
    events = [
        wire_event(
            "write", hour - timedelta(hours=h), resource_id=instance_id(str(n)), operation=instance_write
        )
        for n, h in ((0, 30), (1, 20), (2, 10))
    ]
    deallocate = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action"
    events.append(
        wire_event(
            "deallocate", hour - timedelta(hours=5), resource_id=instance_id("2"), operation=deallocate
        )
    )
    events.append(wire_event("write", hour - timedelta(hours=8), resource_id=vm_id("solo", "rg-app")))
    deliver(events)
