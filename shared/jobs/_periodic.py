"""The timer's periodic refreshes (inventory, prices): whether one is due, and recording each attempt.

An attempt is recorded whether it succeeded or not, so a failing upstream is retried one period later,
not at every timer run; a failure to record it is logged and changes nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.errors import StorageUnavailable
from shared.store import JobMark, Ledger

logger = logging.getLogger(__name__)


def is_due(ledger: Ledger, job: str, period: timedelta, now: datetime) -> bool:
    mark = ledger.prices.job_mark(job)
    return mark is None or now - mark.attempted_at >= period


def record_attempt(ledger: Ledger, job: str, now: datetime, failure: str | None) -> None:
    try:
        ledger.prices.mark_job(job, JobMark(now, failure is None, failure or ""))
    except StorageUnavailable as err:
        logger.error("%s: cannot record the attempt: %s", job, err)
