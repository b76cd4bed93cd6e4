"""The JSON bodies of the API: the only place its field names are spelt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.answers import CostsReport, DiskFinding, VmFinding, WholeBill
from shared.domain.accounting import WindowTotals
from shared.domain.attached_pricing import AttachedCost, ItemCost
from shared.domain.chargeback import ExtraTotal, GroupTotal
from shared.domain.evidence import ActivityLogRecord, HealthAnnotation, ListingObservation, ResourceEvent
from shared.domain.findings import FindingKind, Thresholds
from shared.domain.pricing import CostEstimate, CostReason
from shared.domain.times import format_time
from shared.domain.vm_state import BillingPolicy, VmState
from shared.store import CurrentRow, TransitionRow
from shared.web.bill_bodies import bill_fields, drift_body
from shared.web.numbers import as_number, money
from shared.web.params import next_link
from shared.web.responses import Request


def state_body(state: VmState | None) -> dict[str, Any]:
    """A state's fields; ``None`` (the VM did not exist yet, as far as the ledger knows) has no power
    state and bills nothing."""
    return {
        "provisioningState": state.provisioning_state if state else None,
        "powerState": state.power_state if state else None,
        "hibernated": state.hibernated if state else False,
        "deleted": state.deleted if state else False,
        "billable": state.billable if state else False,
    }


def vm_body(current: CurrentRow) -> dict[str, Any]:
    """A VM's fields; scale set instances and Flexible members also carry ``scaleSet`` (and instances
    ``instanceId``), which VMs of their own leave out, so their answers are as they always were."""
    vm, state = current.vm, current.condition.state
    body = {
        "resourceId": vm.resource_id,
        "subscriptionId": vm.subscription_id,
        "resourceGroup": vm.resource_group,
        "vmName": vm.display_name,
        **state_body(state),
        "since": format_time(state.since),
        "lastChange": format_time(current.span.last_time),
        **inventory_fields(current),
    }
    scale_set = current.scale_set
    if scale_set is not None:
        body["scaleSet"] = {"name": scale_set.name, "id": scale_set.resource_id}
    if vm.scale_set is not None:
        body["instanceId"] = vm.name
    return body


def inventory_fields(current: CurrentRow) -> dict[str, Any]:
    """What the VM is, from the last inventory refresh that saw it (all ``null`` before the first)."""
    spec, listed_at = current.profile.spec, current.profile.spec_at
    return {
        "vmSize": spec.vm_size if spec else None,
        "location": spec.location if spec else None,
        "osType": spec.os_type.value if spec and spec.os_type else None,
        "licenseType": spec.license_type if spec else None,
        "priority": spec.priority.value if spec else None,
        "tags": dict(spec.tags) if spec else None,
        "inventoryAsOf": format_time(listed_at) if listed_at else None,
    }


def cost_body(cost: CostEstimate) -> dict[str, Any]:
    """``estimatedCost``: the amount for the window, the hourly price it used and when that was fetched;
    ``amount`` is ``null`` with a ``reason`` when there is no price (never 0)."""
    price = cost.hourly_price
    return {
        "amount": money(cost.amount),
        "currency": cost.currency,
        "hourlyPrice": float(price.amount) if price else None,
        "meter": price.meter if price else None,
        "priceAsOf": format_time(cost.price_as_of) if cost.price_as_of else None,
        "reason": cost.reason.value if cost.reason else None,
    }


def whole_bill_fields(bill: WholeBill) -> dict[str, Any]:
    """``attachedCost`` (disks and IPs over the window, and per month now), ``totalCost`` (compute plus
    them) and ``avoidedCost`` (deallocated hours at the compute price); ``amount`` ``null`` with a
    ``reason`` when unknown, never 0."""
    kept, total, avoided = bill.attached, bill.total, bill.avoided
    disks = [
        {"id": i.resource_id, "sku": i.sku, "tier": i.tier, **_priced(i)} for i in kept.items if i.is_disk
    ]
    ips = [{"id": i.resource_id, "sku": i.sku, **_priced(i)} for i in kept.items if not i.is_disk]
    return {
        "attachedCost": {
            "amount": money(kept.amount), "currency": kept.currency, "disks": disks, "publicIps": ips,
            "monthly": money(kept.monthly), "reason": _reason(kept.reason),
        },
        "totalCost": {
            "amount": money(total.amount), "currency": total.currency, "reason": _reason(total.reason),
        },
        "avoidedCost": {
            "amount": money(avoided.amount), "currency": avoided.currency,
            "hours": _hours(avoided.seconds), "reason": _reason(avoided.reason),
        },
    }  # fmt: skip


def _priced(item: ItemCost) -> dict[str, Any]:
    return {"amount": money(item.amount), "reason": _reason(item.reason)}


def _hours(seconds: float) -> int | float:
    return as_number(seconds / 3600)


def _reason(reason: CostReason | None) -> str | None:
    return reason.value if reason else None


def group_body(group: GroupTotal, currency: str) -> dict[str, Any]:
    body = {
        "group": group.key,
        "vmCount": group.vm_count,
        "billedSeconds": as_number(group.billed_seconds),
        "unknownSeconds": as_number(group.unknown_seconds),
        "estimatedCost": {"amount": money(group.amount), "currency": currency},
        "unpricedVmCount": group.unpriced_vm_count,
        "unpricedBilledSeconds": as_number(group.unpriced_billed_seconds),
        **bill_fields(group.bill, currency),
    }
    extra, unit = group.extra or ExtraTotal(), {"currency": currency}
    body.update(
        attachedCost={"amount": money(extra.attached), **unit, "monthly": money(extra.attached_monthly),
                      "unpricedVmCount": extra.unpriced_attached_vm_count},
        totalCost={"amount": money(extra.total), **unit, "unpricedVmCount": extra.unpriced_total_vm_count},
        avoidedCost={"amount": money(extra.avoided), **unit, "hours": _hours(extra.avoided_seconds)},
    )  # fmt: skip
    return body


def costs_body(report: CostsReport) -> dict[str, Any]:
    """``/costs``: one entry per group, and the fleet's total."""
    total = GroupTotal(None)
    for group in report.groups:
        total.billed_seconds += group.billed_seconds
        total.unknown_seconds += group.unknown_seconds
        total.vm_count += group.vm_count
        total.unpriced_vm_count += group.unpriced_vm_count
        total.unpriced_billed_seconds += group.unpriced_billed_seconds
        if group.amount is not None:
            total.amount = (total.amount or Decimal(0)) + group.amount
        total.bill.merge(group.bill)
        if group.extra is not None:
            total.extra = total.extra or ExtraTotal()
            total.extra.merge(group.extra)
    body = group_body(total, report.currency)
    del body["group"]
    return {
        "groupBy": report.group_by.label,
        "currency": report.currency,
        "pricesAsOf": format_time(report.prices_as_of) if report.prices_as_of else None,
        "value": [group_body(group, report.currency) for group in report.groups],
        "total": body,
    }


def transition_body(row: TransitionRow) -> dict[str, Any]:
    """A transition with its evidence: fields its source does not have are ``null``."""
    evidence = row.evidence
    correlation_id = (
        evidence.correlation_id if isinstance(evidence, ResourceEvent | ActivityLogRecord) else None
    )
    changed_after = evidence.changed_after if isinstance(evidence, ListingObservation) else None
    return {
        "time": format_time(row.time),
        **state_body(row.state),
        "operationName": evidence.operation_name,
        "source": evidence.source.value,
        "eventId": evidence.id,
        "correlationId": correlation_id,
        "cause": evidence.cause.value if isinstance(evidence, HealthAnnotation) else None,
        "billingPolicy": row.billing_policy,
        "changedAfter": format_time(changed_after) if changed_after else None,
    }


def totals_fields(totals: WindowTotals) -> dict[str, Any]:
    return {
        "billedSeconds": as_number(totals.billed_seconds),
        "unknownSeconds": as_number(totals.unknown_seconds),
    }


def window_fields(policy: BillingPolicy, start: datetime, end: datetime, as_of: datetime) -> dict[str, Any]:
    return {
        "window": {"from": format_time(start), "to": format_time(end)},
        "asOf": format_time(as_of),
        "billedPowerStates": policy.ordered,
    }


def paged_body(items: list[dict[str, Any]], next_after: str | None, request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"value": items}
    if next_after is not None:
        body["nextLink"] = next_link(request, next_after)
    return body


# ---- findings ------------------------------------------------------------------------------------------


def finding_body(item: VmFinding) -> dict[str, Any]:
    """One finding: the VM and its current state, then what was found. ``since`` is the finding's;
    ``estimatedCost`` is that of its ``billedHours``."""
    current, finding = item.current, item.finding
    cause = current.condition.cause
    return {
        "kind": finding.kind.value,
        **vm_body(current),
        "since": format_time(finding.since),
        "hours": as_number(finding.hours),
        "billedHours": as_number(finding.billed_hours),
        "estimatedCost": cost_body(item.cost),
        **({"attachedCost": attached_monthly_body(item.attached)} if item.attached is not None else {}),
        "reachedBy": finding.reached_by.value if finding.reached_by else None,
        "causeSource": cause.source.value if cause else None,
        "causeOperation": cause.operation_name if cause else None,
        "lastConfirmed": format_time(current.confirmed_at),
        **({"drift": drift_body(finding.drift)} if finding.drift is not None else {}),
    }


def attached_monthly_body(cost: AttachedCost) -> dict[str, Any]:
    """What a VM's disks and IPs cost a month now (``deallocatedLong``: what it still costs while off)."""
    return {"monthly": money(cost.monthly), "currency": cost.currency, "reason": _reason(cost.reason)}


def disk_finding_body(item: DiskFinding) -> dict[str, Any]:
    """An unattached disk: where it is, what it is, since when no VM owns it and what it costs a month."""
    disk, finding = item.disk.disk, item.finding
    parts = disk.resource_id.split("/")
    cost = item.cost.items[0] if item.cost.items else None
    return {
        "kind": finding.kind.value,
        "resourceId": disk.resource_id,
        "subscriptionId": item.subscription_id,
        "resourceGroup": parts[4] if len(parts) > 4 else None,
        "diskName": parts[-1],
        "sku": disk.sku,
        "tier": cost.tier if cost else None,
        "sizeGb": disk.size_gb,
        "location": disk.location,
        "timeCreated": format_time(disk.created) if disk.created else None,
        "since": format_time(finding.since),
        "hours": as_number(finding.hours),
        "monthlyCost": {
            "amount": money(item.cost.monthly),
            "currency": item.cost.currency,
            "reason": _reason(cost.reason) if cost else None,
        },
    }


def findings_fields(kinds: Sequence[FindingKind], thresholds: Thresholds, as_of: datetime) -> dict[str, Any]:
    return {
        "asOf": format_time(as_of),
        "kinds": [kind.value for kind in kinds],
        "thresholds": {
            "stoppedButBilledMinHours": as_number(thresholds.stopped_min_hours),
            "deallocatedLongMinHours": as_number(thresholds.deallocated_min_hours),
            "failedProvisioningMinHours": as_number(thresholds.failed_min_hours),
            "unconfirmedAfterHours": as_number(thresholds.unconfirmed_after_hours),
            "unconfirmedMinHours": as_number(thresholds.unconfirmed_min_hours),
            "unattachedDiskMinHours": as_number(thresholds.unattached_min_hours),
        },
    }
