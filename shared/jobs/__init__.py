"""Write-side use cases: ingest one Event Grid delivery (resource, scale set and health events), reconcile
with List All and scale sets, backfill from the Activity Log."""

from shared.jobs.backfill import BackfillReport, backfill_adopted, backfill_subscriptions, backfill_vms
from shared.jobs.health import handle_health_event
from shared.jobs.ingest import handle_event
from shared.jobs.reconcile import (
    ReconcileFailed,
    SubscriptionReport,
    reconcile_configured_subscriptions,
    reconcile_subscription,
)
from shared.jobs.scale_set_events import ScaleSetReport, handle_scale_set_event

__all__ = [
    "BackfillReport",
    "ReconcileFailed",
    "ScaleSetReport",
    "SubscriptionReport",
    "backfill_adopted",
    "backfill_subscriptions",
    "backfill_vms",
    "handle_event",
    "handle_health_event",
    "handle_scale_set_event",
    "reconcile_configured_subscriptions",
    "reconcile_subscription",
]
