"""``unattachedDisk`` findings: the managed disks no VM owns, from the inventory's unattached disks, each with
its monthly cost at the cached rates and since when it is unattached (as the ledger first listed it so).

Paged by a cursor of their own (``<subscription>/disk|<id hash>``), after every VM finding: one range query
per subscription and 1,000 disks, plus one for the rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.answers.paging import Page
from shared.domain.attached import Held, VmAttachments
from shared.domain.attached_pricing import AttachedCost, Rate, attached_cost
from shared.domain.findings import Finding, Thresholds, unattached_disk
from shared.store import Ledger, UnattachedDisk, disk_cursor, split_disk_cursor


@dataclass(frozen=True)
class DiskFinding:
    subscription_id: str
    disk: UnattachedDisk
    finding: Finding
    cost: AttachedCost  # ``monthly``: what the disk costs a month now


def disk_findings_page(
    ledger: Ledger,
    subscription_id: str | None,
    resource_group: str | None,
    *,
    thresholds: Thresholds,
    top: int,
    after: str | None,
    as_of: datetime,
    currency: str,
) -> Page[DiskFinding]:
    """Up to ``top`` unattached disks after the cursor ``after`` (subscription, then key order)."""
    after_subscription, after_key = split_disk_cursor(after) if after else ("", "")
    subscriptions = [subscription_id.lower()] if subscription_id else sorted(ledger.list_subscriptions())
    stored = ledger.prices.load_rates(currency)
    rates = stored.regions if stored else None
    items: list[DiskFinding] = []
    for subscription in subscriptions:
        if subscription < after_subscription:
            continue
        disks = sorted(
            ledger.attached.unattached(subscription), key=lambda item: disk_cursor(subscription, item)
        )
        for item in disks:
            cursor = disk_cursor(subscription, item)
            if after and cursor <= f"{after_subscription}/{after_key}":
                continue
            if resource_group is not None and _group_of(item.disk.resource_id) != resource_group.lower():
                continue
            finding = unattached_disk(item.since, as_of, thresholds)
            if finding is None:
                continue
            if len(items) == top:
                return Page(items, disk_cursor(items[-1].subscription_id, items[-1].disk))
            items.append(DiskFinding(subscription, item, finding, disk_monthly(item, rates, currency, as_of)))
    return Page(items, None)


def disk_monthly(
    item: UnattachedDisk, rates: Mapping[str, Mapping[str, Rate]] | None, currency: str, as_of: datetime
) -> AttachedCost:
    """What an unattached disk costs a month now (``monthly``), or why that is not known."""
    return attached_cost(VmAttachments((Held(item.disk, item.since),), as_of), rates, currency, None, as_of)


def _group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4].lower() if len(parts) > 4 else ""
