"""Write-side use cases: ingest one Event Grid delivery, reconcile with List All and scale sets."""

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
    "ReconcileFailed",
    "ScaleSetReport",
    "SubscriptionReport",
    "handle_event",
    "handle_health_event",
    "handle_scale_set_event",
    "reconcile_configured_subscriptions",
    "reconcile_subscription",
]
