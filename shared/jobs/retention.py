"""Removing transitions older than ``TRANSITION_RETENTION_DAYS`` (the timer's ``retention`` step).

A pass walks every VM's current row, in key order across the subscriptions, and removes what
``store.retention`` allows (its transitions before the cut, but its last one); it stops at the step's
deadline and the next run resumes after the last VM it finished (the cursor is kept in a run record). A
pass that reached the end is not begun again for a day. Day rows, month rows and current rows are never
removed: what answers read of the past stays exact (docs/limits.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.times import format_time
from shared.store import CurrentRow, Ledger, RunRecord, RunRecords, cursor_of

# The run record whose detail is the cursor of the last VM a cut-off pass finished ("": the pass ended).
RESUME_RECORD = "retention-resume"
PASS_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionReport:
    cut: datetime | None
    vms: int = 0
    removed: int = 0
    finished: bool = True

    def summary(self) -> str:
        if self.cut is None:
            return "every transition kept (TRANSITION_RETENTION_DAYS is 0)"
        state = "pass finished" if self.finished else "cut off by the deadline, resumed next run"
        cut = format_time(self.cut)
        return f"{self.removed} transition(s) before {cut} removed from {self.vms} VM(s); {state}"


def remove_old_transitions(ledger: Ledger, *, now: datetime, deadline: float) -> RetentionReport:
    """One run's share of a retention pass (see the module docstring)."""
    cut = ledger.retained_from(now)
    if cut is None:
        return RetentionReport(None)
    records = RunRecords(ledger.table)
    last = records.get(RESUME_RECORD)
    if last is not None and not last.detail and now - last.attempted_at < PASS_EVERY:
        return RetentionReport(cut)  # today's pass is done
    after = last.detail if last is not None and last.detail else None
    vms = removed = 0
    finished: CurrentRow | None = None
    for current in ledger.iter_current_rows(after=after):
        if time.monotonic() >= deadline:
            if finished is not None:
                records.put(RESUME_RECORD, RunRecord(now, True, cursor_of(finished)))
            return RetentionReport(cut, vms, removed, finished=False)
        removed += ledger.remove_transitions_before(current, cut)
        vms, finished = vms + 1, current
    records.put(RESUME_RECORD, RunRecord(now, True, ""))
    return RetentionReport(cut, vms, removed)
