"""Inputs from Azure, all untrusted: Event Grid / CloudEvents events (resource and health events),
Resource Manager listings and instance views, Resource Graph's sweep, the Activity Log, Cost
Management's daily costs; the queue message
that carries a scale set event to the queue function."""

from shared.sources._pager import ListingError
from shared.sources.activity_log import RETENTION_DAYS, VmOperation, list_vm_operations, vm_operations
from shared.sources.arm import ArmClient
from shared.sources.attached_listing import AttachedListing, list_attached
from shared.sources.cost_management import CostManagementClient
from shared.sources.events import (
    InboundEvent,
    ScaleSetEvent,
    Skipped,
    VmEvent,
    inbound_from_binding,
    inbound_from_json,
    parse_resource_event,
)
from shared.sources.findings_topic import FindingsTopic, batches
from shared.sources.graph_rows import Quota, parse_graph_page
from shared.sources.health_events import (
    HEALTH_EVENT_TYPES,
    HealthEvent,
    is_health_event,
    parse_health_event,
)
from shared.sources.instance_view import parse_instance_view
from shared.sources.resource_graph import MAX_SUBSCRIPTIONS_PER_QUERY, ResourceGraphClient
from shared.sources.retail_prices import RetailPricesClient
from shared.sources.scale_set_listing import ListedScaleSet, parse_instance_page, parse_scale_set_page
from shared.sources.scale_set_messages import read_scale_set_message, scale_set_message
from shared.sources.vm_listing import ListedVm, parse_listing_page
from shared.sources.vm_models import ListedModel, parse_model_page

__all__ = [
    "batches",
    "HEALTH_EVENT_TYPES",
    "ArmClient",
    "CostManagementClient",
    "AttachedListing",
    "list_attached",
    "FindingsTopic",
    "HealthEvent",
    "InboundEvent",
    "ListedScaleSet",
    "RETENTION_DAYS",
    "ListedModel",
    "ListedVm",
    "ListingError",
    "MAX_SUBSCRIPTIONS_PER_QUERY",
    "Quota",
    "ResourceGraphClient",
    "parse_graph_page",
    "ScaleSetEvent",
    "Skipped",
    "VmEvent",
    "VmOperation",
    "inbound_from_binding",
    "inbound_from_json",
    "is_health_event",
    "parse_health_event",
    "parse_instance_page",
    "parse_instance_view",
    "list_vm_operations",
    "parse_listing_page",
    "parse_scale_set_page",
    "RetailPricesClient",
    "parse_listing_page",
    "parse_model_page",
    "parse_resource_event",
    "read_scale_set_message",
    "scale_set_message",
    "vm_operations",
]
