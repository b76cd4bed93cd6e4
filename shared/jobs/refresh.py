"""The reconcile timer's run: ``timer_steps`` is the one list of what it does, a line per step.

Each line gives the step's run record (in the ledger table's ``jobs`` partition), its schedule (every
run, or at most once a period measured from its last attempt), its share of the run's deadline (it
begins nothing and requests nothing later than that many seconds into the run) and its work. Every step
runs whatever the steps before it did (``_steps.run_steps``): a failed reconcile still lets the rebuilds
and refreshes run, a failed rebuild is retried next run (answers stay exact meanwhile), a failed refresh
keeps the previous inventory or prices; ``retention`` removes transitions past
``TRANSITION_RETENTION_DAYS`` after the rebuilds. Each failure is logged and recorded; the reconcile's
also fails the invocation, after every step has run.

The run has one deadline, ``RUN_DEADLINE_SECONDS`` after it starts, well inside the Functions timeout (10
minutes, ``host.json``): no listing requests a page after it and a request's retries end by it, whatever a
source does. Reconcile requests no page after ``RUN_BUDGET_SECONDS`` (5 minutes), so the steps after it
keep time; a run is over in about 7 minutes plus the storage writes in flight.

Adding a step is one line in ``timer_steps``, and its work as a method of ``_TimerRun``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.ids import VmId
from shared.domain.times import format_time, utc_now
from shared.domain.watch import ReconcileSource, sweeps
from shared.jobs._steps import EVERY_RUN, Step, StepFailed, StepRun, run_steps
from shared.jobs.actuals import DailyHours, refresh_actuals
from shared.jobs.attached_inventory import refresh_attached
from shared.jobs.backfill import backfill_adopted
from shared.jobs.inventory import refresh_inventory
from shared.jobs.month_rows import rebuild_month_rows_in_turn
from shared.jobs.prices import refresh_prices
from shared.jobs.push_findings import FindingsPush, PushReport, push_digest, push_findings
from shared.jobs.reconcile import RUN_BUDGET_SECONDS, raise_for_failures
from shared.jobs.reconcile_turns import ResumePoints, reconcile_subscriptions, resume_at
from shared.jobs.retention import remove_old_transitions
from shared.jobs.sweep import reconcile_sweep
from shared.sources import (
    ArmClient,
    CostManagementClient,
    ListingError,
    ResourceGraphClient,
    RetailPricesClient,
    list_attached,
)
from shared.store import Ledger, RunRecord, RunRecords, WatchedSubscriptions

logger = logging.getLogger(__name__)

RUN_DEADLINE_SECONDS = 420.0
# The run record whose detail names the subscription the next reconcile lists first ("" for the usual order).
RESUME_RECORD = "reconcile-resume"
# Prices are refreshed at most this often (the "at most daily"); not a setting.
PRICES_REFRESH = timedelta(days=1)
NO_TOPIC = "FINDINGS_TOPIC_ENDPOINT is not set: nothing published"


def run_timer(
    steps: Sequence[Step],
    records: RunRecords,
    *,
    seconds: float = RUN_DEADLINE_SECONDS,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """What ``reconcile_vms`` does each time it fires, within ``seconds``: ``steps`` (``timer_steps``);
    ``TimerRunFailed`` at the end if the reconcile failed."""
    run_steps(steps, records, seconds=seconds, clock=clock)


def timer_steps(
    ledger: Ledger,
    arm: ArmClient,
    prices: RetailPricesClient,
    *,
    subscriptions: Sequence[str],
    inventory_every: timedelta,
    backfill_days: int,
    backfill_max_vms: int,
    watch: Watch | None = None,
    actuals: Actuals | None = None,
    findings: FindingsPush | None = None,
) -> list[Step]:
    """Every step of a run, in order. With ``watch``, the subscriptions of its management group are
    watched beside ``subscriptions``, and reconcile reads Resource Graph when its source says so; with
    ``actuals``, Cost Management's daily costs are stored once a period per watched subscription (before
    the findings are pushed, so a new ``billingDrift`` goes out the same run); ``findings`` ``None``: no
    findings topic is configured."""
    run = _TimerRun(ledger, arm, prices, subscriptions, backfill_days, backfill_max_vms)
    run.watch, run.inventory_every, run.findings = watch, inventory_every, findings
    run.actuals_source = actuals
    billed = run.subscriptions if actuals is not None else []
    whole_run = RUN_DEADLINE_SECONDS
    group = [watch.management_group] if watch and watch.management_group else []
    # fmt: off
    return [
        #    run record          schedule         stops by (s)        work           one record for each
        Step("watched",          EVERY_RUN,       RUN_BUDGET_SECONDS, run.watched,   each=group),
        Step("reconcile",        EVERY_RUN,       RUN_BUDGET_SECONDS, run.reconcile, fails_run=True),
        Step("adopted-backfill", EVERY_RUN,       whole_run,          run.backfill),
        Step("month-rows",       EVERY_RUN,       whole_run,          run.month_rows),
        Step("retention",        EVERY_RUN,       whole_run,          run.retention),
        Step("inventory",        inventory_every, whole_run,          run.inventory, each=run.subscriptions),
        Step("prices",           PRICES_REFRESH,  whole_run,          run.prices,    each=[prices.currency]),
        Step("actuals",          _every(actuals), whole_run,          run.actuals,   each=billed),
        Step("findings-topic",   EVERY_RUN,       whole_run,          run.push_findings),
        Step("daily-digest",     EVERY_RUN,       whole_run,          run.push_digest),
    ]
    # fmt: on


@dataclass(frozen=True)
class Watch:
    """How the fleet is watched beyond the listed subscriptions: the reconcile source, the Resource Graph
    client, and the management group whose subscriptions are stored in ``stored`` between refreshes."""

    source: ReconcileSource
    graph: ResourceGraphClient
    stored: WatchedSubscriptions
    management_group: str | None = None


@dataclass(frozen=True)
class Actuals:
    """Where the actuals step reads the bill, how often, and how it counts the ledger's hours per day."""

    client: CostManagementClient
    every: timedelta
    daily_hours: DailyHours


def _every(actuals: Actuals | None) -> timedelta:
    return actuals.every if actuals is not None else timedelta(days=1)


class _TimerRun:
    """What one run's steps work on, and what one step leaves for a later one (the VMs reconcile adopted,
    for the backfill)."""

    def __init__(
        self,
        ledger: Ledger,
        arm: ArmClient,
        prices: RetailPricesClient,
        subscriptions: Sequence[str],
        backfill_days: int,
        backfill_max_vms: int,
    ) -> None:
        self.ledger, self.arm, self.prices_client = ledger, arm, prices
        self.listed = tuple(subscriptions)
        # Read by the later steps when their turn comes: the watched step adds the group's subscriptions.
        self.subscriptions: list[str] = list(self.listed)
        self.watch: Watch | None = None
        self.inventory_every = timedelta(0)
        self.findings: FindingsPush | None = None
        self.backfill_days, self.backfill_max_vms = backfill_days, backfill_max_vms
        self.adopted: list[VmId] = []
        self.actuals_source: Actuals | None = None

    def watched(self, step: StepRun) -> str:
        """The management group's enabled subscriptions: from Resource Graph once an inventory period has
        passed since they were stored, else as stored; a failed refresh keeps the stored set."""
        assert self.watch is not None and step.item is not None
        group, stored = step.item, self.watch.stored.get(step.item)
        failure = None
        if stored is None or step.now - stored.refreshed_at >= self.inventory_every:
            try:
                found = self.watch.graph.list_subscriptions_under(group, deadline=step.deadline)
            except ListingError as err:
                failure = f"refresh failed: {err}"
            else:
                self.watch.stored.put(group, found, step.now)
                stored = self.watch.stored.get(group)
        watched = stored.subscriptions if stored else ()
        self.subscriptions[:] = list(dict.fromkeys([*self.listed, *watched]))
        as_of = format_time(stored.refreshed_at) if stored else "never"
        detail = (
            f"{len(watched)} subscription(s) under {group} as of {as_of}, {len(self.subscriptions)} watched"
        )
        if failure:
            raise StepFailed(f"{failure}; {detail}")
        return detail

    def reconcile(self, step: StepRun) -> str:
        turns = RunRecords(self.ledger.table)
        last = turns.get(RESUME_RECORD)
        start_at = last.detail if last is not None and last.detail else None
        if self.watch is not None and sweeps(self.watch.source, len(self.subscriptions)):
            reports = reconcile_sweep(
                self.ledger, self.watch.graph, self.arm, self.subscriptions, deadline=step.deadline
            )
        else:
            reports = reconcile_subscriptions(
                self.ledger, self.arm, self.subscriptions,
                deadline=step.deadline, start_at=start_at, resume=ResumePoints(turns),
            )  # fmt: skip
        # Where the budget cut this run off is where the next one starts: no subscription starves.
        turns.put(RESUME_RECORD, RunRecord(step.now, True, resume_at(reports) or ""))
        self.adopted = [vm for report in reports for vm in report.adopted]
        raise_for_failures(reports)
        return f"{len(reports)} subscription(s) reconciled, {len(self.adopted)} VM(s) adopted"

    def backfill(self, step: StepRun) -> str:
        report = backfill_adopted(
            self.ledger, self.arm, self.adopted,
            days=self.backfill_days, max_vms=self.backfill_max_vms, deadline=step.deadline,
        )  # fmt: skip
        if report is None:
            return "nothing to backfill"
        if report.failures:
            raise StepFailed(f"{report.summary()}; run python -m shared.cli backfill for them")
        return report.summary()

    def month_rows(self, step: StepRun) -> str:
        report = rebuild_month_rows_in_turn(self.ledger, now=step.now, deadline=step.deadline)
        stopped = f"; the deadline came first, the next run goes on after {report.stopped_after}"
        return (
            f"rebuilt {report.rebuilt} ({report.disagreed} disagreed with their mark), raced {report.raced}, "
            f"left {report.left}{stopped if report.stopped_after else ''}"
        )

    def retention(self, step: StepRun) -> str:
        return remove_old_transitions(self.ledger, now=step.now, deadline=step.deadline).summary()

    def inventory(self, step: StepRun) -> str:
        sub = step.item or ""
        report = refresh_inventory(
            self.ledger,
            sub,
            lambda: self.arm.iter_model_pages(sub, deadline=step.deadline),
            clock=lambda: step.now,
            scale_sets=lambda: self.arm.iter_scale_set_pages(sub, deadline=step.deadline),
            deadline=step.deadline,
        )
        if report.failure:
            raise StepFailed(f"{report.failure}; previous inventory kept")
        owners = report.disk_owners
        kept = refresh_attached(
            self.ledger,
            sub,
            lambda: list_attached(self.arm, sub, deadline=step.deadline, disk_owners=owners),
            now=step.now,
        )
        if kept.failure:
            raise StepFailed(f"VM models stored; disks and IPs: {kept.failure}, previous kept")
        return (
            f"listed {report.listed}, updated {report.updated}, {report.skipped} skipped; "
            f"{kept.held} disk(s) and IP(s) held by {kept.vms} VM(s), {kept.unattached} unattached disk(s)"
        )

    def prices(self, step: StepRun) -> str:
        now, deadline = step.now, step.deadline
        report = refresh_prices(self.ledger, self.prices_client, clock=lambda: now, deadline=deadline)
        if report.failure:
            raise StepFailed(f"{report.failure}; previous prices kept")
        return (
            f"{report.pairs} region/size pair(s), {report.priced} priced; "
            f"disk and IP rates of {report.regions} region(s)"
        )

    def actuals(self, step: StepRun) -> str:
        assert self.actuals_source is not None and step.item is not None
        source = self.actuals_source
        try:
            report = refresh_actuals(
                self.ledger, source.client, step.item,
                now=step.now, daily_hours=source.daily_hours, deadline=step.deadline,
            )  # fmt: skip
        except ListingError as err:
            raise StepFailed(f"{err}; nothing stored, the days are asked again next time") from err
        return report.summary()

    def push_findings(self, step: StepRun) -> str:
        if self.findings is None:
            _say_no_topic()
            return NO_TOPIC
        return _outcome(push_findings(self.findings, now=step.now, deadline=step.deadline))

    def push_digest(self, step: StepRun) -> str:
        if self.findings is None:
            return NO_TOPIC
        report = push_digest(self.findings, now=step.now, deadline=step.deadline)
        return "no digest due" if report is None else _outcome(report)


def _outcome(report: PushReport) -> str:
    if report.failure:
        raise StepFailed(report.summary())
    return report.summary()


@functools.cache
def _say_no_topic() -> None:
    """Once a process: findings are not pushed anywhere."""
    logger.warning("FINDINGS_TOPIC_ENDPOINT is not set: findings are not published to any topic")
