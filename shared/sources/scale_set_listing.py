"""Scale set listings reduced to what the ledger uses: Virtual Machine Scale Sets - List All, and one
scale set's instances (Virtual Machine Scale Set VMs - List with ``$expand=instanceView``).

Virtual Machines - List All does not return Uniform instances (Flexible members are ordinary VMs in it),
so reconcile and scale-set events list them per scale set. An instance entry carries the same
``properties.instanceView.statuses`` as a List All entry, so it becomes a ``ListedVm`` with its instance
id. As with List All, a body that is not a listing page raises: read as empty, it would make every
instance look deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.ids import ScaleSetId, parse_scale_set_id
from shared.domain.inventory import VmSpec, bound_tags, parse_os_type, parse_priority
from shared.sources._pager import arm_page
from shared.sources.vm_listing import ListedVm, listed_vm

logger = logging.getLogger(__name__)

UNIFORM = "Uniform"
FLEXIBLE = "Flexible"


@dataclass(frozen=True)
class ListedScaleSet:
    """One scale set of a List All page. ``orchestration_mode`` is ``Uniform`` when the listing does not
    say (the only mode before Flexible existed); ``size`` is ``sku.name``, the VM size of its instances.
    ``spec``: its Uniform instances' inventory, from the set's model (``virtualMachineProfile``) and tags.
    """

    scale_set: ScaleSetId
    location: str | None
    size: str | None
    orchestration_mode: str
    os_type: str | None
    spec: VmSpec | None = None

    @property
    def is_uniform(self) -> bool:
        return self.orchestration_mode.lower() != FLEXIBLE.lower()


def parse_scale_set_page(body: Mapping[str, Any]) -> tuple[list[ListedScaleSet], str | None]:
    """The scale sets of one Virtual Machine Scale Sets - List All body and its ``nextLink``."""
    entries, next_link = arm_page(body, "scale set List All")
    listed = [item for item in (_scale_set(entry, index) for index, entry in enumerate(entries)) if item]
    return listed, next_link


def parse_instance_page(body: Mapping[str, Any]) -> tuple[list[ListedVm], str | None]:
    """The instances of one scale set VMs - List body and its ``nextLink``."""
    entries, next_link = arm_page(body, "scale set VMs List")
    listed = (listed_vm(entry, index, "scale set VMs List") for index, entry in enumerate(entries))
    return [item for item in listed if item], next_link


def _scale_set(entry: Any, index: int) -> ListedScaleSet | None:
    resource_id = entry.get("id") if isinstance(entry, Mapping) else None
    scale_set = parse_scale_set_id(resource_id) if isinstance(resource_id, str) else None
    if scale_set is None:
        logger.warning("Skipping scale set List All entry %s: no scale set id", index)
        return None
    properties = _object(entry, "properties")
    model = _object(properties, "virtualMachineProfile")
    os_disk = _object(_object(model, "storageProfile"), "osDisk")
    mode = properties.get("orchestrationMode")
    location, size, os_type = (
        _text(entry.get("location")),
        _text(_object(entry, "sku").get("name")),
        _text(os_disk.get("osType")),
    )
    tags, dropped = bound_tags(entry.get("tags"))
    spec = VmSpec(
        vm_size=size,
        location=location,
        os_type=parse_os_type(os_type),
        license_type=_text(model.get("licenseType")),
        priority=parse_priority(model.get("priority")),
        tags=tags,
        tags_dropped=dropped,
    )
    return ListedScaleSet(
        scale_set=scale_set,
        location=location,
        size=size,
        orchestration_mode=mode if isinstance(mode, str) and mode.strip() else UNIFORM,
        os_type=os_type,
        spec=spec,
    )


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
