"""Regenerate ``samples/``: a day of ARM events for one subscription and the List All the demo serves.

Events are built with azure-eventgrid's models (see ``tests/factories.py``) in delivery order: a
duplicate, an out-of-order start, an extension event and a storage event (both skipped), a hibernate,
both schemas. The listing adds what no event told: ``web-02`` was shut down from inside the guest and
``legacy-app`` was created before the tool was deployed.

    python -m scripts.make_samples
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.factories import ACTION_FAILED, SUB, T0, at, vm_id, wire_event
from tests.fake_arm import make_vm

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def day_of_events() -> list[dict]:
    web1, web2 = vm_id("web-01", "rg-shop"), vm_id("web-02", "rg-shop")
    batch, db, old = vm_id("batch-07", "rg-data"), vm_id("db-01", "rg-data"), vm_id("old-build", "rg-ci")
    power_off = wire_event("powerOff", at(hours=9), resource_id=web1)
    late_start = wire_event("start", at(hours=9), resource_id=db)
    storage = (
        f"/subscriptions/{SUB}/resourceGroups/rg-shop/providers/Microsoft.Storage/storageAccounts/shoplogs"
    )
    return [
        wire_event("write", at(hours=6), resource_id=web1),
        wire_event("write", at(hours=6, minutes=5), resource_id=web2, schema="CloudEvents"),
        wire_event("write", at(hours=6), resource_id=db),
        wire_event("write", at(hours=6), resource_id=old),
        wire_event("write", at(hours=7), resource_id=batch),
        wire_event("write", at(hours=7, minutes=1), resource_id=f"{web1}/extensions/CustomScript",
                   operation="Microsoft.Compute/virtualMachines/extensions/write"),
        wire_event("write", at(hours=7, minutes=2), resource_id=storage,
                   operation="Microsoft.Storage/storageAccounts/write"),
        wire_event("deallocate", at(hours=8), resource_id=db),
        power_off,
        power_off,  # Event Grid delivers at least once
        wire_event("start", at(hours=9, minutes=30), resource_id=web1),
        wire_event("restart", at(hours=10), resource_id=db, event_type=ACTION_FAILED),
        late_start,  # reached 09:00, delivered after the 10:00 failure
        wire_event("deallocate", at(hours=11), resource_id=batch, url_query="&hibernate=true"),
        wire_event("deallocate", at(hours=12), resource_id=web2, schema="CloudEvents"),
        wire_event("start", at(hours=13), resource_id=web2, schema="CloudEvents"),
        wire_event("delete", at(hours=14), resource_id=old),
    ]  # fmt: skip


def listing() -> dict[str, list[dict]]:
    return {
        SUB: [
            make_vm(SUB, "rg-shop", "web-01", power="running"),
            make_vm(SUB, "rg-shop", "web-02", power="stopped"),  # shut down inside the guest
            make_vm(SUB, "rg-data", "batch-07", power="deallocated", hibernated=True),
            make_vm(SUB, "rg-data", "db-01", power="running"),
            make_vm(SUB, "rg-legacy", "legacy-app", power="running"),  # never seen in an event
        ]
    }


def main() -> None:
    SAMPLES.mkdir(exist_ok=True)
    (SAMPLES / "events-day.json").write_text(json.dumps(day_of_events(), indent=2) + "\n")
    (SAMPLES / "list-all.json").write_text(json.dumps(listing(), indent=2) + "\n")
    print(f"wrote {SAMPLES}/events-day.json and list-all.json (sample day {T0.date()})")


if __name__ == "__main__":
    main()
