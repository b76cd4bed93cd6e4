"""History from before the deployment: a VM's operations from the Activity Log, recorded as transitions.

Each completed operation becomes a transition with ``source: "activityLog"`` through the store's
``record``, the same path a late event takes: it is slotted in by time (before the VM's first record,
for history older than the ledger) and the states after it are re-derived, so ``since`` and
``unknownSeconds`` become true. Running it twice adds nothing (each record's id is stable), and an
operation that Event Grid already delivered is recognised and not recorded again (``shared.domain.
same_operation``), in either order. A VM whose Activity Log could not be read completely (throttled past
the retries, failed, malformed, endless) records nothing for that window and is reported; a VM whose
operations could not all be written is reported too (running it again completes it). Either way the next
VM is backfilled: one VM never stops the others.

Used by ``python -m shared.cli backfill --days N`` and, bounded, by reconcile for VMs it adopts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.evidence import ActivityLogRecord, NewTransition
from shared.domain.ids import VmId
from shared.domain.times import format_time, utc_now
from shared.errors import InvalidInput, StorageUnavailable
from shared.sources import RETENTION_DAYS, ArmClient, ListingError, VmOperation, list_vm_operations
from shared.store import Ledger, Outcome

logger = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    start: datetime
    end: datetime
    vms: int = 0
    operations: int = 0
    recorded: int = 0
    already_recorded: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        status = f"FAILED for {len(self.failures)} VM(s)" if self.failures else "ok"
        return (
            f"backfill {format_time(self.start)} to {format_time(self.end)}: {self.vms} VM(s), "
            f"{self.operations} operation(s), {self.recorded} recorded, {self.already_recorded} already "
            f"recorded: {status}"
        )


def backfill_window(days: int, now: datetime) -> tuple[datetime, datetime]:
    """``days`` (1 to the Activity Log's 90-day retention) up to ``now``."""
    if not 1 <= days <= RETENTION_DAYS:
        raise InvalidInput("days", f"days must be a whole number from 1 to {RETENTION_DAYS}")
    return now - timedelta(days=days), now


def backfill_vms(
    ledger: Ledger,
    client: ArmClient,
    vms: Iterable[VmId],
    *,
    days: int,
    clock: Callable[[], datetime] = utc_now,
    deadline: float | None = None,
) -> BackfillReport:
    """Read each VM's Activity Log over the last ``days`` and record its operations. A VM whose log cannot
    be read or whose operations cannot be written is in ``failures`` and the next VM goes on; none is
    begun after ``deadline`` (``time.monotonic()``: those left are in ``failures`` too)."""
    start, end = backfill_window(days, clock())
    report = BackfillReport(start, end)
    for vm in vms:
        report.vms += 1
        if deadline is not None and time.monotonic() >= deadline:
            report.failures.append(f"{vm.resource_id}: not begun, the run's time budget is spent")
            continue
        try:
            operations = list_vm_operations(client, vm, start, end, now=end, deadline=deadline)
        except ListingError as err:
            report.failures.append(f"{vm.resource_id}: {err.message}")
            logger.error("backfill of %s recorded nothing: %s", vm.resource_id, err.message)
            continue
        try:
            _record_operations(ledger, vm, operations, report)
        except StorageUnavailable as err:
            report.failures.append(f"{vm.resource_id}: storage error: {err}")
            logger.error(
                "backfill of %s stopped part way (run it again): storage error: %s", vm.resource_id, err
            )
    return report


def _record_operations(
    ledger: Ledger, vm: VmId, operations: list[VmOperation], report: BackfillReport
) -> None:
    report.operations += len(operations)
    for operation in operations:
        evidence = ActivityLogRecord(operation.record_id, operation.operation_name, operation.correlation_id)
        outcome = ledger.record(NewTransition(vm, operation.time, operation.change, evidence))
        if outcome == Outcome.RECORDED:
            report.recorded += 1
        else:
            report.already_recorded += 1


def backfill_subscriptions(
    ledger: Ledger,
    client: ArmClient,
    subscription_ids: Iterable[str] | None,
    *,
    days: int,
    clock: Callable[[], datetime] = utc_now,
) -> BackfillReport:
    """Every VM the ledger has in ``subscription_ids`` (``None``: every subscription in the ledger)."""
    backfill_window(days, clock())  # refuse a bad ``days`` before reading anything
    subscriptions = list(subscription_ids) if subscription_ids is not None else [None]
    vms = [row.vm for sub in subscriptions for row in ledger.iter_current_rows(sub)]
    return backfill_vms(ledger, client, vms, days=days, clock=clock)


def backfill_adopted(
    ledger: Ledger,
    client: ArmClient,
    adopted: list[VmId],
    *,
    days: int,
    max_vms: int,
    deadline: float | None = None,
) -> BackfillReport | None:
    """Reconcile's bounded backfill of the VMs it adopted (``days`` 0 or ``max_vms`` 0: off)."""
    if not adopted or days <= 0 or max_vms <= 0:
        return None
    report = backfill_vms(ledger, client, adopted[:max_vms], days=days, deadline=deadline)
    left = len(adopted) - max_vms
    if left > 0:
        logger.warning(
            "backfill of adopted VMs stopped at %d; %d left: run python -m shared.cli backfill", max_vms, left
        )
    (logger.error if report.failures else logger.info)("%s (adopted VMs)", report.summary())
    return report
