"""Write-side use cases: ingest one Event Grid delivery, reconcile with List All, refresh inventory and
prices."""

from shared.jobs.ingest import handle_event
from shared.jobs.inventory import InventoryReport, refresh_configured_inventory, refresh_inventory
from shared.jobs.prices import PricesReport, refresh_prices
from shared.jobs.reconcile import (
    ReconcileFailed,
    SubscriptionReport,
    reconcile_configured_subscriptions,
    reconcile_subscription,
)
from shared.jobs.refresh import run_timer

__all__ = [
    "InventoryReport",
    "PricesReport",
    "ReconcileFailed",
    "SubscriptionReport",
    "handle_event",
    "reconcile_configured_subscriptions",
    "reconcile_subscription",
    "refresh_configured_inventory",
    "refresh_inventory",
    "refresh_prices",
    "run_timer",
]
