"""What the VMs of a subscription keep: Disks - List, Network Interfaces - List All and Public IP Addresses -
List All, through the ARM client's pipeline and guarded pager, reduced to each VM's disks and public IPs.

``GET /subscriptions/{s}/providers/Microsoft.Compute/disks?api-version=2024-03-02``,
``.../Microsoft.Network/networkInterfaces?api-version=2024-05-01`` and
``.../Microsoft.Network/publicIPAddresses?api-version=2024-05-01`` (azure-rest-api-specs examples
``Disk_ListBySubscription.json``, ``NetworkInterfaceListAll.json``; tests/data/published/attached). A disk
belongs to the VM of its ``managedBy`` (a Uniform scale set instance's id too), or when that is not set yet to
the VM whose model's ``storageProfile`` names it; a public IP to the VM of the
NIC whose ``ipConfigurations[].properties.publicIPAddress.id`` names it. Each listing is read whole before
anything is used: ``ListingError`` if one stops part way. Entries that cannot be read are skipped, counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.attached import DiskSpec, PublicIpSpec
from shared.domain.ids import VmId, parse_vm_id, require_part
from shared.domain.times import parse_time
from shared.sources._pager import arm_page
from shared.sources.arm import ArmClient

logger = logging.getLogger(__name__)

DISKS_API_VERSION = "2024-03-02"
NETWORK_API_VERSION = "2024-05-01"
MAX_LISTING_PAGES = 1_000  # each listing; 100,000 items even at 100 a page


@dataclass
class AttachedListing:
    """One subscription's disks and public IPs, by the key of the VM that holds them."""

    disks: dict[str, list[DiskSpec]] = field(default_factory=dict)
    ips: dict[str, list[PublicIpSpec]] = field(default_factory=dict)
    unattached: list[DiskSpec] = field(default_factory=list)
    listed: int = 0
    skipped: int = 0


def list_attached(
    arm: ArmClient,
    subscription_id: str,
    *,
    deadline: float | None = None,
    disk_owners: Mapping[str, VmId] | None = None,
) -> AttachedListing:
    """The three listings of ``subscription_id``, whole; ``ListingError`` if any stops part way. A disk
    without ``managedBy`` belongs to the VM whose model names it (``disk_owners``, by lower-case id)."""
    require_part("subscriptionId", subscription_id)
    listing = AttachedListing()
    for entry in _entries(arm, subscription_id, "Microsoft.Compute/disks", DISKS_API_VERSION, deadline):
        disk = parse_disk(entry)
        if disk is None:
            listing.skipped += 1
            continue
        listing.listed += 1
        owner = parse_vm_id(disk.owner) if disk.owner else (disk_owners or {}).get(disk.resource_id.lower())
        if owner is not None:
            listing.disks.setdefault(owner.vm_key, []).append(disk)
        elif disk.unattached:
            listing.unattached.append(disk)
    holders: dict[str, VmId] = {}
    for entry in _entries(
        arm, subscription_id, "Microsoft.Network/networkInterfaces", NETWORK_API_VERSION, deadline
    ):
        vm, ip_ids = nic_links(entry)
        if vm is not None:
            holders.update((ip_id.lower(), vm) for ip_id in ip_ids)
    for entry in _entries(
        arm, subscription_id, "Microsoft.Network/publicIPAddresses", NETWORK_API_VERSION, deadline
    ):
        ip = parse_public_ip(entry)
        if ip is None:
            listing.skipped += 1
            continue
        listing.listed += 1
        holder = holders.get(ip.resource_id.lower())
        if holder is not None:
            listing.ips.setdefault(holder.vm_key, []).append(ip)
    if listing.skipped:
        logger.warning(
            "disks and IPs of %s: %s entry(ies) skipped, unreadable", subscription_id, listing.skipped
        )
    return listing


def _entries(
    arm: ArmClient, subscription_id: str, provider: str, api_version: str, deadline: float | None
) -> Iterator[Any]:
    pages = arm.iter_json_pages(
        f"/subscriptions/{subscription_id}/providers/{provider}",
        {"api-version": api_version},
        subject=f"{provider} of subscription {subscription_id}",
        max_pages=MAX_LISTING_PAGES,
        deadline=deadline,
    )
    for body in pages:
        yield from arm_page(body, provider)[0]


def parse_disk(entry: Any) -> DiskSpec | None:
    """One Disks - List entry; ``None`` without an id or a SKU name."""
    if not isinstance(entry, Mapping) or not _text(entry.get("id")):
        return None
    properties = _object(entry.get("properties"))
    sku = _text(_object(entry.get("sku")).get("name"))
    if sku is None:
        return None
    return DiskSpec(
        resource_id=entry["id"].strip(),
        sku=sku,
        tier=_text(properties.get("tier")),
        size_gb=_count(properties.get("diskSizeGB")),
        iops=_count(properties.get("diskIOPSReadWrite")),
        mbps=_count(properties.get("diskMBpsReadWrite")),
        created=_time(properties.get("timeCreated")),
        location=_text(entry.get("location")),
        owner=_text(entry.get("managedBy")),
        state=_text(properties.get("diskState")),
    )


def nic_links(entry: Any) -> tuple[VmId | None, list[str]]:
    """The VM a NIC is attached to and the public IP ids of its IP configurations."""
    if not isinstance(entry, Mapping):
        return None, []
    properties = _object(entry.get("properties"))
    vm_id = _text(_object(properties.get("virtualMachine")).get("id"))
    ip_ids = []
    configurations = properties.get("ipConfigurations")
    for configuration in configurations if isinstance(configurations, list) else []:
        public = _object(_object(_object(configuration).get("properties")).get("publicIPAddress"))
        if _text(public.get("id")):
            ip_ids.append(public["id"].strip())
    return (parse_vm_id(vm_id) if vm_id else None), ip_ids


def parse_public_ip(entry: Any) -> PublicIpSpec | None:
    if not isinstance(entry, Mapping) or not _text(entry.get("id")):
        return None
    properties = _object(entry.get("properties"))
    return PublicIpSpec(
        resource_id=entry["id"].strip(),
        sku=_text(_object(entry.get("sku")).get("name")),
        allocation=_text(properties.get("publicIPAllocationMethod")),
        location=_text(entry.get("location")),
    )


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip()[:400] if isinstance(value, str) and value.strip() else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None
