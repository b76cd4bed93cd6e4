"""Reconcile from a Resource Graph sweep: one query per 100 subscriptions instead of a List All each.

Resource Graph can lag behind Compute (most changes show within 30 s, with no upper bound), so it is never
the evidence recorded. A VM the sweep shows as the ledger has it is confirmed (its confirmation row), as List
All would. A VM it shows otherwise, a VM it shows that the ledger has never seen, and a VM of the ledger it
does not show at all are each read from Compute (the VM's instance view) before anything is recorded; what
Compute says is recorded with source ``reconcile``, exactly as a List All would have recorded it, and a VM
Compute answers ``ResourceNotFound`` for is the only one marked deleted. Where Compute agrees with the
ledger, the sweep was stale: it is counted as overruled and nothing is recorded.

The sweep sends no List All. Its cost is the Resource Graph queries (one per 1,000 rows, at least two per
batch of 100 subscriptions) plus one instance view read per disagreement, at most
``MAX_CONFIRMATIONS_PER_RUN`` a run and none after the deadline: the rest are left (``deferred``) for the
next run. A batch whose sweep fails part way judges nothing: its subscriptions are reported failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.ids import VmId, parse_vm_id, vm_id_from_key
from shared.domain.times import utc_now
from shared.errors import StorageUnavailable, UpstreamUnavailable
from shared.jobs._membership import record_membership
from shared.jobs._observation import differs
from shared.jobs.reconcile import (
    RUN_BUDGET_SECONDS,
    Known,
    SubscriptionReport,
    apply_listed,
    known_states,
    record_vanished,
)
from shared.sources import MAX_SUBSCRIPTIONS_PER_QUERY, ArmClient, ListedVm, ListingError, ResourceGraphClient
from shared.store import Ledger

logger = logging.getLogger(__name__)

MAX_CONFIRMATIONS_PER_RUN = 2_000


_Swept = tuple[VmId, ListedVm]


@dataclass
class _Budget:
    deadline: float
    reads_left: int

    def take(self) -> bool:
        if self.reads_left <= 0 or time.monotonic() >= self.deadline:
            return False
        self.reads_left -= 1
        return True


def reconcile_sweep(
    ledger: Ledger,
    graph: ResourceGraphClient,
    arm: ArmClient,
    subscription_ids: Iterable[str],
    *,
    budget_seconds: float = RUN_BUDGET_SECONDS,
    deadline: float | None = None,
    max_confirmations: int = MAX_CONFIRMATIONS_PER_RUN,
    clock: Callable[[], datetime] = utc_now,
) -> list[SubscriptionReport]:
    """Every subscription through the sweep, in batches of 100; each report logged, failures in it."""
    ids = [sub.lower() for sub in subscription_ids]
    ends = time.monotonic() + budget_seconds
    budget = _Budget(ends if deadline is None else min(ends, deadline), max_confirmations)
    reports: list[SubscriptionReport] = []
    for start in range(0, len(ids), MAX_SUBSCRIPTIONS_PER_QUERY):
        batch = ids[start : start + MAX_SUBSCRIPTIONS_PER_QUERY]
        reports.extend(_reconcile_batch(ledger, graph, arm, batch, budget, clock))
    for report in reports:
        (logger.error if report.failure else logger.info)("reconcile (sweep) %s", report.summary())
    return reports


def _reconcile_batch(
    ledger: Ledger,
    graph: ResourceGraphClient,
    arm: ArmClient,
    batch: Sequence[str],
    budget: _Budget,
    clock: Callable[[], datetime],
) -> list[SubscriptionReport]:
    reports = [SubscriptionReport(sub) for sub in batch]
    try:
        rows = _rows_by_subscription(graph.iter_fleet_pages(batch, deadline=budget.deadline), set(batch))
    except ListingError as err:
        for report in reports:
            report.failure = f"sweep incomplete after {err.pages_read} page(s): {err.message}"
        return reports
    for report in reports:
        try:
            _reconcile_one(ledger, arm, report, rows.pop(report.subscription_id, {}), budget, clock)
        except StorageUnavailable as err:
            report.failure = f"storage error: {err}"
    return reports


def _rows_by_subscription(pages: Iterable[list[ListedVm]], wanted: set[str]) -> dict[str, dict[str, _Swept]]:
    """The swept VMs of each subscription by VM key, with their ids as Resource Graph spells them; rows
    that name no VM of the batch are dropped."""
    found: dict[str, dict[str, _Swept]] = {}
    for page in pages:
        for listed in page:
            vm = parse_vm_id(listed.resource_id)
            if vm is not None and vm.subscription_key in wanted:
                found.setdefault(vm.subscription_key, {})[vm.vm_key] = (vm, listed)
            else:
                logger.warning(
                    "sweep skips row %r: not a VM of the swept subscriptions", listed.resource_id[:200]
                )
    return found


def _reconcile_one(
    ledger: Ledger,
    arm: ArmClient,
    report: SubscriptionReport,
    swept: dict[str, _Swept],
    budget: _Budget,
    clock: Callable[[], datetime],
) -> None:
    known = known_states(ledger, report.subscription_id)
    observed_at = clock()
    agreeing: list[tuple[VmId, str]] = []
    suspects: list[tuple[VmId, Known | None, str | None]] = []
    for key, (vm, listed) in swept.items():
        ledger_state = known.pop(key, None)
        report.listed += 1
        report.unknown += listed.power_state is None
        if ledger_state is not None and not ledger_state.deleted and not _sweep_differs(ledger_state, listed):
            report.unchanged += 1
            record_membership(ledger, vm, ledger_state.scale_set_id, listed.scale_set_id)
            if listed.power_state is not None:
                agreeing.append((vm, ledger_state.last_key))
        else:
            suspects.append((vm, ledger_state, listed.scale_set_id))
    suspects += [
        (vm_id_from_key(report.subscription_id, key), k, None) for key, k in known.items() if not k.deleted
    ]
    report.confirmed += ledger.confirm(agreeing, observed_at)
    for vm, ledger_state, scale_set_id in suspects:
        if not budget.take():
            report.deferred += 1
            continue
        _settle_with_compute(ledger, arm, vm, ledger_state, scale_set_id, report, clock)


def _settle_with_compute(
    ledger: Ledger,
    arm: ArmClient,
    vm: VmId,
    ledger_state: Known | None,
    scale_set_id: str | None,
    report: SubscriptionReport,
    clock: Callable[[], datetime],
) -> None:
    """Read the VM's instance view and record what Compute says, if it differs from the ledger."""
    try:
        view = arm.get_instance_view(vm)
    except UpstreamUnavailable as err:
        report.deferred += 1
        report.failure = f"instance view unreadable: {err}"
        return
    observed_at = clock()
    if view is None:
        if ledger_state is None:
            report.overruled += 1  # listed by the sweep, already gone in Compute
        else:
            record_vanished(ledger, {vm.vm_key: ledger_state}, observed_at, report)
        return
    recorded_before = report.changed + report.new
    unchanged: list[tuple[VmId, str]] = []
    unseen = {} if ledger_state is None else {vm.vm_key: ledger_state}
    listed = replace(view, scale_set_id=scale_set_id)
    adopted = apply_listed(ledger, listed, unseen, observed_at, report, unchanged)
    if adopted is not None:
        ledger.record(adopted)  # one VM at a time: each was read from Compute's instance view alone
    report.listed -= 1  # counted once, as swept or as known
    if report.changed + report.new == recorded_before:
        report.overruled += 1
        report.unchanged -= 1
        report.confirmed += ledger.confirm(unchanged, observed_at)


def _sweep_differs(known: Known, listed: ListedVm) -> bool:
    """Whether the sweep shows another state; it carries no hibernation, so that is not compared."""
    return differs(known.power_state, listed.hibernated, known.provisioning, listed)
