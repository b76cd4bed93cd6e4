"""Disks, NICs and public IPs in the published shapes (``tests/data/published/attached``): copies of a
published example entry with the ids, SKU, size and links of another resource."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from devtools.published import PUBLISHED

PUBLISHED_ATTACHED = PUBLISHED / "attached"


@cache
def _example(name: str) -> list[dict[str, Any]]:
    body = json.loads((PUBLISHED_ATTACHED / name).read_text(encoding="utf-8"))
    return list(body["responses"]["200"]["body"]["value"])


def make_disk(
    resource_id: str,
    sku: str,
    size_gb: int,
    *,
    managed_by: str | None = None,
    tier: str | None = None,
    iops: int | None = None,
    mbps: int | None = None,
    created: str = "2016-12-28T04:41:36.872242+00:00",
    location: str = "westus",
) -> dict[str, Any]:
    """Disk_ListBySubscription.json's second entry with another id and size, and the fields of the Disk
    model that example leaves out: ``sku.name``, ``managedBy``, ``properties.diskState``, ``properties.tier``
    and (Premium SSD v2, Ultra) ``diskIOPSReadWrite`` / ``diskMBpsReadWrite``."""
    disk = copy.deepcopy(_example("Disk_ListBySubscription.json")[1])
    disk.update(id=resource_id, name=resource_id.rsplit("/", 1)[-1], location=location, sku={"name": sku})
    properties = disk["properties"]
    properties.update(diskSizeGB=size_gb, timeCreated=created)
    properties["diskState"] = "Attached" if managed_by else "Unattached"
    if managed_by:
        disk["managedBy"] = managed_by
    if tier:
        properties["tier"] = tier
    if iops is not None:
        properties["diskIOPSReadWrite"] = iops
    if mbps is not None:
        properties["diskMBpsReadWrite"] = mbps
    return disk


def make_nic(
    resource_id: str, vm_id: str | None, public_ip_ids: list[str], location: str = "westus"
) -> dict[str, Any]:
    """NetworkInterfaceListAll.json's first entry (a NIC attached to a VM, one IP configuration with a
    public IP) with another id, VM and public IPs."""
    nic = copy.deepcopy(_example("NetworkInterfaceListAll.json")[0])
    nic.update(id=resource_id, name=resource_id.rsplit("/", 1)[-1], location=location)
    template = nic["properties"]["ipConfigurations"][0]
    configurations = []
    for index, ip_id in enumerate(public_ip_ids or [""]):
        configuration = copy.deepcopy(template)
        configuration["name"] = f"ipconfig{index + 1}"
        configuration["id"] = f"{resource_id}/ipConfigurations/ipconfig{index + 1}"
        if ip_id:
            configuration["properties"]["publicIPAddress"] = {"id": ip_id}
        else:
            del configuration["properties"]["publicIPAddress"]
        configurations.append(configuration)
    nic["properties"]["ipConfigurations"] = configurations
    if vm_id is None:
        del nic["properties"]["virtualMachine"]
    else:
        nic["properties"]["virtualMachine"] = {"id": vm_id}
    return nic


def make_public_ip(
    resource_id: str,
    sku: str,
    allocation: str,
    *,
    nic_configuration: str | None = None,
    location: str = "westus",
) -> dict[str, Any]:
    """A Public IP Addresses - List All entry in the shape of the published example's "testDNS-ip" item (see
    SOURCES.md), with another id, ``sku`` and allocation method."""
    entry: dict[str, Any] = {
        "name": resource_id.rsplit("/", 1)[-1],
        "id": resource_id,
        "location": location,
        "sku": {"name": sku, "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": allocation,
            "idleTimeoutInMinutes": 4,
            "ipTags": [],
        },
        "type": "Microsoft.Network/publicIPAddresses",
    }
    if nic_configuration:
        entry["properties"]["ipConfiguration"] = {"id": nic_configuration}
    return entry
