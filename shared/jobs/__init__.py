"""Write-side use cases: ingest one Event Grid delivery (resource, scale set and health events), the queue
function's scale set listing, reconcile with List All and scale sets, backfill from the Activity Log,
refresh inventory and prices."""

from shared.jobs.backfill import BackfillReport, backfill_adopted, backfill_subscriptions, backfill_vms
from shared.jobs.health import handle_health_event
from shared.jobs.ingest import handle_event
from shared.jobs.inventory import InventoryReport, refresh_configured_inventory, refresh_inventory
from shared.jobs.month_rows import MONTHS_CHECKED, MonthRowsReport, rebuild_month_rows
from shared.jobs.prices import PricesReport, refresh_prices
from shared.jobs.reconcile import (
    ReconcileFailed,
    SubscriptionReport,
    reconcile_configured_subscriptions,
    reconcile_subscription,
)
from shared.jobs.refresh import run_timer
from shared.jobs.scale_set_events import ScaleSetReport, handle_scale_set_event
from shared.jobs.scale_set_queue import MAX_DEQUEUE_COUNT, enqueue_scale_set_event, handle_scale_set_message

__all__ = [
    "MAX_DEQUEUE_COUNT",
    "MONTHS_CHECKED",
    "BackfillReport",
    "InventoryReport",
    "MonthRowsReport",
    "PricesReport",
    "ReconcileFailed",
    "ScaleSetReport",
    "SubscriptionReport",
    "backfill_adopted",
    "backfill_subscriptions",
    "backfill_vms",
    "enqueue_scale_set_event",
    "handle_event",
    "handle_health_event",
    "handle_scale_set_event",
    "handle_scale_set_message",
    "reconcile_configured_subscriptions",
    "rebuild_month_rows",
    "reconcile_subscription",
    "refresh_configured_inventory",
    "refresh_inventory",
    "refresh_prices",
    "run_timer",
]
