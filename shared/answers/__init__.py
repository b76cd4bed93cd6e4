"""Read-side use cases: reports, timelines, findings, paging; dataclasses (no HTTP, no Table keys)."""

from shared.answers._fleet import MAX_WINDOW_MONTHS
from shared.answers.actuals import daily_billed_hours, page_bills, vm_bill
from shared.answers.costs import (
    PriceView,
    VmWindowCost,
    all_prices,
    estimate,
    fleet_totals,
    iter_window_costs,
    prices_for,
)
from shared.answers.costs_report import CostsReport, costs_report
from shared.answers.digest import DailyDigest, StoppedDay, daily_digest, priced_total
from shared.answers.digest_bill import DigestBill, LooseDisk, Residual, Saved
from shared.answers.disk_findings import DiskFinding, disk_findings_page
from shared.answers.findings import VmFinding, all_findings, facts_of, findings_page
from shared.answers.focus import VmDay, vm_days
from shared.answers.paging import Page, iter_all, page_of
from shared.answers.reports import VmReport, require_vm, transitions_page, vm_report, vms_page
from shared.answers.timelines import Segment, VmTimeline, fleet_timelines, vm_timeline
from shared.answers.whole_bill import (
    AttachedView,
    WholeBill,
    attached_estimate,
    attached_for,
    attached_for_subscription,
    whole_bill,
)

__all__ = [
    "DiskFinding",
    "disk_findings_page",
    "AttachedView",
    "WholeBill",
    "attached_estimate",
    "attached_for",
    "attached_for_subscription",
    "whole_bill",
    "MAX_WINDOW_MONTHS",
    "CostsReport",
    "DailyDigest",
    "DigestBill",
    "LooseDisk",
    "Residual",
    "Saved",
    "VmWindowCost",
    "daily_digest",
    "iter_window_costs",
    "Page",
    "PriceView",
    "Segment",
    "StoppedDay",
    "VmReport",
    "VmDay",
    "vm_days",
    "daily_billed_hours",
    "page_bills",
    "vm_bill",
    "VmFinding",
    "VmTimeline",
    "all_findings",
    "facts_of",
    "findings_page",
    "all_prices",
    "costs_report",
    "estimate",
    "fleet_timelines",
    "fleet_totals",
    "iter_all",
    "page_of",
    "priced_total",
    "prices_for",
    "require_vm",
    "transitions_page",
    "vm_report",
    "vm_timeline",
    "vms_page",
]
