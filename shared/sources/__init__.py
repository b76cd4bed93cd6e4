"""Inputs from Azure, all untrusted: Event Grid / CloudEvents events, Resource Manager listings, the
Activity Log."""

from shared.sources._pager import ListingError
from shared.sources.activity_log import RETENTION_DAYS, VmOperation, list_vm_operations, vm_operations
from shared.sources.arm import ArmClient
from shared.sources.events import (
    InboundEvent,
    Skipped,
    VmEvent,
    inbound_from_binding,
    inbound_from_json,
    parse_vm_event,
)
from shared.sources.vm_listing import ListedVm, parse_listing_page

__all__ = [
    "ArmClient",
    "InboundEvent",
    "RETENTION_DAYS",
    "ListedVm",
    "ListingError",
    "Skipped",
    "VmEvent",
    "VmOperation",
    "inbound_from_binding",
    "inbound_from_json",
    "list_vm_operations",
    "parse_listing_page",
    "parse_vm_event",
    "vm_operations",
]
