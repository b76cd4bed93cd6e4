"""Endpoints about VMs: one VM with its billed time, its transitions, and the list of VMs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.answers import (
    Page,
    all_prices,
    attached_estimate,
    attached_for,
    estimate,
    fleet_totals,
    page_bills,
    prices_for,
    transitions_page,
    vm_bill,
    vm_report,
    vms_page,
    whole_bill,
)
from shared.domain.ids import (
    ScaleSetId,
    VmId,
    instance_id_from_parts,
    parse_scale_set_id,
    require_part,
    vm_id_from_parts,
)
from shared.domain.times import format_time, utc_now
from shared.errors import InvalidInput
from shared.store import CurrentRow, Ledger, is_current_cursor, is_transition_cursor
from shared.web.bill_bodies import vm_bill_fields
from shared.web.bodies import (
    cost_body,
    paged_body,
    totals_fields,
    transition_body,
    vm_body,
    whole_bill_fields,
    window_fields,
)
from shared.web.csv_export import CSV_FORMAT, TRANSITION_COLUMNS, VM_COLUMNS, requested_format, vm_csv_item
from shared.web.params import MAX_WINDOW, check_window, continuation_after, earlier, page_size, query_window
from shared.web.responses import HttpResult, Request, csv_response

# ``top`` of the VM list and of a VM's transitions.
LIST_DEFAULT_TOP = 100
LIST_MAX_TOP = 1000


def get_vm(request: Request, ledger: Ledger, *, currency: str) -> dict[str, Any]:
    vm = _vm(request)
    as_of = utc_now()
    start, end = query_window(request.params, default_end=as_of)
    if start is not None:
        check_window(start, end, MAX_WINDOW)
    report = vm_report(ledger, vm, start, end, as_of, earliest=_earliest_default_start(end))
    body = vm_body(report.current)
    body.update(totals_fields(report.totals))
    prices = prices_for(ledger, currency, report.current)
    attached = attached_for(ledger, currency, [report.current.vm])
    bill = whole_bill(report.current, report.totals, report.start, min(report.end, as_of), prices, attached)
    body["estimatedCost"] = cost_body(bill.compute)
    body.update(whole_bill_fields(bill))
    body.update(
        vm_bill_fields(
            vm_bill(ledger, report, bill.compute.hourly_price, attached_estimate(attached)), currency
        )
    )
    body.update(window_fields(ledger.policy, report.start, report.end, as_of))
    return body


def list_vm_transitions(request: Request, ledger: Ledger) -> dict[str, Any] | HttpResult:
    output = requested_format(request.params)
    vm = _vm(request)
    start, end = query_window(request.params, default_end=None)
    top = page_size(request.params, LIST_DEFAULT_TOP, LIST_MAX_TOP)
    after = continuation_after(request.params)
    if after is not None and not is_transition_cursor(vm, after):
        raise InvalidInput("continuationToken", "continuationToken does not belong to this query")
    _, page = transitions_page(ledger, vm, start, end, top, after)
    body = paged_body([transition_body(row) for row in page.items], page.next_after, request)
    if output == CSV_FORMAT:
        return csv_response(TRANSITION_COLUMNS, body, "transitions.csv")
    cut = ledger.retained_from(utc_now())
    if cut is not None and (start is None or start < cut):
        body["retainedFrom"] = format_time(cut)  # older transitions were removed: the list starts here
    return body


def list_vms(request: Request, ledger: Ledger, *, currency: str) -> dict[str, Any] | HttpResult:
    """Current rows with inventory and hourly price; with ``from`` (and ``to``), each VM's billed and
    unknown seconds and estimated cost in that window, read from month rows for the whole page."""
    output = requested_format(request.params)
    page = vms_page_for(request.params, ledger, LIST_DEFAULT_TOP, LIST_MAX_TOP)
    as_of = utc_now()
    start, end = query_window(request.params, default_end=as_of)
    prices = all_prices(ledger, currency)
    items = [vm_body(row) for row in page.items]
    if start is None:
        for item, row in zip(items, page.items, strict=True):
            item["estimatedCost"] = cost_body(estimate(row, None, prices))
    else:
        check_window(start, end, MAX_WINDOW)
        attached = attached_for(ledger, currency, [row.vm for row in page.items])
        until = min(end, as_of) if end is not None else as_of
        all_totals = fleet_totals(ledger, page.items, start, end, as_of)
        bills = [
            whole_bill(row, totals, start, until, prices, attached)
            for row, totals in zip(page.items, all_totals, strict=True)
        ]
        actuals = page_bills(
            ledger, page.items, [totals.billed_seconds for totals in all_totals],
            (start, end if end is not None else as_of, as_of),
            [bill.compute.hourly_price for bill in bills], attached_estimate(attached),
        )  # fmt: skip
        for item, totals, bill, actual in zip(items, all_totals, bills, actuals, strict=True):
            item.update(totals_fields(totals))
            item["estimatedCost"] = cost_body(bill.compute)
            item.update(whole_bill_fields(bill))
            item.update(vm_bill_fields(actual, currency))
    body = paged_body(items, page.next_after, request)
    if start is not None:
        body.update(window_fields(ledger.policy, start, end, as_of))
    if output == CSV_FORMAT:
        return csv_response(VM_COLUMNS, {**body, "value": [vm_csv_item(item) for item in items]}, "vms.csv")
    return body


def vms_page_for(
    params: Mapping[str, str], ledger: Ledger, default_top: int, max_top: int
) -> Page[CurrentRow]:
    """The page of current rows that ``subscriptionId``, ``resourceGroup``, ``scaleSet``, ``top`` and the
    token ask for."""
    subscription, group, scale_set = requested_scope(params)
    top = page_size(params, default_top, max_top)
    after = continuation_after(params)
    if after is not None and not is_current_cursor(after):
        raise InvalidInput("continuationToken", "continuationToken does not belong to this query")
    return vms_page(ledger, subscription, group, top, after, scale_set=scale_set)


def requested_scope(params: Mapping[str, str]) -> tuple[str | None, str | None, ScaleSetId | str | None]:
    """The VMs a fleet answer is about: ``subscriptionId``, ``resourceGroup`` and ``scaleSet``, validated;
    a scale set's resource id names its subscription too."""
    subscription = params.get("subscriptionId")
    group = params.get("resourceGroup")
    if subscription is not None:
        require_part("subscriptionId", subscription)
    if group is not None:
        require_part("resourceGroup", group)
    scale_set = _scale_set_filter(params.get("scaleSet"))
    if isinstance(scale_set, ScaleSetId):
        if subscription is not None and subscription.lower() != scale_set.subscription_key:
            raise InvalidInput("scaleSet", "scaleSet is not in the subscription subscriptionId names")
        subscription = scale_set.subscription_id
    return subscription, group, scale_set


def _scale_set_filter(value: str | None) -> ScaleSetId | str | None:
    """``scaleSet=``: a scale set's resource id, or its name (in any resource group)."""
    if value is None:
        return None
    if value.startswith("/"):
        scale_set = parse_scale_set_id(value)
        if scale_set is None:
            raise InvalidInput("scaleSet", "scaleSet must be a scale set name or resource id")
        return scale_set
    if not value or "/" in value:
        raise InvalidInput("scaleSet", "scaleSet must be a scale set name or resource id")
    return require_part("scaleSetName", value)


def _earliest_default_start(end: datetime) -> datetime | None:
    """Without ``from``, ``get_vm`` starts at the VM's first record, but never more than ``MAX_WINDOW``
    before ``to`` (no record is older than the year 1, so there is no bound to apply before it)."""
    try:
        return earlier(end, MAX_WINDOW)
    except InvalidInput:
        return None


def _vm(request: Request) -> VmId:
    """The VM of ``vms/{sub}/{group}/{vmName}``, or the instance of
    ``vms/{sub}/{group}/{scaleSetName}/instances/{instanceId}``."""
    route = request.route
    if "instanceId" in route:
        return instance_id_from_parts(
            route.get("subscriptionId", ""),
            route.get("resourceGroup", ""),
            route.get("scaleSetName", ""),
            route.get("instanceId", ""),
        )
    return vm_id_from_parts(
        route.get("subscriptionId", ""), route.get("resourceGroup", ""), route.get("vmName", "")
    )
