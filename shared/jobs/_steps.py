"""Running a table of timer steps: each when due, by its share of the run's deadline, inside its own
failure boundary, with its own run record.

A step's work returns a short summary, or raises: ``StepFailed`` for a failure its job has logged already
(logged again in one line), anything else with its traceback. Either way the next step runs. A periodic
step is due when its last attempt, failed or not, is at least a period old (a failing upstream is retried
a period later, not at every run); a step whose record cannot be read is not run, and stays due. A step
not begun by its deadline is logged and left for the next run, with no record: a periodic one stays due.
So does a periodic step whose failure came at or after its deadline (the deadline cut it short: its record
says where it stopped, and the next run goes on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.times import utc_now
from shared.errors import StorageUnavailable
from shared.store import RunRecord, RunRecords

logger = logging.getLogger(__name__)

EVERY_RUN: timedelta | None = None
CUT_SHORT = "cut short by the deadline: "  # how a record begins whose step stays due


class StepFailed(RuntimeError):
    """A step's failure its job has already logged with what it knows."""


class TimerRunFailed(RuntimeError):
    """A step whose failure fails the run (reconcile) failed or was not begun; raised after every step."""


@dataclass(frozen=True)
class StepRun:
    """What one run of a step is given: the time it began, its deadline (``time.monotonic()``) and, for a
    step run once for each of several things, the one it runs for."""

    now: datetime
    deadline: float
    item: str | None = None


@dataclass(frozen=True)
class Step:
    """One line of the timer's table.

    ``name`` names its run record (``<name>|<item>`` for each of ``each``); ``every`` is ``EVERY_RUN`` or a
    period; the step begins nothing and requests nothing later than ``stops_by`` seconds into the run.
    """

    name: str
    every: timedelta | None
    stops_by: float
    work: Callable[[StepRun], str]
    each: Sequence[str] | None = None
    fails_run: bool = False

    def records(self) -> Iterator[tuple[str, str | None]]:
        """The name of each run record and the item it is for (read when the step's turn comes)."""
        if self.each is None:
            yield self.name, None
        else:
            yield from ((f"{self.name}|{item}", item) for item in self.each)


def run_steps(
    steps: Sequence[Step], records: RunRecords, *, seconds: float, clock: Callable[[], datetime] = utc_now
) -> None:
    """Run ``steps`` in order within ``seconds``; raise ``TimerRunFailed`` at the end if a step that fails
    the run failed or was not begun."""
    started = time.monotonic()
    failed = []
    for step in steps:
        deadline = started + min(step.stops_by, seconds)
        for name, item in step.records():
            failure = _run_once(step, name, item, deadline, records, clock)
            if failure is not None and step.fails_run:
                failed.append(f"{name}: {failure}")
    if failed:
        raise TimerRunFailed("; ".join(failed))


def _run_once(
    step: Step,
    name: str,
    item: str | None,
    deadline: float,
    records: RunRecords,
    clock: Callable[[], datetime],
) -> str | None:
    """Run one record's work if due; the failure, if any (not begun counts as one)."""
    if time.monotonic() >= deadline:
        logger.error("%s not started: the run's deadline has passed; the next run does it", name)
        return "not started: the run's deadline had passed"
    now = clock()
    if step.every is not None:
        try:
            last = records.get(name)
        except StorageUnavailable as err:
            logger.error("%s not started: its run record cannot be read: %s", name, err)
            return f"run record unreadable: {err}"
        if (
            last is not None
            and now - last.attempted_at < step.every
            and not last.detail.startswith(CUT_SHORT)
        ):
            return None
    failure = None
    try:
        detail = step.work(StepRun(now, deadline, item))
    except StepFailed as err:
        detail = failure = (CUT_SHORT if time.monotonic() >= deadline else "") + str(err)
        logger.error("%s failed: %s", name, detail)
    except Exception as err:  # a step must never stop the next one, nor hide the reconcile's outcome
        detail = failure = f"{type(err).__name__}: {err}"
        logger.exception("%s failed", name)
    try:
        records.put(name, RunRecord(now, failure is None, detail))
    except StorageUnavailable as err:
        logger.error("%s: cannot record the attempt: %s", name, err)
    return failure
