"""Inputs from Azure, all untrusted: Event Grid / CloudEvents events and Resource Manager listings."""

from shared.sources._pager import ListingError
from shared.sources.arm import ArmClient
from shared.sources.events import (
    InboundEvent,
    Skipped,
    VmEvent,
    inbound_from_binding,
    inbound_from_json,
    parse_vm_event,
)
from shared.sources.retail_prices import RetailPricesClient
from shared.sources.vm_listing import ListedVm, parse_listing_page
from shared.sources.vm_models import ListedModel, parse_model_page

__all__ = [
    "ArmClient",
    "InboundEvent",
    "ListedModel",
    "ListedVm",
    "ListingError",
    "Skipped",
    "VmEvent",
    "inbound_from_binding",
    "inbound_from_json",
    "RetailPricesClient",
    "parse_listing_page",
    "parse_model_page",
    "parse_vm_event",
]
