"""Rebuilding month rows: a late event or a repair rewrites a VM's history in the middle and drops its
month-row mark instead of rewriting its month rows in the event's path; the timer rebuilds them here.

Until then fleet answers read that VM's own transitions (one query more per such VM), so answers stay
exact. A run rebuilds at most ``max_vms`` VMs (each costs a read of its transitions, 1,000 a page, and
one write per 100 month rows); the rest wait for the next run. A VM written meanwhile is skipped, and
retried next run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.store import Ledger

logger = logging.getLogger(__name__)

DEFAULT_MAX_VMS = 200


@dataclass(frozen=True)
class MonthRowsReport:
    rebuilt: int
    raced: int  # written by another writer during the rebuild: left for the next run
    left: int  # over this run's budget


def rebuild_month_rows(ledger: Ledger, *, max_vms: int = DEFAULT_MAX_VMS) -> MonthRowsReport:
    """Rebuild the month rows of the VMs whose current row has no mark, at most ``max_vms`` of them."""
    rebuilt = raced = left = 0
    for row in ledger.iter_current_rows():
        if row.months is not None or row.pending is not None:
            continue
        if rebuilt + raced >= max_vms:
            left += 1
            continue
        if ledger.months.rebuild(row):
            rebuilt += 1
        else:
            raced += 1
    if rebuilt or raced or left:
        logger.info("month rows rebuilt for %d VMs, %d raced with a writer, %d left for the next run",
                    rebuilt, raced, left)  # fmt: skip
    return MonthRowsReport(rebuilt, raced, left)
