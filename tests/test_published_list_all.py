"""Virtual Machines - List All, as published and as documented, through ``shared.arm.parse_listing_page``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from devtools.events import vm_id
from shared.sources import ListedVm, parse_listing_page

PUBLISHED = Path(__file__).parent / "data" / "published" / "list_all"
VM = vm_id("vm1", "rg-app")


def example(name: str) -> dict[str, Any]:
    return json.loads((PUBLISHED / name).read_text(encoding="utf-8"))


def one_vm(*codes: str) -> ListedVm:
    """A status-only listing page with one VM whose instance view has ``codes``."""
    statuses = [{"code": code, "level": "Info"} for code in codes]
    page = {"value": [{"id": VM, "name": "vm1", "properties": {"instanceView": {"statuses": statuses}}}]}
    [vm], next_link = parse_listing_page(page)
    assert next_link is None
    return vm


def test_the_published_list_all_page_without_instance_views_lists_vms_with_no_power_state():
    body = example("VirtualMachine_ListAll_MinimumSet_Gen.json")["responses"]["200"]["body"]
    vms, next_link = parse_listing_page(body)
    assert next_link is None
    assert len(vms) == 2
    assert all(vm.power_state is None and vm.provisioning_state is None for vm in vms)
    assert not any(vm.hibernated for vm in vms)


def test_the_published_instance_view_reads_its_own_statuses_not_those_of_disks_agent_or_extensions():
    view = example("VirtualMachine_Get_InstanceView.json")["responses"]["200"]["body"]
    vms, _ = parse_listing_page({"value": [{"id": VM, "properties": {"instanceView": view}}]})
    assert vms == [ListedVm(VM, provisioning_state="succeeded", power_state="running", hibernated=False)]


def test_only_the_top_level_statuses_count_even_when_the_nested_ones_say_otherwise():
    view = copy.deepcopy(example("VirtualMachine_Get_InstanceView.json")["responses"]["200"]["body"])
    view["disks"][0]["statuses"].append({"code": "PowerState/deallocated"})
    view["statuses"] = [status for status in view["statuses"] if not status["code"].startswith("PowerState/")]
    [vm], _ = parse_listing_page({"value": [{"id": VM, "properties": {"instanceView": view}}]})
    assert vm.power_state is None


def test_a_vm_without_a_power_status_parses_as_no_power_state():
    vm = one_vm("ProvisioningState/succeeded")  # ARM omits it "due to intermittent issues"
    assert (vm.provisioning_state, vm.power_state) == ("succeeded", None)


def test_a_hibernated_vm_is_deallocated_and_flagged_hibernated():
    vm = one_vm("ProvisioningState/succeeded", "PowerState/deallocated", "HibernationState/Hibernated")
    assert (vm.power_state, vm.hibernated) == ("deallocated", True)


def test_a_failed_provisioning_keeps_its_error_code_and_the_power_state_still_counts():
    vm = one_vm("ProvisioningState/failed/AllocationFailed", "PowerState/running")
    assert (vm.provisioning_state, vm.power_state) == ("failed/AllocationFailed", "running")


def test_os_provisioning_substates_are_kept_whole():
    vm = one_vm("ProvisioningState/creating/OSProvisioningInprogress", "PowerState/running")
    assert vm.provisioning_state == "creating/OSProvisioningInprogress"


def test_codes_in_any_case_are_read_the_same():
    vm = one_vm("provisioningstate/Succeeded", "POWERSTATE/Stopped", "hibernationstate/hibernated")
    assert (vm.provisioning_state, vm.power_state, vm.hibernated) == ("Succeeded", "stopped", True)


def test_an_unknown_power_state_is_kept_as_unknown():
    assert one_vm("PowerState/unknown").power_state == "unknown"


def test_a_creating_power_state_is_read_as_creating_and_not_as_missing():
    assert one_vm("ProvisioningState/creating", "PowerState/creating").power_state == "creating"
