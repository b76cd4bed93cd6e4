"""Write-side use cases: ingest one Event Grid delivery, reconcile with List All, backfill from the
Activity Log."""

from shared.jobs.backfill import BackfillReport, backfill_adopted, backfill_subscriptions, backfill_vms
from shared.jobs.ingest import handle_event
from shared.jobs.reconcile import (
    ReconcileFailed,
    SubscriptionReport,
    reconcile_configured_subscriptions,
    reconcile_subscription,
)

__all__ = [
    "BackfillReport",
    "ReconcileFailed",
    "SubscriptionReport",
    "backfill_adopted",
    "backfill_subscriptions",
    "backfill_vms",
    "handle_event",
    "reconcile_configured_subscriptions",
    "reconcile_subscription",
]
