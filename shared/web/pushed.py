"""The data of the events pushed to the findings topic, in the API's field names.

A finding's event carries the finding as ``/findings`` shows it (``finding_body``: ``deallocatedLong``
with what its disks and IPs cost a month). The digest's amounts sum those known and count the others
apart; an amount none of whose parts is known is ``null`` with a reason, never 0, and so is the drift
from the bill before Cost Management covers the day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.answers import (
    DailyDigest,
    DigestBill,
    LooseDisk,
    Residual,
    Saved,
    StoppedDay,
    VmFinding,
    VmWindowCost,
    all_findings,
    daily_digest,
    priced_total,
)
from shared.domain.attached_pricing import AttachedCost
from shared.domain.findings import Thresholds
from shared.domain.pricing import CostReason
from shared.domain.pushed_events import Occurring, finding_key
from shared.domain.times import format_time
from shared.store import Ledger
from shared.web.bill_bodies import NOT_BILLED_YET, drift_body
from shared.web.bodies import cost_body, finding_body
from shared.web.numbers import as_number, money

HOUR = 3600.0
TOP = 10
# The day is billed, but no VM the bill covers has an estimate to set beside it.
NO_ESTIMATE = "NoEstimateSameDays"


def finding_occurrences(
    ledger: Ledger, *, thresholds: Thresholds, currency: str, as_of: datetime
) -> Iterator[Occurring]:
    """Every finding now, as the occurrences the findings topic compares with what it published."""
    for item in all_findings(ledger, thresholds=thresholds, as_of=as_of, currency=currency):
        vm = item.current.vm
        key = finding_key(vm.subscription_key, vm.vm_key, item.finding.kind.value)
        yield Occurring(key, item.finding.since, vm.resource_id, finding_event_data(item))


def finding_event_data(item: VmFinding) -> dict[str, Any]:
    return finding_body(item)


def digest_data(
    ledger: Ledger, day: date, as_of: datetime, *, thresholds: Thresholds, currency: str
) -> dict[str, Any]:
    return digest_body(daily_digest(ledger, day, as_of=as_of, currency=currency, thresholds=thresholds))


def digest_body(digest: DailyDigest) -> dict[str, Any]:
    """``VmLedger.DailyDigest``'s data: the day's billed hours and cost, and what is paid for nothing."""
    stopped = digest.stopped
    return {
        "day": digest.day.isoformat(),
        "asOf": format_time(digest.as_of),
        "currency": digest.currency,
        "vms": digest.vms,
        "billedHours": as_number(digest.billed_seconds / HOUR),
        "estimatedCost": money(digest.estimated_cost),
        "vmsWithoutPrice": digest.unpriced_vms,
        "findingCounts": {kind.value: count for kind, count in digest.finding_counts.items()},
        "stoppedButBilled": {
            "vms": len(stopped),
            "billedHours": as_number(sum(item.seconds for item in stopped) / HOUR),
            "estimatedCost": money(priced_total([item.cost for item in stopped])),
            "vmsWithoutPrice": sum(1 for item in stopped if item.cost.amount is None),
            "top": [_stopped_line(item) for item in stopped[:TOP]],
        },
        **bill_fields(digest.bill, digest.currency),
        "drift": drift_fields(digest),
        "topByBilledHours": [_vm_line(item) for item in digest.top_by_billed],
        "topByEstimatedCost": [_vm_line(item) for item in digest.top_by_cost],
    }


def _vm_line(item: VmWindowCost) -> dict[str, Any]:
    return {
        "resourceId": item.current.vm.resource_id,
        "billedHours": as_number(item.billed_seconds / HOUR),
        "estimatedCost": cost_body(item.cost),
    }


def _stopped_line(item: StoppedDay) -> dict[str, Any]:
    return {
        "resourceId": item.item.current.vm.resource_id,
        "billedHours": as_number(item.seconds / HOUR),
        "estimatedCost": cost_body(item.cost),
    }


def bill_fields(bill: DigestBill, currency: str) -> dict[str, Any]:
    """What is paid for nothing a month (deallocated VMs' disks and IPs, unattached disks) and what stopping
    VMs saved that day: each the sum of the amounts known, with the count of those unknown apart."""
    residual, loose, saved = bill.residual, bill.unattached, bill.saved
    not_listed = CostReason.NO_INVENTORY if bill.unlisted_subscriptions and not loose else None
    return {
        "deallocatedResidualMonthlyCost": {
            **_sum([(line.cost.monthly, line.cost.reason) for line in residual], currency),
            "vms": len(residual),
            "vmsWithoutPrice": sum(1 for line in residual if line.cost.monthly is None),
            "top": [_residual_line(line) for line in residual[:TOP]],
        },
        "unattachedDisksMonthlyCost": {
            **_sum([(line.cost.monthly, line.cost.reason) for line in loose], currency, not_listed),
            "disks": len(loose),
            "disksWithoutPrice": sum(1 for line in loose if line.cost.monthly is None),
            "subscriptionsNotListed": bill.unlisted_subscriptions,
            "top": [_disk_line(line) for line in loose[:TOP]],
        },
        "savings": {
            **_sum([(line.cost.amount, line.cost.reason) for line in saved], currency),
            "deallocatedHours": as_number(sum(line.item.deallocated_seconds for line in saved) / HOUR),
            "vms": len(saved),
            "vmsWithoutPrice": sum(1 for line in saved if line.cost.amount is None),
            "top": [_saved_line(line) for line in saved[:TOP]],
        },
    }


def _residual_line(line: Residual) -> dict[str, Any]:
    return {
        "resourceId": line.item.current.vm.resource_id,
        "deallocatedSince": format_time(line.item.current.condition.state.since),
        **_monthly(line.cost),
    }


def _disk_line(line: LooseDisk) -> dict[str, Any]:
    disk = line.disk.disk
    return {
        "resourceId": disk.resource_id,
        "sku": disk.sku,
        "tier": line.cost.items[0].tier if line.cost.items else None,
        "sizeGb": disk.size_gb,
        "since": format_time(line.disk.since),
        **_monthly(line.cost),
    }


def _saved_line(line: Saved) -> dict[str, Any]:
    return {
        "resourceId": line.item.current.vm.resource_id,
        "deallocatedHours": as_number(line.item.deallocated_seconds / HOUR),
        "avoidedCost": cost_body(line.cost),
    }


def _sum(
    parts: list[tuple[Decimal | None, CostReason | None]], currency: str, unknown: CostReason | None = None
) -> dict[str, Any]:
    """The sum of the known amounts; nothing to sum is 0, unless ``unknown`` says why nothing is known;
    something to sum but nothing known is ``null`` with the first reason."""
    known = [amount for amount, _ in parts if amount is not None]
    if unknown is not None or (parts and not known):
        reason = unknown or next((reason for _, reason in parts if reason is not None), None)
        return {"amount": None, "currency": currency, "reason": reason.value if reason else None}
    return {"amount": money(sum(known, Decimal(0))), "currency": currency, "reason": None}


def _monthly(cost: AttachedCost) -> dict[str, Any]:
    return {"monthly": money(cost.monthly), "reason": cost.reason.value if cost.reason else None}


def drift_fields(digest: DailyDigest) -> dict[str, Any]:
    """The day's bill beside its estimate: ``amount`` is the actual minus the estimate of the VMs that have
    both (``null`` with ``NotBilledYet`` before Cost Management covers the day); then the ``billingDrift``
    findings now, latest day first, with both numbers."""
    bill, currency = digest.actuals, digest.currency
    billed = digest.day in bill.covered
    difference = bill.difference if billed else None
    reason = None if difference is not None else NO_ESTIMATE if billed else NOT_BILLED_YET
    discount = bill.discount
    return {
        "amount": money(difference),
        "currency": currency,
        "reason": reason,
        "actualCost": money(bill.actual if billed else None),
        "estimatedCostSameDays": money(bill.estimate_same_days if billed else None),
        "discount": float(round(discount, 4)) if billed and discount is not None else None,
        "billingDriftVms": len(digest.drifts),
        "top": [_drift_line(item) for item in digest.drifts[:TOP]],
    }


def _drift_line(item: VmFinding) -> dict[str, Any]:
    drift = item.finding.drift
    return {
        "resourceId": item.current.vm.resource_id,
        **(drift_body(drift) if drift is not None else {}),
    }
