"""Keep what each VM holds (managed disks, public IPs) and the subscription's unattached disks.

Run by the timer's inventory step for each subscription, right after the VM models, on the same schedule.
The three listings are read whole first (``sources.list_attached``); a listing that stops part way changes
nothing. Each disk or IP a VM holds is kept with since when: a disk from its ``timeCreated`` when the VM's
first listing shows it, else from the previous listing (it was attached in between; its creation time when
later); a public IP, which has no creation time, from the first listing that showed it. One no longer
listed with the VM is kept as let go at this listing, for a year (answers over past windows still count it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.attached import DiskSpec, Held, PublicIpSpec, VmAttachments
from shared.errors import StorageUnavailable
from shared.sources import AttachedListing, ListingError
from shared.store import Ledger, UnattachedDisk

logger = logging.getLogger(__name__)

KEPT_AFTER_RELEASE = timedelta(days=366)  # the longest window an answer covers (``MAX_WINDOW``)


@dataclass
class AttachedReport:
    subscription_id: str
    vms: int = 0
    held: int = 0
    unattached: int = 0
    failure: str | None = None


def refresh_attached(
    ledger: Ledger, subscription_id: str, listing: Callable[[], AttachedListing], *, now: datetime
) -> AttachedReport:
    """List the subscription's disks, NICs and public IPs, then rewrite its rows in the ``attached`` store."""
    report = AttachedReport(subscription_id.lower())
    try:
        listed = listing()
        previous = ledger.attached.load_subscription(report.subscription_id)
        seen_unattached = {
            item.disk.resource_id.lower(): item for item in ledger.attached.unattached(report.subscription_id)
        }
        rows: dict[str, VmAttachments] = {}
        for key in sorted(set(listed.disks) | set(listed.ips) | set(previous)):
            items: list[DiskSpec | PublicIpSpec] = [*listed.disks.get(key, []), *listed.ips.get(key, [])]
            merged = merge_held(previous.get(key), items, now)
            if merged.held:
                rows[key] = merged
                report.held += sum(1 for held in merged.held if held.until is None)
        unattached = [
            UnattachedDisk(
                disk, seen.since if (seen := seen_unattached.get(disk.resource_id.lower())) else now
            )
            for disk in listed.unattached
        ]
        ledger.attached.save_subscription(report.subscription_id, rows, unattached, now)
        report.vms, report.unattached = len(rows), len(unattached)
    except ListingError as err:
        report.failure = f"listing incomplete after {err.pages_read} page(s): {err.message}"
    except StorageUnavailable as err:
        report.failure = f"storage error: {err}"
    (logger.error if report.failure else logger.info)(
        "disks and IPs of subscription %s: %s VM(s), %s held, %s unattached disk(s): %s",
        report.subscription_id, report.vms, report.held, report.unattached,
        f"FAILED ({report.failure}), previous kept" if report.failure else "ok",
    )  # fmt: skip
    return report


def merge_held(
    previous: VmAttachments | None, listed: list[DiskSpec | PublicIpSpec], now: datetime
) -> VmAttachments:
    """What a VM holds after this listing: the listed items with since when, and those let go."""
    open_before = (
        {held.item.resource_id.lower(): held for held in previous.held if held.until is None}
        if previous
        else {}
    )
    held: list[Held] = []
    listed_ids = set()
    for item in listed:
        item_id = item.resource_id.lower()
        listed_ids.add(item_id)
        before = open_before.get(item_id)
        held.append(Held(item, before.since if before else _since(item, previous, now)))
    for item_id, before in open_before.items():
        if item_id not in listed_ids:
            held.append(Held(before.item, before.since, now))
    if previous is not None:
        held += [h for h in previous.held if h.until is not None and now - h.until <= KEPT_AFTER_RELEASE]
    return VmAttachments(tuple(held), now)


def _since(item: DiskSpec | PublicIpSpec, previous: VmAttachments | None, now: datetime) -> datetime:
    created = item.created if isinstance(item, DiskSpec) else None
    if previous is None:
        return created or now
    if created is not None:
        return max(created, previous.listed_at)
    return now
