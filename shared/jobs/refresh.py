"""The reconcile timer's whole run, in steps that do not depend on one another: reconcile (with the
backfill of the VMs it adopts), the month-row rebuilds, the inventory refresh and the price refresh.

Each step runs whatever the steps before it did: a failed rebuild is retried next run (answers stay exact
meanwhile), a failed refresh keeps the previous inventory or prices; each failure is logged. The run has
one deadline, ``RUN_DEADLINE_SECONDS`` after it starts, well inside the Functions timeout (10 minutes,
``host.json``): no listing requests a page after it and a request's retries end by it, whatever a source
does; a step not begun by then is left for the next run (logged), and a refresh left so is still due. The
reconcile's failure is raised at the end, so the invocation still shows as failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.jobs.inventory import refresh_configured_inventory
from shared.jobs.month_rows import rebuild_month_rows
from shared.jobs.prices import refresh_prices
from shared.jobs.reconcile import ReconcileFailed, reconcile_configured_subscriptions
from shared.settings import PRICES_REFRESH, get_settings
from shared.sources import ArmClient, RetailPricesClient
from shared.store import Ledger

logger = logging.getLogger(__name__)

# Reconcile requests no page after 5 minutes (RUN_BUDGET_SECONDS); every step ends its requests by 7, so
# a run is over in about 7 minutes plus the storage writes in flight, against a 10-minute timeout.
RUN_DEADLINE_SECONDS = 420.0


def run_timer(
    ledger: Ledger, arm: ArmClient, prices: RetailPricesClient, *, seconds: float = RUN_DEADLINE_SECONDS
) -> None:
    """What ``reconcile_vms`` does each time it fires, within ``seconds``."""
    settings = get_settings()
    deadline = time.monotonic() + seconds
    failed: Exception | None = None
    try:
        reconcile_configured_subscriptions(ledger, arm, deadline=deadline)
    except ReconcileFailed as err:  # each subscription's failure is logged already
        failed = err
    except Exception as err:  # the steps below run all the same
        logger.exception("reconcile failed")
        failed = err
    subscriptions, period = settings.reconcile_subscription_ids, settings.inventory_refresh
    _step(
        "month-row rebuild",
        lambda: rebuild_month_rows(ledger),
        "fleet answers read those VMs' transitions meanwhile",
        deadline,
    )
    _step(
        "inventory refresh",
        lambda: refresh_configured_inventory(ledger, arm, subscriptions, period, deadline=deadline),
        "previous inventory kept",
        deadline,
    )
    _step(
        "price refresh",
        lambda: refresh_prices(ledger, prices, period=PRICES_REFRESH, deadline=deadline),
        "previous prices kept",
        deadline,
    )
    if failed is not None:
        raise failed


def _step(name: str, run: Callable[[], object], if_failed: str, deadline: float) -> None:
    """Run one step unless the deadline has passed; a failure is logged, never raised."""
    if time.monotonic() >= deadline:
        logger.error("%s not started: the run's deadline has passed; the next run does it", name)
        return
    try:
        run()
    except Exception:  # a step must never stop the next one, nor hide the reconcile's outcome
        logger.exception("%s failed; %s", name, if_failed)
