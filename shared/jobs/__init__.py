"""Write-side use cases: ingest one Event Grid delivery, reconcile with List All."""

from shared.jobs.health import handle_health_event
from shared.jobs.ingest import handle_event
from shared.jobs.reconcile import (
    ReconcileFailed,
    SubscriptionReport,
    reconcile_configured_subscriptions,
    reconcile_subscription,
)

__all__ = [
    "ReconcileFailed",
    "SubscriptionReport",
    "handle_event",
    "handle_health_event",
    "reconcile_configured_subscriptions",
    "reconcile_subscription",
]
