"""The JSON bodies of the API: the only place its field names are spelt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.answers import Segment
from shared.domain.accounting import WindowTotals
from shared.domain.findings import Finding, FindingKind, Thresholds
from shared.domain.times import format_time
from shared.domain.vm_state import BillingPolicy, VmState
from shared.store import CurrentRow, TransitionRow
from shared.web.params import next_link
from shared.web.responses import Request


def as_number(seconds: float) -> int | float:
    """Whole seconds as an int in JSON, fractions kept to the microsecond."""
    rounded = round(seconds, 6)
    return int(rounded) if rounded.is_integer() else rounded


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
    vm = current.vm
    body = {
        "resourceId": vm.resource_id,
        "subscriptionId": vm.subscription_id,
        "resourceGroup": vm.resource_group,
        "vmName": vm.display_name,
        **state_body(current.state),
        "since": format_time(current.state.since),
        "lastChange": format_time(current.last_time),
    }
    scale_set = current.scale_set
    if scale_set is not None:
        body["scaleSet"] = {"name": scale_set.name, "id": scale_set.resource_id}
    if vm.scale_set is not None:
        body["instanceId"] = vm.name
    return body


def transition_body(row: TransitionRow) -> dict[str, Any]:
    return {
        "time": format_time(row.time),
        **state_body(row.state),
        "operationName": row.operation_name,
        "source": row.source,
        "eventId": row.event_id,
        "correlationId": row.correlation_id,
        "cause": row.cause,
        "billingPolicy": row.billing_policy,
        "changedAfter": format_time(row.changed_after) if row.changed_after else None,
    }


def segment_body(segment: Segment) -> dict[str, Any]:
    cause = segment.cause
    return {
        "from": format_time(segment.start),
        "to": format_time(segment.end),
        **state_body(segment.state),
        "operationName": (cause.operation_name or None) if cause else None,
        "source": cause.source if cause else None,
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


def finding_body(current: CurrentRow, finding: Finding) -> dict[str, Any]:
    """One finding: the VM and its current state, then what was found. ``since`` is the finding's."""
    return {
        "kind": finding.kind.value,
        **vm_body(current),
        "since": format_time(finding.since),
        "hours": as_number(finding.hours),
        "billedHours": as_number(finding.billed_hours),
        "estimatedCost": finding.estimated_cost,  # filled in by the cost feature; null until then
        "reachedBy": finding.reached_by.value if finding.reached_by else None,
        "causeSource": current.last_cause_source,
        "causeOperation": current.last_cause_operation,
        "lastConfirmed": format_time(current.confirmed_at),
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
        },
    }
