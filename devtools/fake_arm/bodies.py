"""Bodies the fake ARM serves, shaped like the published examples: a VM as List All shows it (with
``statusOnly=true`` or without), its instance view, a scale set and one of its instances."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from devtools.published import PUBLISHED

_PROVISIONING_TIME = "2024-10-01T08:00:00.1234567+00:00"
_PUBLISHED_INSTANCE_VIEW = PUBLISHED / "instance_view" / "VirtualMachine_Get_InstanceView.json"


def make_vm(
    subscription_id: str,
    resource_group: str,
    name: str,
    *,
    power: str | None = "running",
    provisioning: str = "succeeded",
    hibernated: bool = False,
    location: str = "westeurope",
    vm_size: str | None = None,
    os_type: str = "Linux",
    priority: str | None = None,
    license_type: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A VM object shaped like one entry of a real statusOnly List All page.

    ``power=None`` leaves out the PowerState status, as ARM does "due to intermittent issues". With
    ``vm_size`` it also carries the model fields the listing without ``statusOnly`` returns.
    """
    statuses = [_provisioning_status(provisioning)]
    if power is not None:
        statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
    if hibernated:
        statuses.append(
            {"code": "HibernationState/Hibernated", "level": "Info", "displayStatus": "VM hibernated"}
        )
    vm: dict[str, Any] = {
        "name": name,
        "id": (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{name}"
        ),
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
        "properties": {"instanceView": {"statuses": statuses}},
    }
    if vm_size is not None:
        vm["tags"] = dict(tags or {})
        model: dict[str, Any] = {
            "hardwareProfile": {"vmSize": vm_size},
            "storageProfile": {"osDisk": {"osType": os_type, "createOption": "FromImage"}},
            "provisioningState": provisioning.split("/", 1)[0].capitalize(),
        }
        if priority is not None:
            model["priority"] = priority
        if license_type is not None:
            model["licenseType"] = license_type
        vm["properties"].update(model)
    return vm


_MODEL_FIELDS = ("hardwareProfile", "storageProfile", "provisioningState", "priority", "licenseType")


def status_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What ``statusOnly=true`` returns of a VM: its instance view (and scale set), no model, no tags."""
    view = {key: vm[key] for key in ("name", "id", "type", "location") if key in vm}
    properties = vm.get("properties") or {}
    view["properties"] = {k: v for k, v in properties.items() if k not in _MODEL_FIELDS}
    return view


def model_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What List All without ``statusOnly`` returns of a VM: its model, no instance view."""
    view = dict(vm)
    view["properties"] = {k: v for k, v in (vm.get("properties") or {}).items() if k != "instanceView"}
    return view


def instance_view_body(vm: Mapping[str, Any]) -> dict[str, Any]:
    """The published instance view example with ``vm``'s name and top-level statuses."""
    published = json.loads(_PUBLISHED_INSTANCE_VIEW.read_text(encoding="utf-8"))["responses"]["200"]["body"]
    statuses = vm.get("properties", {}).get("instanceView", {}).get("statuses", [])
    return {**published, "computerName": vm["name"], "statuses": [dict(status) for status in statuses]}


def make_scale_set(
    subscription_id: str,
    resource_group: str,
    name: str,
    *,
    capacity: int = 2,
    size: str = "Standard_D2ls_v5",
    mode: str | None = "Uniform",
    location: str = "westeurope",
    os_type: str = "Linux",
    priority: str = "Regular",
    license_type: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A scale set shaped like one entry of ``VirtualMachineScaleSet_ListAll_MaximumSet_Gen.json``, with
    real values instead of its generated filler; ``mode=None`` leaves ``orchestrationMode`` out, as in
    the MinimumSet example."""
    profile: dict[str, Any] = {
        "storageProfile": {"osDisk": {"osType": os_type, "createOption": "FromImage"}},
        "priority": priority,
    }
    if license_type is not None:
        profile["licenseType"] = license_type
    properties: dict[str, Any] = {"provisioningState": "Succeeded", "virtualMachineProfile": profile}
    if mode is not None:
        properties["orchestrationMode"] = mode
    return {
        "name": name,
        "id": (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
        ),
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": location,
        "tags": dict(tags or {}),
        "sku": {"name": size, "tier": "Standard", "capacity": capacity},
        "properties": properties,
    }


def make_instance(
    scale_set: Mapping[str, Any],
    instance_id: str,
    *,
    power: str | None = "running",
    provisioning: str = "succeeded",
    hibernated: bool = False,
) -> dict[str, Any]:
    """A Uniform instance shaped like ``VirtualMachineScaleSetVM_List_WithResiliencyView.json`` (name
    ``{scaleSet}_{instanceId}``, ``sku``, ``hardwareProfile``, ``osType``) with the
    ``properties.instanceView.statuses`` that ``$expand=instanceView`` adds. The published list example
    that has an instance view carries placeholder codes, so the codes here are the documented
    ``ProvisioningState/...`` and ``PowerState/...`` ones, as in the published GetInstanceView example."""
    statuses = make_vm("", "", "", power=power, provisioning=provisioning, hibernated=hibernated)
    sku = scale_set.get("sku", {})
    os_type = scale_set["properties"]["virtualMachineProfile"]["storageProfile"]["osDisk"]["osType"]
    return {
        "name": f"{scale_set['name']}_{instance_id}",
        "id": f"{scale_set['id']}/virtualMachines/{instance_id}",
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": scale_set.get("location"),
        "instanceId": instance_id,
        "sku": {"name": sku.get("name"), "tier": sku.get("tier")},
        "properties": {
            "latestModelApplied": True,
            "provisioningState": "Succeeded",
            "hardwareProfile": {"vmSize": sku.get("name")},
            "storageProfile": {"osDisk": {"osType": os_type}},
            "instanceView": statuses["properties"]["instanceView"],
        },
    }


def _provisioning_status(provisioning: str) -> dict[str, Any]:
    state = provisioning.split("/", 1)[0]
    return {
        "code": f"ProvisioningState/{provisioning}",
        "level": "Error" if state.lower() == "failed" else "Info",
        "displayStatus": f"Provisioning {state.lower()}",
        "time": _PROVISIONING_TIME,
    }
