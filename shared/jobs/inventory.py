"""Keep each VM's inventory (size, region, OS, priority, tags) from the VM models listing.

Run by the reconcile timer for each subscription, at most once per ``INVENTORY_REFRESH`` (the schedule
is the timer's, ``jobs.refresh``). A listing is applied only when it completed: a failure part way changes
nothing and is logged. Only VMs already in the ledger get inventory, and only when it changed: it never
records a transition or touches billed seconds. The changed rows are merged 100 to an entity group
transaction (a subscription's current rows share a partition), each on the ETag it was read with; a
transaction refused because a row changed since (an event raced) is written again row by row, which counts
the raced row and stores the others. Rows that cannot be written (a transaction, or a row's own merge,
storage fails) are skipped (logged, tried again at the next refresh); the others are still written. A resize
shows from the next refresh on. No transaction begins after the timer step's deadline: what is left is
written by the next run (the step stays due). Uniform scale set instances, which List All does not
return, take their scale set's model (size, OS, priority, licence) and tags from the scale sets listing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TypeVar

from shared.domain.ids import VmId
from shared.domain.inventory import VmSpec
from shared.domain.times import utc_now
from shared.errors import StorageUnavailable
from shared.jobs._observation import listed_vm_of
from shared.sources import ListedModel, ListedScaleSet, ListingError
from shared.store import MAX_INVENTORY_MERGES, CurrentRow, Ledger

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass
class InventoryReport:
    subscription_id: str
    listed: int = 0
    updated: int = 0
    raced: int = 0
    skipped: int = 0  # VMs whose row could not be written
    failure: str | None = None
    disk_owners: dict[str, VmId] = field(default_factory=dict)  # managed disk id (lower case) -> its VM


def refresh_inventory(
    ledger: Ledger,
    subscription_id: str,
    pages: Callable[[], Iterable[list[ListedModel]]],
    *,
    clock: Callable[[], datetime] = utc_now,
    scale_sets: Callable[[], Iterable[list[ListedScaleSet]]] | None = None,
    deadline: float | None = None,
) -> InventoryReport:
    """List the subscription's VM models (and ``scale_sets``, for their Uniform instances), then store
    each known VM's changed inventory; none after ``deadline`` (``time.monotonic()``): the report says
    where it stopped, and the next refresh, listing again, writes only what still differs."""
    report = InventoryReport(subscription_id.lower())
    now = clock()
    try:
        specs = _complete_listing(pages(), report)
        scale_set_specs = _scale_set_specs(scale_sets() if scale_sets else ())
        changed = _changed(ledger.iter_current_rows(report.subscription_id), specs, scale_set_specs)
        for chunk in _chunks(changed, MAX_INVENTORY_MERGES):
            if deadline is not None and time.monotonic() >= deadline:
                report.failure = (
                    f"the deadline came first: stopped at {chunk[0][0].vm.resource_id}, the rest next run"
                )
                break
            _store_chunk(ledger, chunk, now, report)
    except ListingError as err:
        report.failure = f"listing incomplete after {err.pages_read} page(s): {err.message}"
    except StorageUnavailable as err:
        report.failure = f"storage error: {err}"
    level = logging.ERROR if report.failure else logging.WARNING if report.skipped else logging.INFO
    logger.log(
        level,
        "inventory of subscription %s: listed %s, updated %s, raced %s, %s skipped (next refresh): %s",
        report.subscription_id, report.listed, report.updated, report.raced, report.skipped,
        f"FAILED ({report.failure}), previous inventory kept" if report.failure else "ok",
    )  # fmt: skip
    return report


def _changed(
    rows: Iterable[CurrentRow], specs: dict[str, VmSpec], scale_set_specs: dict[str, VmSpec]
) -> Iterator[tuple[CurrentRow, VmSpec]]:
    for row in rows:
        spec = specs.get(row.vm.vm_key) or _instance_spec(row, scale_set_specs)
        if spec is not None and spec != row.profile.spec:
            yield row, spec


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _store_chunk(
    ledger: Ledger, chunk: list[tuple[CurrentRow, VmSpec]], now: datetime, report: InventoryReport
) -> None:
    """One transaction for the chunk; refused whole (a row changed since it was read: an event raced),
    each row alone, which counts the raced one and stores the others."""
    try:
        stored = ledger.update_inventories(chunk, now)
    except StorageUnavailable as err:
        report.skipped += len(chunk)
        logger.warning("inventory of %s VM(s) from %s on not stored (%s); the others go on",
                       len(chunk), chunk[0][0].vm.resource_id, err)  # fmt: skip
        return
    if stored:
        report.updated += len(chunk)
        return
    for row, spec in chunk:
        _store(ledger, row, spec, now, report)


def _store(ledger: Ledger, row: CurrentRow, spec: VmSpec, now: datetime, report: InventoryReport) -> None:
    try:
        stored = ledger.update_inventory(row, spec, now)
    except StorageUnavailable as err:
        report.skipped += 1
        logger.warning("%s: inventory not stored (%s); the other VMs go on", row.vm.resource_id, err)
        return
    if stored:
        report.updated += 1
    else:
        report.raced += 1


def _complete_listing(pages: Iterable[list[ListedModel]], report: InventoryReport) -> dict[str, VmSpec]:
    """Every page read before anything is applied: a listing that fails part way proves nothing."""
    specs: dict[str, VmSpec] = {}
    for page in pages:
        for model in page:
            vm = listed_vm_of(model.resource_id, report.subscription_id, "inventory")
            if vm is None:
                continue
            report.listed += 1
            specs[vm.vm_key] = model.spec
            report.disk_owners.update((disk_id.lower(), vm) for disk_id in model.disk_ids)
    return specs


def _scale_set_specs(pages: Iterable[list[ListedScaleSet]]) -> dict[str, VmSpec]:
    """Each Uniform scale set's instance inventory, by scale set key; every page read first, as above."""
    specs: dict[str, VmSpec] = {}
    for page in pages:
        for listed in page:
            if listed.is_uniform and listed.spec is not None:
                specs[listed.scale_set.key] = listed.spec
    return specs


def _instance_spec(row: CurrentRow, scale_set_specs: dict[str, VmSpec]) -> VmSpec | None:
    scale_set = row.vm.scale_set  # only Uniform instances have one in their id
    return scale_set_specs.get(scale_set.key) if scale_set is not None else None
