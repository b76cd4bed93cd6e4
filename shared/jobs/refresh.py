"""The reconcile timer's whole run: reconcile, the month-row rebuilds, then the inventory and price
refreshes when due.

The rebuilds and refreshes run even when reconcile failed for a subscription, and never raise: a failed
rebuild is retried next run (answers stay exact meanwhile), a failed refresh keeps the previous inventory
or prices; both are logged. The reconcile failure is raised at the end, so the
invocation still shows as failed.
"""

from __future__ import annotations

import logging

from shared.jobs.inventory import refresh_configured_inventory
from shared.jobs.month_rows import rebuild_month_rows
from shared.jobs.prices import refresh_prices
from shared.jobs.reconcile import ReconcileFailed, reconcile_configured_subscriptions
from shared.settings import PRICES_REFRESH, get_settings
from shared.sources import ArmClient, RetailPricesClient
from shared.store import Ledger

logger = logging.getLogger(__name__)


def run_timer(ledger: Ledger, arm: ArmClient, prices: RetailPricesClient) -> None:
    """What ``reconcile_vms`` does each time it fires."""
    settings = get_settings()
    failed: ReconcileFailed | None = None
    try:
        reconcile_configured_subscriptions(ledger, arm)
    except ReconcileFailed as err:
        failed = err
    try:
        rebuild_month_rows(ledger)
    except Exception:  # as for the refreshes below
        logger.exception("month-row rebuild failed; fleet answers read those VMs' transitions meanwhile")
    try:
        refresh_configured_inventory(
            ledger, arm, settings.reconcile_subscription_ids, settings.inventory_refresh
        )
        refresh_prices(ledger, prices, period=PRICES_REFRESH)
    except Exception:  # a refresh must never hide the reconcile's outcome, nor stop the next run
        logger.exception("inventory or price refresh failed; previous values kept")
    if failed is not None:
        raise failed
