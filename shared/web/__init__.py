"""HTTP without ``azure.functions``: parameters in, ``HttpResult`` out; the composition root
(``shared.context``) gives each view what it needs, and the triggers wrap its answers; the data of the
events pushed to the findings topic, in the same field names."""

from shared.web.costs import list_costs
from shared.web.findings import list_findings
from shared.web.page import SNAPSHOT_SLOT, embed_snapshot, vm_timeline_page
from shared.web.pushed import digest_data, finding_occurrences
from shared.web.responses import HttpResult, Request, respond
from shared.web.timelines import list_vm_timelines
from shared.web.vms import get_vm, list_vm_transitions, list_vms

__all__ = [
    "SNAPSHOT_SLOT",
    "HttpResult",
    "Request",
    "digest_data",
    "embed_snapshot",
    "finding_occurrences",
    "get_vm",
    "list_findings",
    "list_costs",
    "list_vm_timelines",
    "list_vm_transitions",
    "list_vms",
    "respond",
    "vm_timeline_page",
]
