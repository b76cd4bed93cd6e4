"""VM resource ids (plain VMs and Uniform scale set instances): recognising, validating, comparing them.

ARM ids are case-insensitive and arrive in varying case (``resourcegroups``, ``RG1`` vs ``rg1``), so
comparisons use a lower-cased key while the casing first seen is kept for display. The character rules
are Azure's naming rules; anything else is refused here, which also keeps ids safe inside Table keys.

A Uniform scale set instance (``.../virtualMachineScaleSets/{ss}/virtualMachines/{instanceId}``) is a
VM like any other here: a ``VmId`` whose ``scale_set_name`` is set and whose ``name`` is the instance id. A
Flexible member is an ordinary VM id (its scale set is recorded beside it, not in its identity).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import InvalidInput

_SUBSCRIPTION = r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}"
# Resource groups: letters or digits (any script), '_', '-', '.', '(' and ')', up to 90, not ending in '.'.
_RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
# VM names: letters or digits, '_', '-', '.', up to 64 (Linux; Windows allows 15). Scale set names alike.
_VM_NAME = r"[-\w.]{1,64}"
# Uniform instance ids are decimal numbers ("0", "17"); a few more characters are tolerated, never ':'.
_INSTANCE_ID = r"[-\w]{1,64}"
# Separates scale set and instance inside ``vm_key``: no VM, scale set or group name contains it.
_INSTANCE_SEPARATOR = ":"

_GROUP_PATH = rf"/subscriptions/(?P<sub>{_SUBSCRIPTION})/resourceGroups/(?P<rg>{_RESOURCE_GROUP})"
_VM_ID = re.compile(
    rf"{_GROUP_PATH}/providers/Microsoft\.Compute/virtualMachines/(?P<name>{_VM_NAME})", re.IGNORECASE
)
_SCALE_SET_ID = re.compile(
    rf"{_GROUP_PATH}/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<ss>{_VM_NAME})", re.IGNORECASE
)
_INSTANCE_ID_PATTERN = re.compile(
    rf"{_SCALE_SET_ID.pattern}/virtualMachines/(?P<name>{_INSTANCE_ID})", re.IGNORECASE
)
_PARTS = {
    "subscriptionId": re.compile(_SUBSCRIPTION),
    "resourceGroup": re.compile(_RESOURCE_GROUP),
    "vmName": re.compile(_VM_NAME),
    "scaleSetName": re.compile(_VM_NAME),
    "instanceId": re.compile(_INSTANCE_ID),
}


@dataclass(frozen=True)
class ScaleSetId:
    """A virtual machine scale set's identity, in the casing it was given."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.name}"
        )

    @property
    def subscription_key(self) -> str:
        return self.subscription_id.lower()

    @property
    def key(self) -> str:
        """Case-insensitive identity inside its subscription: ``resourcegroup|name``."""
        return f"{self.resource_group.lower()}|{self.name.lower()}"

    def instance(self, instance_id: str) -> VmId:
        return VmId(self.subscription_id, self.resource_group, instance_id, self.name)


@dataclass(frozen=True)
class VmId:
    """A VM's identity with its parts in the casing they were given.

    ``scale_set_name`` names the Uniform scale set of an instance (then ``name`` is its instance id), or
    is ``None`` for a VM of its own (Flexible members included).
    """

    subscription_id: str
    resource_group: str
    name: str
    scale_set_name: str | None = None

    @property
    def resource_id(self) -> str:
        scale_set = self.scale_set
        if scale_set is not None:
            return f"{scale_set.resource_id}/virtualMachines/{self.name}"
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{self.name}"
        )

    @property
    def scale_set(self) -> ScaleSetId | None:
        """The Uniform scale set this instance belongs to; ``None`` for a VM of its own."""
        if self.scale_set_name is None:
            return None
        return ScaleSetId(self.subscription_id, self.resource_group, self.scale_set_name)

    @property
    def display_name(self) -> str:
        """``web-01``; for an instance, Azure's computed name ``{scaleSet}_{instanceId}``."""
        return self.name if self.scale_set_name is None else f"{self.scale_set_name}_{self.name}"

    @property
    def subscription_key(self) -> str:
        return self.subscription_id.lower()

    @property
    def vm_key(self) -> str:
        """Case-insensitive identity inside the subscription: ``resourcegroup|name``, or for an instance
        ``resourcegroup|scaleset:instanceid`` (no VM name holds ':', so the two never collide)."""
        group = self.resource_group.lower()
        if self.scale_set_name is not None:
            return f"{group}|{self.scale_set_name.lower()}{_INSTANCE_SEPARATOR}{self.name.lower()}"
        return f"{group}|{self.name.lower()}"


def parse_vm_id(text: str) -> VmId | None:
    """The VM (or Uniform instance) named by ``text``; ``None`` when it is not exactly one (child
    resources included)."""
    if not isinstance(text, str):
        return None
    cleaned = text.strip().rstrip("/")
    match = _VM_ID.fullmatch(cleaned)
    if match:
        return VmId(match["sub"], match["rg"], match["name"])
    match = _INSTANCE_ID_PATTERN.fullmatch(cleaned)
    if match:
        return VmId(match["sub"], match["rg"], match["name"], match["ss"])
    return None


def parse_scale_set_id(text: str) -> ScaleSetId | None:
    """The scale set named by exactly ``text``; ``None`` for anything else (its instances included)."""
    match = _SCALE_SET_ID.fullmatch(text.strip().rstrip("/")) if isinstance(text, str) else None
    if not match:
        return None
    return ScaleSetId(match["sub"], match["rg"], match["ss"])


def vm_id_from_key(subscription_id: str, key: str) -> VmId:
    """The ``VmId`` (lower case) whose ``vm_key`` is ``key``."""
    group, _, rest = key.partition("|")
    scale_set_name, separator, instance = rest.partition(_INSTANCE_SEPARATOR)
    if separator:
        return VmId(subscription_id, group, instance, scale_set_name)
    return VmId(subscription_id, group, rest)


def is_subscription_id(text: str) -> bool:
    return _PARTS["subscriptionId"].fullmatch(text) is not None


def vm_id_from_parts(subscription_id: str, resource_group: str, vm_name: str) -> VmId:
    """Validate route parts; raise ``InvalidInput`` naming the first part that is not valid."""
    for label, value in (
        ("subscriptionId", subscription_id),
        ("resourceGroup", resource_group),
        ("vmName", vm_name),
    ):
        require_part(label, value)
    return VmId(subscription_id, resource_group, vm_name)


def instance_id_from_parts(
    subscription_id: str, resource_group: str, scale_set_name: str, instance: str
) -> VmId:
    """Validate the route parts of a Uniform instance; ``InvalidInput`` names the first bad one."""
    for label, value in (
        ("subscriptionId", subscription_id),
        ("resourceGroup", resource_group),
        ("scaleSetName", scale_set_name),
        ("instanceId", instance),
    ):
        require_part(label, value)
    return VmId(subscription_id, resource_group, instance, scale_set_name)


def require_part(label: str, value: str) -> str:
    """Return ``value`` if it is a valid ``label`` (subscriptionId, resourceGroup, vmName, scaleSetName,
    instanceId)."""
    if not isinstance(value, str) or not _PARTS[label].fullmatch(value):
        raise InvalidInput(label, f"{label} is not a valid Azure {label}")
    return value
