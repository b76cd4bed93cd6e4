"""Read-side use cases: reports, timelines and paging, returned as dataclasses (no HTTP, no Table keys)."""

from shared.answers.paging import Page, iter_all, page_of
from shared.answers.reports import VmReport, require_vm, transitions_page, vm_report, vms_page
from shared.answers.timelines import Segment, VmTimeline, vm_timeline

__all__ = [
    "Page",
    "Segment",
    "VmReport",
    "VmTimeline",
    "iter_all",
    "page_of",
    "require_vm",
    "transitions_page",
    "vm_report",
    "vm_timeline",
    "vms_page",
]
