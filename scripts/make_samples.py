"""Regenerate ``samples/``: a day of ARM events for one subscription, the List All the demo serves (status
and models: size, OS, priority, tags), and the retail prices its fake prices API serves.

Events are built with azure-eventgrid's models (see ``devtools/events.py``) in delivery order: a
duplicate, an out-of-order start, an extension event and a storage event (both skipped), a hibernate,
both schemas. The listing adds what no event told: ``web-02`` was shut down from inside the guest and
``legacy-app`` and ``archive-01`` were created before the tool was deployed; the Activity Log (records in
the published shape, Started/Accepted/Succeeded) has their history: ``legacy-app`` created 60 days before
the sample day, ``archive-01`` created 70 days before and deallocated 40 days before.

A small Uniform scale set ``web-ss`` has a day of its own (``scale-set-day.json``: each scale-set event
with the instances a listing returns after it): created with two instances, scaled out to four, two of
them deallocated by one scale-set action, then scaled in to two. ``scale-sets.json`` is what the fake ARM
lists at the end, where instance 1 was shut down from inside its guest (no event: reconcile finds it).

    python -m scripts.make_samples
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path

from devtools.events import ACTION_FAILED, SUB, T0, at, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import make_instance, make_scale_set, make_vm, operation_records
from devtools.fake_prices import meter

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def day_of_events() -> list[dict]:
    seeds = (f"samples/events-day/{index}" for index in itertools.count())

    def event(verb: str, when: datetime, **options) -> dict:
        """Ids come from a fixed seed per event, so the files only change when the day does."""
        return wire_event(verb, when, seed=next(seeds), **options)

    web1, web2 = vm_id("web-01", "rg-shop"), vm_id("web-02", "rg-shop")
    batch, db, old = vm_id("batch-07", "rg-data"), vm_id("db-01", "rg-data"), vm_id("old-build", "rg-ci")
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
    ]


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
