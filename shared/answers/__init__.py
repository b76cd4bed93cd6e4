"""Read-side use cases: reports, timelines, findings, paging; dataclasses (no HTTP, no Table keys)."""

from shared.answers.findings import VmFinding, facts_of, findings_page
from shared.answers.paging import Page, iter_all, page_of
from shared.answers.reports import VmReport, require_vm, transitions_page, vm_report, vms_page
from shared.answers.timelines import Segment, VmTimeline, vm_timeline

__all__ = [
    "Page",
    "Segment",
    "VmReport",
    "VmFinding",
    "VmTimeline",
    "facts_of",
    "findings_page",
    "iter_all",
    "page_of",
    "require_vm",
    "transitions_page",
    "vm_report",
    "vm_timeline",
    "vms_page",
]
