"""Refresh the cached retail prices for the (region, size) pairs the inventory holds.

Run by the reconcile timer at most once a day (the schedule is the timer's, ``jobs.refresh``). The price
in force now is chosen per (region, size, OS, priority) and written to the ledger table's ``prices``
partition with the time fetched. A listing that fails (429s after retries, an outage, a malformed page) writes
nothing: the previous prices stay and the failure is logged. HTTP answers only ever read the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.attached_pricing import choose_attached_rates
from shared.domain.pricing import choose_prices
from shared.domain.times import utc_now
from shared.errors import StorageUnavailable
from shared.sources import ListingError, RetailPricesClient
from shared.store import Ledger

logger = logging.getLogger(__name__)


@dataclass
class PricesReport:
    currency: str
    pairs: int = 0
    items: int = 0
    priced: int = 0
    regions: int = 0  # regions whose disk and IP rates were fetched
    failure: str | None = None


def refresh_prices(
    ledger: Ledger,
    client: RetailPricesClient,
    *,
    clock: Callable[[], datetime] = utc_now,
    deadline: float | None = None,
) -> PricesReport:
    """Fetch and store the prices of every (region, size) in the inventory; no page is requested after
    ``deadline`` (``time.monotonic()``)."""
    report = PricesReport(client.currency)
    now = clock()
    try:
        specs = (row.profile.spec for row in ledger.iter_current_rows() if not row.condition.state.deleted)
        pairs = {
            (spec.location.lower(), spec.vm_size) for spec in specs if spec and spec.location and spec.vm_size
        }
        report.pairs = len(pairs)
        items = client.fetch(pairs, deadline=deadline) if pairs else []
        report.items = len(items)
        prices = choose_prices(items, now)
        report.priced = len({(region, size) for region, size, _ in prices})
        ledger.prices.save(client.currency, now, pairs, prices)
        regions = {region for region, _ in pairs} | _attached_regions(ledger)
        report.regions = len(regions)
        items = client.fetch_attached(regions, deadline=deadline) if regions else []
        ledger.prices.save_rates(client.currency, now, regions, choose_attached_rates(items, now))
    except ListingError as err:
        report.failure = f"{err} (status {err.status_code})"
    except StorageUnavailable as err:
        report.failure = f"storage error: {err}"
    (logger.error if report.failure else logger.info)(
        "retail prices in %s: %s region/size pair(s), %s item(s), %s pair(s) priced: %s",
        report.currency, report.pairs, report.items, report.priced,
        f"FAILED ({report.failure}), previous prices kept" if report.failure else "ok",
    )  # fmt: skip
    return report


def _attached_regions(ledger: Ledger) -> set[str]:
    """The regions of every disk and IP the ledger keeps (held or unattached)."""
    regions: set[str] = set()
    for subscription in ledger.list_subscriptions():
        for attachments in ledger.attached.load_subscription(subscription).values():
            regions |= {held.item.location.lower() for held in attachments.held if held.item.location}
        regions |= {
            item.disk.location.lower()
            for item in ledger.attached.unattached(subscription)
            if item.disk.location
        }
    return regions
