"""What a VM keeps while it is off: its managed disks and public IPs, and which meter each is billed on.

Read from Disks - List (``Microsoft.Compute/disks``: ``sku.name``, ``properties.tier``,
``properties.diskSizeGB``, ``properties.diskIOPSReadWrite``, ``properties.diskMBpsReadWrite``,
``properties.timeCreated``, ``managedBy``, ``properties.diskState``) and Public IP Addresses - List All
(``sku.name``, ``properties.publicIPAllocationMethod``), linked to VMs by the disk's ``managedBy`` and by
the NIC's ``virtualMachine.id``. A Premium, Standard SSD or Standard HDD disk is billed by its size band:
its performance tier when set (``P10``, possibly above the band its size falls in), else the smallest band
that holds its size (P1 = 4 GiB ... P80 = 32 TiB; Standard HDD starts at S4 = 32 GiB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DiskFamily(StrEnum):
    """How a disk SKU is billed: a monthly meter per size band, or provisioned capacity and performance."""

    PREMIUM = "P"
    STANDARD_SSD = "E"
    STANDARD_HDD = "S"
    PREMIUM_V2 = "PremiumV2"
    ULTRA = "Ultra"


# ``sku.name`` -> (family, redundancy). Standard HDD has no ZRS option.
DISK_SKUS: dict[str, tuple[DiskFamily, str]] = {
    "premium_lrs": (DiskFamily.PREMIUM, "LRS"),
    "premium_zrs": (DiskFamily.PREMIUM, "ZRS"),
    "standardssd_lrs": (DiskFamily.STANDARD_SSD, "LRS"),
    "standardssd_zrs": (DiskFamily.STANDARD_SSD, "ZRS"),
    "standard_lrs": (DiskFamily.STANDARD_HDD, "LRS"),
    "premiumv2_lrs": (DiskFamily.PREMIUM_V2, "LRS"),
    "ultrassd_lrs": (DiskFamily.ULTRA, "LRS"),
}
# Band number -> its largest size in GiB (Learn, "Azure managed disk types" and the pricing page).
BANDS: dict[int, int] = {
    1: 4, 2: 8, 3: 16, 4: 32, 6: 64, 10: 128, 15: 256, 20: 512,
    30: 1024, 40: 2048, 50: 4096, 60: 8192, 70: 16384, 80: 32767,
}  # fmt: skip
_SMALLEST_HDD_BAND = 4
_TIER = re.compile(r"^([PES])(\d{1,2})$")


@dataclass(frozen=True)
class DiskSpec:
    """A managed disk as listed. ``owner`` is the resource id of the VM it is attached to (``managedBy``)."""

    resource_id: str
    sku: str
    tier: str | None
    size_gb: int | None
    iops: int | None
    mbps: int | None
    created: datetime | None
    location: str | None
    owner: str | None
    state: str | None

    @property
    def unattached(self) -> bool:
        return (self.state or "").lower() == "unattached" and not self.owner


@dataclass(frozen=True)
class PublicIpSpec:
    resource_id: str
    sku: str | None  # Basic / Standard
    allocation: str | None  # Static / Dynamic
    location: str | None

    @property
    def released_when_deallocated(self) -> bool:
        """A Basic dynamic address is let go when its VM is deallocated and costs nothing then."""
        return (self.sku or "Basic").lower() == "basic" and (self.allocation or "").lower() == "dynamic"


@dataclass(frozen=True)
class Held:
    """A disk or IP a VM held from ``since`` until ``until`` (``None``: still holds it)."""

    item: DiskSpec | PublicIpSpec
    since: datetime
    until: datetime | None = None


@dataclass(frozen=True)
class VmAttachments:
    """What one VM holds and held, as of the listing at ``listed_at``."""

    held: tuple[Held, ...]
    listed_at: datetime


@dataclass(frozen=True)
class DiskMeter:
    """A size band's monthly meter: its product and meter name in the Retail Prices."""

    product: str
    meter: str
    tier: str


def disk_family(sku: str) -> tuple[DiskFamily, str] | None:
    return DISK_SKUS.get(sku.strip().lower())


def band_tier(disk: DiskSpec) -> str | None:
    """``P10``, ``E30``, ``S4``: the band a disk is billed at; ``None`` for provisioned SKUs or sizes above
    the largest band."""
    family = disk_family(disk.sku)
    if family is None or family[0] not in (
        DiskFamily.PREMIUM,
        DiskFamily.STANDARD_SSD,
        DiskFamily.STANDARD_HDD,
    ):
        return None
    letter = family[0].value
    match = _TIER.match((disk.tier or "").strip().upper())
    if match and match.group(1) == letter and int(match.group(2)) in BANDS:
        return f"{letter}{int(match.group(2))}"
    if disk.size_gb is None or disk.size_gb <= 0:
        return None
    smallest = _SMALLEST_HDD_BAND if family[0] == DiskFamily.STANDARD_HDD else 1
    for number, largest in BANDS.items():
        if number >= smallest and disk.size_gb <= largest:
            return f"{letter}{number}"
    return None


_PRODUCTS = {
    DiskFamily.PREMIUM: "Premium SSD Managed Disks",
    DiskFamily.STANDARD_SSD: "Standard SSD Managed Disks",
    DiskFamily.STANDARD_HDD: "Standard HDD Managed Disks",
}


def disk_meter(disk: DiskSpec) -> DiskMeter | None:
    """The monthly meter of a banded disk, e.g. ("Premium SSD Managed Disks", "P10 LRS Disk")."""
    family = disk_family(disk.sku)
    tier = band_tier(disk)
    if family is None or tier is None:
        return None
    return DiskMeter(_PRODUCTS[family[0]], f"{tier} {family[1]} Disk", tier)


def disk_products() -> list[str]:
    return list(_PRODUCTS.values())
