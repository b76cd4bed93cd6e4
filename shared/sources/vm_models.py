"""Virtual Machines - List All without ``statusOnly`` (the VM models), reduced to each VM's inventory.

The fields (published example ``VirtualMachine_ListAll_MaximumSet_Gen.json``): ``location``, ``tags``,
``properties.hardwareProfile.vmSize``, ``properties.storageProfile.osDisk.osType``,
``properties.priority`` (Regular / Low / Spot, absent on older VMs: Regular), ``properties.licenseType``.
A body that is not a listing page raises (as for the status listing); single entries that cannot be read
are skipped with a warning. Tags are bounded here, on the way in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.inventory import VmSpec, bound_tags, parse_os_type, parse_priority
from shared.sources._pager import arm_page

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListedModel:
    resource_id: str
    spec: VmSpec
    # The managed disks its model names (``storageProfile.osDisk`` / ``dataDisks[].managedDisk.id``): a disk
    # whose ``managedBy`` is not set yet still belongs to this VM.
    disk_ids: tuple[str, ...] = ()


def parse_model_page(body: Mapping[str, Any]) -> tuple[list[ListedModel], str | None]:
    """The VM models of one List All page and its ``nextLink``; ``ValueError`` if not a listing page."""
    entries, next_link = arm_page(body, "List All")
    models = [model for model in (_model(entry, index) for index, entry in enumerate(entries)) if model]
    return models, next_link


def _model(entry: Any, index: int) -> ListedModel | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
        logger.warning("Skipping List All model entry %s: not an object with an id", index)
        return None
    properties = _object(entry.get("properties"))
    hardware = _object(properties.get("hardwareProfile"))
    storage = _object(properties.get("storageProfile"))
    os_disk = _object(storage.get("osDisk"))
    tags, dropped = bound_tags(entry.get("tags"))
    if dropped:
        logger.warning("VM %s: %s tag(s) left out of the inventory (bounded)", entry["id"][:200], dropped)
    return ListedModel(
        entry["id"],
        VmSpec(
            vm_size=_text(hardware.get("vmSize")),
            location=_text(entry.get("location")),
            os_type=parse_os_type(os_disk.get("osType")),
            license_type=_text(properties.get("licenseType")),
            priority=parse_priority(properties.get("priority")),
            tags=tags,
            tags_dropped=dropped,
        ),
        _disk_ids([os_disk, *_list(storage.get("dataDisks"))]),
    )


def _disk_ids(disks: list[Any]) -> tuple[str, ...]:
    ids = (_object(_object(disk).get("managedDisk")).get("id") for disk in disks)
    return tuple(disk_id.strip() for disk_id in ids if isinstance(disk_id, str) and disk_id.strip())


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip()[:100] if isinstance(value, str) and value.strip() else None
