"""The scale set parsers hold to the published REST spec examples (``tests/data/published/vmss/``), and
instance and scale set ids and events are told apart from VMs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from devtools.events import (
    ACTION_OK,
    SUB,
    at,
    instance_id,
    scale_set_id,
    scale_set_operation,
    vm_id,
    wire_event,
)
from shared.domain.ids import VmId, parse_scale_set_id, parse_vm_id, vm_id_from_key
from shared.domain.inventory import OsType, Priority
from shared.domain.operations import Target, classify_operation, event_filter_prefixes
from shared.sources import ScaleSetEvent, Skipped, VmEvent, inbound_from_json, parse_resource_event
from shared.sources.scale_set_listing import parse_instance_page, parse_scale_set_page

VMSS = Path(__file__).resolve().parent / "data" / "published" / "vmss"


# The examples' ids hold placeholders that no real id has; the same placeholders are filled in here (and
# nothing else changed), as tests/data/published/events/vm/ does for the event samples.
PLACEHOLDERS = {
    "{subscription-id}": SUB,
    "{resourceGroupName}": "rg-published",
    "{virtualMachineScaleSetName}": "ss-published",
    "{vmss-name}": "ss-published",
}


def body_of(name: str) -> dict:
    text = (VMSS / name).read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return json.loads(text)["responses"]["200"]["body"]


def test_the_published_scale_set_list_all_gives_size_location_mode_and_os():
    [listed], link = parse_scale_set_page(body_of("VirtualMachineScaleSet_ListAll_MaximumSet_Gen.json"))
    raw = body_of("VirtualMachineScaleSet_ListAll_MaximumSet_Gen.json")["value"][0]
    assert listed.scale_set.name == raw["name"] and listed.size == raw["sku"]["name"]
    assert (listed.orchestration_mode, listed.is_uniform, listed.os_type) == ("Uniform", True, "Windows")
    assert link == body_of("VirtualMachineScaleSet_ListAll_MaximumSet_Gen.json")["nextLink"]
    # Its instances' inventory: the set's sku and OS, the profile's priority and licence, the set's tags.
    spec = listed.spec
    assert (spec.vm_size, spec.location, spec.os_type) == (
        raw["sku"]["name"],
        raw["location"],
        OsType.WINDOWS,
    )
    profile = raw["properties"]["virtualMachineProfile"]
    assert (spec.priority, spec.license_type) == (Priority.REGULAR, profile["licenseType"])
    assert dict(spec.tags) == raw["tags"] == {"key8425": "aaa"}


def test_a_scale_set_without_an_orchestration_mode_is_uniform():
    listed, _ = parse_scale_set_page(body_of("VirtualMachineScaleSet_ListAll_MinimumSet_Gen.json"))
    assert listed and all(item.is_uniform and item.size is None for item in listed)


def test_published_instance_pages_give_instance_ids_and_no_power_without_real_codes():
    listed, _ = parse_instance_page(body_of("VirtualMachineScaleSetVM_List_WithResiliencyView.json"))
    assert [parse_vm_id(item.resource_id).name for item in listed] == ["1", "2"]
    assert all(parse_vm_id(item.resource_id).scale_set_name == "ss-published" for item in listed)
    assert all(item.power_state is None for item in listed)  # no instanceView without $expand
    generated, _ = parse_instance_page(body_of("VirtualMachineScaleSetVM_List_MaximumSet_Gen.json"))
    assert [item.power_state for item in generated] == [None]  # placeholder codes are not power states


def test_an_instance_with_the_published_instance_view_reads_as_running():
    page = copy.deepcopy(body_of("VirtualMachineScaleSetVM_List_WithResiliencyView.json"))
    view = json.loads(
        (VMSS / "VirtualMachineScaleSetVM_Get_InstanceViewAutoPlacedOnDedicatedHostGroup.json").read_text()
    )["responses"]["200"]["body"]
    page["value"][0]["properties"]["instanceView"] = view
    first = parse_instance_page(page)[0][0]
    assert (first.power_state, first.provisioning_state) == ("running", "succeeded")


def test_instance_ids_are_case_insensitive_and_their_keys_never_meet_a_vm_key():
    lower = parse_vm_id(instance_id("3", "Web-SS", "RG-App").lower())
    upper = parse_vm_id(instance_id("3", "Web-SS", "RG-App").replace("resourceGroups", "RESOURCEGROUPS"))
    assert lower.vm_key == upper.vm_key == "rg-app|web-ss:3"
    assert upper.resource_id == instance_id("3", "Web-SS", "RG-App")
    assert parse_vm_id(vm_id("web-ss", "rg-app")).vm_key == "rg-app|web-ss"
    assert vm_id_from_key("s", "rg-app|web-ss:3") == VmId("s", "rg-app", "3", "web-ss")
    assert vm_id_from_key("s", "rg-app|web-ss") == VmId("s", "rg-app", "web-ss")
    assert parse_vm_id(instance_id("3") + "/extensions/x") is None
    assert (
        parse_scale_set_id(scale_set_id()).name == "web-ss" and parse_scale_set_id(instance_id("1")) is None
    )


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("Microsoft.Compute/virtualMachines/start/action", (Target.VM, "start/action")),
        ("Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action",
         (Target.INSTANCE, "deallocate/action")),
        ("microsoft.compute/VIRTUALMACHINESCALESETS/powerOff/action", (Target.SCALE_SET, "poweroff/action")),
        ("Microsoft.Compute/virtualMachineScaleSets/delete/action", (Target.SCALE_SET, "delete")),
        ("Microsoft.Compute/virtualMachineScaleSets/write", (Target.SCALE_SET, "write")),
        ("Microsoft.Compute/virtualMachineScaleSets/extensions/write", None),
        ("Microsoft.Storage/storageAccounts/write", None),
    ],
)  # fmt: skip
def test_operations_are_classified_by_what_they_are_about(operation, expected):
    assert classify_operation(operation) == expected


def test_every_scale_set_operation_of_the_table_passes_the_filter_prefixes():
    prefixes = [prefix.lower() for prefix in event_filter_prefixes()]
    assert len(prefixes) <= 25  # Event Grid's limit of values per advanced filter
    for operation in ("Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start/action",
                      "Microsoft.Compute/virtualMachineScaleSets/deallocate/action"):  # fmt: skip
        assert any(operation.lower().startswith(prefix) for prefix in prefixes)
    extension = "microsoft.compute/virtualmachinescalesets/extensions/write"
    assert not any(extension.startswith(prefix) for prefix in prefixes)


def parsed(wire: dict):
    return parse_resource_event(inbound_from_json(wire))


def test_a_scale_set_event_is_parsed_with_its_instance_operation_and_hibernate_flag():
    wire = wire_event("deallocate", at(1), resource_id=scale_set_id(), url_query="&hibernate=true",
                      operation=scale_set_operation("deallocate"))  # fmt: skip
    event = parsed(wire)
    assert isinstance(event, ScaleSetEvent)
    assert (event.instance_operation, event.hibernate, event.outcome) == (
        "deallocate/action",
        True,
        "Succeeded",
    )
    assert event.scale_set.resource_id == scale_set_id()


def test_kinds_that_disagree_are_malformed_and_scale_set_children_are_skipped():
    vm_op_on_instance = wire_event("start", at(1), resource_id=instance_id("1"))
    assert parsed(vm_op_on_instance) == Skipped(
        "operation and resource id are not about the same kind of VM", malformed=True
    )
    set_op_on_instance = wire_event("start", at(1), resource_id=instance_id("1"),
                                    operation=scale_set_operation("start"))  # fmt: skip
    assert parsed(set_op_on_instance).malformed
    operation = "Microsoft.Compute/virtualMachineScaleSets/extensions/write"
    extension = wire_event("write", at(1), resource_id=scale_set_id() + "/extensions/x", operation=operation)
    assert parsed(extension) == Skipped("scale set operation that does not change instances' power")
    instance = wire_event("restart", at(1), resource_id=instance_id("7"), event_type=ACTION_OK,
                          operation=scale_set_operation("restart", instance=True))  # fmt: skip
    accepted = parsed(instance)
    assert isinstance(accepted, VmEvent) and accepted.vm.scale_set_name == "web-ss"
    assert accepted.change.power_state == "running"
