"""Bytes stored per transition, by Azure's entity size formula, for the rows recording a month writes.

Azure Table Storage bills an entity as (Learn, "Understanding the Table service data model", *Estimate the
size of an entity*; the same formula in Microsoft's "How the size of an entity is calculated"):
``4 + 2 x (len(PartitionKey) + len(RowKey)) + for each property (8 + 2 x len(name) + size of its value)``,
a string's value being ``4 + 2 x`` its UTF-16 length, a bool 1 byte, an Int32 4, an Int64, a Double or a
DateTime 8. A transition costs its own row, its entry in the VM's month row and its share of the VM's day
rows; the current and confirmation rows are per VM, not per transition, and are reported apart.

The workload (``workload``) is a month of three VMs with long, realistic names, four to five transitions a
day from every source (events, Activity Log records, reconcile listings, health annotations), written as
recording them in time order would (``shared.store.seeding``). ``--capture FILE`` writes the entities the
code writes now; ``tests/data/stored_rows_51ef880.json`` is that capture made at commit 51ef880, before
the entities were made compact: the run sizes it beside the rows the code writes today (the "before"
figure is measured from those captured rows, never typed in), and ``tests/test_compact_rows.py`` reads the
same rows back with today's code.

    python -m bench.storage_size                      # the table of bytes
    python -m bench.storage_size --capture rows.json  # the entities the code writes now
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import FAIL, INFO, PASS, Result
from shared.domain.evidence import (
    ActivityLogRecord,
    Evidence,
    HealthAnnotation,
    ListingObservation,
    NewTransition,
    ResourceEvent,
)
from shared.domain.health import Cause
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.vm_state import BillingPolicy
from shared.store.seeding import seed_histories

CAPTURED = Path(__file__).resolve().parent.parent / "tests" / "data" / "stored_rows_51ef880.json"
SUBSCRIPTION = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
_PREFIX = "Microsoft.Compute/virtualMachines/"


def _vms() -> list[VmId]:
    return [
        VmId(SUBSCRIPTION, "rg-payments-prod-westeurope", f"vm-payments-api-prod-{index:03d}")
        for index in range(1, 4)
    ]


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(str(part) for part in parts)))


def _event(vm: VmId, at: datetime, suffix: str) -> NewTransition:
    event_type = (
        "Microsoft.Resources.ResourceWriteSuccess"
        if suffix == "write"
        else ("Microsoft.Resources.ResourceActionSuccess")
    )
    evidence = ResourceEvent(_guid(vm.name, at, "event"), _PREFIX + suffix, event_type, _guid(vm.name, at))
    return NewTransition(vm, at, change_for(suffix, SUCCEEDED), evidence)


def _other(vm: VmId, at: datetime, suffix: str, evidence: Evidence) -> NewTransition:
    return NewTransition(vm, at, change_for(suffix, SUCCEEDED), evidence)


def workload() -> list[list[NewTransition]]:
    """Each VM's month in time order: created, then started at 08:00 and deallocated at 18:00 each day (an
    Activity Log record every fifth day), shut down from inside the guest every seventh day (found by a
    health annotation, then confirmed by a reconcile listing that starts nothing) ."""
    histories = []
    for vm in _vms():
        history = [_event(vm, MONTH_START + timedelta(hours=7), "write")]
        for day in range(DAYS):
            morning = MONTH_START + timedelta(days=day, hours=8)
            evening = MONTH_START + timedelta(days=day, hours=18)
            history.append(_event(vm, morning, "start/action"))
            if day % 7 == 3:
                shutdown = morning + timedelta(hours=3)
                cause = HealthAnnotation(
                    _guid(vm.name, shutdown, "health"),
                    "health/ResourceAnnotated/VirtualMachineStoppedInternally",
                    Cause.GUEST_SHUTDOWN,
                    "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
                )
                history.append(_other(vm, shutdown, "powerOff/action", cause))
                listed = shutdown + timedelta(minutes=15)
                listing_id = f"reconcile-{listed:%Y-%m-%dT%H:%M:%S.%fZ}-{_guid(vm.name)[:16]}"
                listing = ListingObservation(listing_id, "reconcile/listAll", shutdown)
                history.append(_other(vm, listed, "start/action", listing))
            if day % 5 == 1:
                record = ActivityLogRecord(_guid(vm.name, evening, "al"), _PREFIX + "deallocate/action",
                                           _guid(vm.name, evening))  # fmt: skip
                history.append(_other(vm, evening, "deallocate/action", record))
            else:
                history.append(_event(vm, evening, "deallocate/action"))
        histories.append(history)
    return histories


class _CapturingTable:
    """Takes the writes ``seed_histories`` makes, as the table would hold them (upserts merge)."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}

    def submit_transaction(self, operations: Iterable[Sequence[Any]]) -> None:
        for operation in operations:
            self.upsert_entity(operation[1])

    def upsert_entity(self, entity: Mapping[str, Any], **_: Any) -> None:
        key = (entity["PartitionKey"], entity["RowKey"])
        self.entities.setdefault(key, {}).update(entity)


def written_entities() -> list[dict[str, Any]]:
    """The entities today's code writes for ``workload``, in key order."""
    table = _CapturingTable()
    seed_histories(table, BillingPolicy.parse(None), workload())  # type: ignore[arg-type]
    return [table.entities[key] for key in sorted(table.entities)]


# ---- Azure's entity size formula ---------------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def value_size(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    if isinstance(value, float | datetime):
        return 8
    if isinstance(value, bytes):
        return 4 + len(value)
    if isinstance(value, str):
        return 4 + 2 * _utf16(value)
    raise TypeError(f"no size for {type(value).__name__}")


def entity_size(entity: Mapping[str, Any]) -> int:
    """Bytes Azure counts for ``entity`` (its Timestamp is in the 4 bytes of overhead)."""
    keys = 2 * (_utf16(entity["PartitionKey"]) + _utf16(entity["RowKey"]))
    properties = sum(
        8 + 2 * _utf16(name) + value_size(value)
        for name, value in entity.items()
        if name not in ("PartitionKey", "RowKey")
    )
    return 4 + keys + properties


def _kind(entity: Mapping[str, Any]) -> str:
    prefix = entity["RowKey"][:3]
    return {"tx|": "transition", "mo|": "month", "dy|": "day", "vm|": "current"}.get(prefix, "other")


def sizes(entities: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Kind of row -> (rows, bytes)."""
    found: dict[str, tuple[int, int]] = {}
    for entity in entities:
        rows, total = found.get(_kind(entity), (0, 0))
        found[_kind(entity)] = (rows + 1, total + entity_size(entity))
    return found


def per_transition(found: Mapping[str, tuple[int, int]]) -> float:
    """Bytes per transition: its row, its month-row entry and its share of the day rows."""
    transitions = found["transition"][0]
    return sum(found.get(kind, (0, 0))[1] for kind in ("transition", "month", "day")) / transitions


def captured() -> list[dict[str, Any]]:
    return list(_lines(CAPTURED))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    yield from document["entities"]


# ---- the bench's lines -------------------------------------------------------------------------------


def storage_size() -> tuple[list[Result], list[str]]:
    before, now = sizes(captured()), sizes(written_entities())
    transitions = now["transition"][0]
    if before["transition"][0] != transitions:
        raise RuntimeError("the captured rows are not the workload's: capture them again")
    was, is_now = per_transition(before), per_transition(now)
    results = [Result("stored bytes per transition (row + month entry + day rows), before (51ef880)",
                      f"{was:,.0f}")]  # fmt: skip
    results.append(
        Result(
            "stored bytes per transition, now",
            f"{is_now:,.0f} ({is_now / was:.2f}x)",
            "< 0.5x",
            PASS if is_now < was / 2 else FAIL,
        )  # fmt: skip
    )
    for kind in ("transition", "month", "day", "current"):
        rows_before, bytes_before = before.get(kind, (0, 0))
        rows_now, bytes_now = now.get(kind, (0, 0))
        results.append(
            Result(
                f"  {kind} rows: bytes a row, before -> now",
                f"{bytes_before / max(rows_before, 1):,.0f} -> {bytes_now / max(rows_now, 1):,.0f}",
                "-",
                INFO,
            )  # fmt: skip
        )
    notes = [
        f"storage: {transitions} transitions of {len(_vms())} VMs over {DAYS} days (every source), sized by "
        "Azure's entity size formula; 'before' from the rows captured at 51ef880 "
        f"({CAPTURED.name}), 'now' from the rows this code writes for the same transitions."
    ]
    return results, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_size", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", type=Path, help="write the entities this code writes to this file")
    args = parser.parse_args(argv)
    if args.capture:
        entities = written_entities()
        lines = ",\n".join(json.dumps(entity, sort_keys=True) for entity in entities)
        about = "Entities written for bench.storage_size's workload, captured by its --capture."
        args.capture.write_text(f'{{"_about": {json.dumps(about)},\n"entities": [\n{lines}\n]}}\n',
                                encoding="utf-8")  # fmt: skip
        return 0
    results, notes = storage_size()
    for result in results:
        print(f"{result.measure:<80} {result.value:>18}  {result.target:>7}  {result.verdict}")
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
