"""The data of the events pushed to the findings topic, in the API's field names.

A finding's event carries the finding as ``/findings`` shows it (``finding_body``), plus what the ledger
cannot know yet, as ``null`` with a reason, never 0. The digest says the same of its parts whose data
the ledger does not keep yet: the disks and public IPs a deallocated VM still pays for, the savings of
stopping VMs, and the drift from the bill.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from shared.answers import (
    DailyDigest,
    StoppedDay,
    VmFinding,
    VmWindowCost,
    all_findings,
    daily_digest,
    priced_total,
)
from shared.domain.findings import Thresholds
from shared.domain.pushed_events import Occurring, finding_key
from shared.domain.times import format_time
from shared.store import Ledger
from shared.web.bodies import cost_body, finding_body
from shared.web.numbers import as_number, money

HOUR = 3600.0
TOP = 10
# What the ledger does not keep yet; the digest and the events say so instead of a number.
NO_DISK_INVENTORY = "disks and public IPs are not in the ledger's inventory yet"
NO_SAVINGS = "savings from stopping VMs are not computed yet"
NO_ACTUALS = "Cost Management actuals are not read yet, so there is no drift to compare"


def finding_occurrences(
    ledger: Ledger, *, thresholds: Thresholds, currency: str, as_of: datetime
) -> Iterator[Occurring]:
    """Every finding now, as the occurrences the findings topic compares with what it published."""
    for item in all_findings(ledger, thresholds=thresholds, as_of=as_of, currency=currency):
        vm = item.current.vm
        key = finding_key(vm.subscription_key, vm.vm_key, item.finding.kind.value)
        yield Occurring(key, item.finding.since, vm.resource_id, finding_event_data(item))


def finding_event_data(item: VmFinding) -> dict[str, Any]:
    return {**finding_body(item), "attachedMonthlyCost": _unknown(NO_DISK_INVENTORY)}


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
        "deallocatedResidualMonthlyCost": _unknown(NO_DISK_INVENTORY),
        "savings": _unknown(NO_SAVINGS),
        "drift": _unknown(NO_ACTUALS),
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


def _unknown(reason: str) -> dict[str, Any]:
    return {"amount": None, "reason": reason}
