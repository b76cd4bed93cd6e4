"""Write-side use cases: ingest one Event Grid delivery (resource, scale set and health events), the queue
function's scale set listing, reconcile with List All and scale sets or a
Resource Graph sweep, backfill from the Activity Log,
refresh inventory and prices; the timer's table of steps and the runner that keeps each one apart."""

from shared.jobs._steps import EVERY_RUN, Step, StepFailed, StepRun, TimerRunFailed, run_steps
from shared.jobs.actuals import ActualsReport, refresh_actuals
from shared.jobs.backfill import BackfillReport, backfill_adopted, backfill_subscriptions, backfill_vms
from shared.jobs.health import handle_health_event
from shared.jobs.ingest import handle_event
from shared.jobs.inventory import InventoryReport, refresh_inventory
from shared.jobs.month_rows import MONTHS_CHECKED, MonthRowsReport, rebuild_month_rows
from shared.jobs.prices import PricesReport, refresh_prices
from shared.jobs.push_findings import FindingsPush, PushReport, push_digest, push_findings, send_intents
from shared.jobs.reconcile import (
    RUN_BUDGET_SECONDS,
    ReconcileFailed,
    SubscriptionReport,
    raise_for_failures,
    reconcile_subscription,
)
from shared.jobs.reconcile_turns import ResumePoints, reconcile_subscriptions
from shared.jobs.refresh import PRICES_REFRESH, RUN_DEADLINE_SECONDS, Actuals, Watch, run_timer, timer_steps
from shared.jobs.scale_set_events import ScaleSetReport, handle_scale_set_event
from shared.jobs.scale_set_queue import MAX_DEQUEUE_COUNT, enqueue_scale_set_event, handle_scale_set_message
from shared.jobs.sweep import MAX_CONFIRMATIONS_PER_RUN, reconcile_sweep

__all__ = [
    "EVERY_RUN",
    "MAX_DEQUEUE_COUNT",
    "MONTHS_CHECKED",
    "PRICES_REFRESH",
    "RUN_BUDGET_SECONDS",
    "RUN_DEADLINE_SECONDS",
    "BackfillReport",
    "FindingsPush",
    "PushReport",
    "push_digest",
    "push_findings",
    "send_intents",
    "InventoryReport",
    "MonthRowsReport",
    "PricesReport",
    "ReconcileFailed",
    "ResumePoints",
    "ScaleSetReport",
    "Step",
    "StepFailed",
    "StepRun",
    "SubscriptionReport",
    "TimerRunFailed",
    "Watch",
    "Actuals",
    "ActualsReport",
    "refresh_actuals",
    "MAX_CONFIRMATIONS_PER_RUN",
    "reconcile_sweep",
    "backfill_adopted",
    "backfill_subscriptions",
    "backfill_vms",
    "enqueue_scale_set_event",
    "handle_event",
    "handle_health_event",
    "handle_scale_set_event",
    "handle_scale_set_message",
    "raise_for_failures",
    "rebuild_month_rows",
    "reconcile_subscription",
    "reconcile_subscriptions",
    "refresh_inventory",
    "refresh_prices",
    "run_steps",
    "run_timer",
    "timer_steps",
]
