"""A small fake Azure Resource Manager on loopback: "Virtual Machines - List All" (``statusOnly=true``
answers each VM's instance view, the status listing reconcile reads; without it, each VM's model: size,
OS disk, priority, license, tags, the inventory listing), "Virtual Machines - Instance View", Azure
Resource Graph's query endpoint (``resource_graph``: the sweep's queries, over the same VMs), Cost
Management's Query (``cost_management``: daily rows per resource, paged, throttled on request), the scale
set listings ("Virtual Machine Scale Sets - List All", "Virtual Machine Scale Set VMs - List" with
``$expand=instanceView``) and the Activity Log's management events (``eventtypes/management/values``),
shaped like the published examples in ``tests/data/published/``.

Tests and the demo use it instead of management.azure.com: it answers with responses shaped like real
ones (``value`` + ``nextLink`` with an opaque ``$skiptoken``), can inject the faults a reconcile must
survive (throttling with ``Retry-After``, a page that always fails, a dropped connection, a body that is
not JSON), and records every request so tests can check what the client sent. An instance view is the
published example body (``tests/data/published/instance_view/VirtualMachine_Get_InstanceView.json``)
with the listed VM's ``statuses``: one source of truth for both APIs.

One module per concern: ``bodies`` (VM, scale set and instance view bodies), ``activity_log`` (records
of one operation), ``state`` (what the fake serves and the faults it injects), ``handler`` (the HTTP
answers), ``server`` (``FakeArm``) and ``__main__`` (the command line the demo starts, ``python -m
devtools.fake_arm``).
"""

from __future__ import annotations

from devtools.fake_arm.activity_log import PUBLISHED_ACTIVITY_LOG, activity_record, operation_records
from devtools.fake_arm.bodies import (
    instance_view_body,
    make_instance,
    make_scale_set,
    make_vm,
    model_view,
    status_view,
)
from devtools.fake_arm.cost_management import BillLine, CostState
from devtools.fake_arm.resource_graph import GraphState, make_row
from devtools.fake_arm.server import FakeArm
from devtools.fake_arm.state import Faults, load_listing_file
from devtools.loopback import RecordedRequest

__all__ = [
    "PUBLISHED_ACTIVITY_LOG",
    "BillLine",
    "CostState",
    "FakeArm",
    "Faults",
    "GraphState",
    "RecordedRequest",
    "activity_record",
    "instance_view_body",
    "load_listing_file",
    "make_instance",
    "make_row",
    "make_scale_set",
    "make_vm",
    "model_view",
    "operation_records",
    "status_view",
]
