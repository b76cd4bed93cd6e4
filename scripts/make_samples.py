"""Regenerate ``samples/``: a day of ARM events for one subscription, the List All the demo serves (status
and models: size, OS, priority, tags), and the retail prices its fake prices API serves.

Events are built with azure-eventgrid's models (see ``devtools/events.py``) in delivery order: a
duplicate, an out-of-order start, an extension event and a storage event (both skipped), a hibernate,
both schemas; ``report-01`` is powered off two hours before the day ends (stopped, still billed). The
listing adds what no event told: ``web-02`` was shut down from inside the guest and
``legacy-app`` and ``archive-01`` were created before the tool was deployed; the Activity Log (records in
the published shape, Started/Accepted/Succeeded) has their history: ``legacy-app`` created 60 days before
the sample day, ``archive-01`` created 70 days before and deallocated 40 days before.

A small Uniform scale set ``web-ss`` has a day of its own (``scale-set-day.json``: each scale-set event
with the instances a listing returns after it): created with two instances, scaled out to four, two of
them deallocated by one scale-set action, then scaled in to two. ``scale-sets.json`` is what the fake ARM
lists at the end, where instance 1 was shut down from inside its guest (no event: reconcile finds it).

``attached.json`` is what the VMs keep (disks, NICs, public IPs): ``archive-01`` a Premium disk and a
Standard IP while deallocated, and the deleted ``old-build`` an unattached disk.

    python -m scripts.make_samples
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path

from devtools.events import ACTION_FAILED, SUB, T0, at, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import make_instance, make_scale_set, make_vm, operation_records
from devtools.fake_arm.attached import make_disk, make_nic, make_public_ip
from devtools.fake_prices import meter
from devtools.fake_prices.items import attached_catalogue

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def day_of_events() -> list[dict]:
    seeds = (f"samples/events-day/{index}" for index in itertools.count())

    def event(verb: str, when: datetime, **options) -> dict:
        """Ids come from a fixed seed per event, so the files only change when the day does."""
        return wire_event(verb, when, seed=next(seeds), **options)

    web1, web2 = vm_id("web-01", "rg-shop"), vm_id("web-02", "rg-shop")
    batch, db, old = vm_id("batch-07", "rg-data"), vm_id("db-01", "rg-data"), vm_id("old-build", "rg-ci")
    report = vm_id("report-01", "rg-data")
    power_off = event("powerOff", at(hours=9), resource_id=web1)
    late_start = event("start", at(hours=9), resource_id=db)
    storage = (
        f"/subscriptions/{SUB}/resourceGroups/rg-shop/providers/Microsoft.Storage/storageAccounts/shoplogs"
    )
    return [
        event("write", at(hours=6), resource_id=web1),
        event("write", at(hours=6, minutes=5), resource_id=web2, schema="CloudEvents"),
        event("write", at(hours=6), resource_id=db),
        event("write", at(hours=6), resource_id=old),
        event("write", at(hours=7), resource_id=batch),
        event("write", at(hours=7, minutes=1), resource_id=f"{web1}/extensions/CustomScript",
                   operation="Microsoft.Compute/virtualMachines/extensions/write"),
        event("write", at(hours=7, minutes=2), resource_id=storage,
                   operation="Microsoft.Storage/storageAccounts/write"),
        event("deallocate", at(hours=8), resource_id=db),
        power_off,
        power_off,  # Event Grid delivers at least once
        event("start", at(hours=9, minutes=30), resource_id=web1),
        event("restart", at(hours=10), resource_id=db, event_type=ACTION_FAILED),
        late_start,  # reached 09:00, delivered after the 10:00 failure
        event("deallocate", at(hours=11), resource_id=batch, url_query="&hibernate=true"),
        event("deallocate", at(hours=12), resource_id=web2, schema="CloudEvents"),
        event("start", at(hours=13), resource_id=web2, schema="CloudEvents"),
        event("write", at(hours=6, minutes=30), resource_id=report),
        event("powerOff", at(hours=12), resource_id=report),  # stopped, still billed, when the day ends
        event("delete", at(hours=14), resource_id=old),
    ]  # fmt: skip


def listing() -> dict[str, list[dict]]:
    shop, data = {"team": "shop", "env": "prod"}, {"team": "data", "env": "prod"}
    d2, d4, e4 = "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E4s_v5"
    return {
        SUB: [
            make_vm(SUB, "rg-shop", "web-01", power="running", vm_size=d2, tags=shop),
            # shut down inside the guest
            make_vm(SUB, "rg-shop", "web-02", power="stopped", vm_size=d2, os_type="Windows", tags=shop),
            make_vm(SUB, "rg-data", "batch-07", power="deallocated", hibernated=True, vm_size=d4,
                    priority="Spot", tags=data),
            make_vm(SUB, "rg-data", "db-01", power="running", vm_size=e4, tags=data),
            make_vm(SUB, "rg-data", "report-01", power="stopped", vm_size=d2, tags=data),
            # never seen in an event, and no tag; Windows under Hybrid Benefit
            make_vm(SUB, "rg-legacy", "legacy-app", power="running", vm_size=d2, os_type="Windows",
                    license_type="Windows_Server"),
            # deallocated before the tool
            make_vm(SUB, "rg-legacy", "archive-01", power="deallocated", vm_size=d4, tags=data),
        ]
    }  # fmt: skip


def retail_prices() -> list[dict]:
    """What the demo's fake Retail Prices API serves: invented round prices in published item shapes."""
    return [
        meter("westeurope", "Standard_D2s_v5", "0.096"),
        meter("westeurope", "Standard_D2s_v5", "0.188", windows=True),
        meter("westeurope", "Standard_D2s_v5", "0.0192", spot=True),
        meter("westeurope", "Standard_D2s_v5", "300", price_type="Reservation", reservation_term="1 Year"),
        meter("westeurope", "Standard_D2ls_v5", "0.085"),  # the scale set's instances
        meter("westeurope", "Standard_D4s_v5", "0.192"),
        meter("westeurope", "Standard_D4s_v5", "0.0384", spot=True),
        meter("westeurope", "Standard_E4s_v5", "0.252"),
        meter("westeurope", "Standard_E4s_v5", "0.1", price_type="DevTestConsumption"),
        *attached_catalogue("westeurope"),  # disks and public IPs, with the Mount/Operations/ZRS decoys
    ]


def attached() -> dict[str, dict[str, list[dict]]]:
    """What the VMs keep (Disks - List, Network Interfaces - List All, Public IP Addresses - List All):
    ``archive-01``, deallocated for 40 days, still has a Premium disk and a Standard static IP; the deleted
    ``old-build`` left its OS disk behind, unattached."""

    def rid(group: str, provider: str, name: str) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{provider}/{name}"

    def disk(group: str, name: str, sku: str, size: int, vm: str | None, created: datetime, **more) -> dict:
        return make_disk(rid(group, "Microsoft.Compute/disks", name), sku, size, managed_by=vm,
                         created=created.isoformat(), location="westeurope", **more)  # fmt: skip

    archive, web1, db = (
        vm_id("archive-01", "rg-legacy"),
        vm_id("web-01", "rg-shop"),
        vm_id("db-01", "rg-data"),
    )
    archive_ip = make_public_ip(rid("rg-legacy", "Microsoft.Network/publicIPAddresses", "archive-ip"),
                                "Standard", "Static", location="westeurope")  # fmt: skip
    web_ip = make_public_ip(rid("rg-shop", "Microsoft.Network/publicIPAddresses", "web-ip"), "Standard",
                            "Static", location="westeurope")  # fmt: skip
    return {
        SUB: {
            "disks": [
                disk("rg-legacy", "archive-01-os", "Premium_LRS", 128, archive, T0 - timedelta(days=70)),
                disk("rg-shop", "web-01-os", "Premium_LRS", 64, web1, at(hours=6)),
                disk("rg-data", "db-01-data", "Premium_LRS", 512, db, at(hours=6), tier="P30"),
                disk("rg-ci", "old-build-os", "StandardSSD_LRS", 128, None, at(hours=6)),
            ],
            "networkInterfaces": [
                make_nic(
                    rid("rg-legacy", "Microsoft.Network/networkInterfaces", "archive-nic"),
                    archive,
                    [archive_ip["id"]],
                    location="westeurope",
                ),
                make_nic(
                    rid("rg-shop", "Microsoft.Network/networkInterfaces", "web-nic"),
                    web1,
                    [web_ip["id"]],
                    location="westeurope",
                ),
            ],  # fmt: skip
            "publicIPAddresses": [archive_ip, web_ip],
        }
    }


def activity_log() -> dict[str, list[dict]]:
    """What the Activity Log knows of the VMs that predate the tool (times relative to the sample day)."""
    legacy, archive = vm_id("legacy-app", "rg-legacy"), vm_id("archive-01", "rg-legacy")
    prefix = "Microsoft.Compute/virtualMachines/"
    return {
        SUB: [
            *operation_records(legacy, prefix + "write", T0 - timedelta(days=60), seed="samples/legacy/w"),
            *operation_records(archive, prefix + "write", T0 - timedelta(days=70), seed="samples/archive/w"),
            *operation_records(
                archive, prefix + "deallocate/action", T0 - timedelta(days=40), seed="samples/archive/d"
            ),
        ]
    }


SCALE_SET = make_scale_set(SUB, "rg-shop", "web-ss", capacity=2, tags={"team": "shop", "env": "prod"})


def _instances(**powers: str) -> list[dict]:
    return [make_instance(SCALE_SET, name[1:], power=power) for name, power in powers.items()]


def scale_set_day() -> list[dict]:
    """Each scale-set event with the instances listed after it, in delivery order."""
    seeds = (f"samples/scale-set-day/{index}" for index in itertools.count())
    target = scale_set_id("web-ss", "rg-shop")

    def event(verb: str, when: datetime) -> dict:
        return wire_event(
            verb, when, resource_id=target, operation=scale_set_operation(verb), seed=next(seeds)
        )

    running = "running"
    return [
        {"event": event("write", at(hours=6, minutes=30)), "instances": _instances(i0=running, i1=running)},
        {"event": event("write", at(hours=8)),  # scaled out
         "instances": _instances(i0=running, i1=running, i2=running, i3=running)},
        {"event": event("deallocate", at(hours=11)),  # with instanceIds [2, 3] in its body, not in the event
         "instances": _instances(i0=running, i1=running, i2="deallocated", i3="deallocated")},
        {"event": event("write", at(hours=13, minutes=30)),  # scaled in: 2 and 3 removed
         "instances": _instances(i0=running, i1=running)},
    ]  # fmt: skip


def scale_set_listing() -> dict[str, list[dict]]:
    return {SUB: [{"scaleSet": SCALE_SET, "instances": _instances(i0="running", i1="stopped")}]}


def sample_files() -> dict[str, str]:
    """File name -> content. Deterministic: no random ids, no clock; running it twice gives the same."""
    events = day_of_events()
    return {
        "events-day.json": _json(events),
        "one-event.json": _json(events[:1]),  # what test.http posts to the local trigger
        "list-all.json": _json(listing()),
        "scale-set-day.json": _json(scale_set_day()),
        "scale-sets.json": _json(scale_set_listing()),
        "activity-log.json": _json(activity_log()),
        "retail-prices.json": _json(retail_prices()),
        "attached.json": _json(attached()),
    }


def _json(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


def main() -> None:
    SAMPLES.mkdir(exist_ok=True)
    for name, text in sample_files().items():
        (SAMPLES / name).write_text(text)
    print(f"wrote {', '.join(sample_files())} to {SAMPLES} (sample day {T0.date()})")


if __name__ == "__main__":
    main()
