"""Inputs from Azure, all untrusted: Event Grid / CloudEvents events and Resource Manager listings."""

from shared.sources._pager import ListingError
from shared.sources.arm import ArmClient
from shared.sources.events import (
    InboundEvent,
    ScaleSetEvent,
    Skipped,
    VmEvent,
    inbound_from_binding,
    inbound_from_json,
    parse_vm_event,
)
from shared.sources.scale_set_listing import ListedScaleSet, parse_instance_page, parse_scale_set_page
from shared.sources.vm_listing import ListedVm, parse_listing_page

__all__ = [
    "ArmClient",
    "InboundEvent",
    "ListedScaleSet",
    "ListedVm",
    "ListingError",
    "ScaleSetEvent",
    "Skipped",
    "VmEvent",
    "inbound_from_binding",
    "inbound_from_json",
    "parse_instance_page",
    "parse_listing_page",
    "parse_scale_set_page",
    "parse_vm_event",
]
