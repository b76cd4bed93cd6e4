"""Virtual machine resource ids: recognising them, validating their parts, comparing them.

ARM ids are case-insensitive and arrive in varying case (``resourcegroups``, ``RG1`` vs ``rg1``), so
comparisons use a lower-cased key while the casing first seen is kept for display. The character rules
are Azure's naming rules; anything else is refused here, which also keeps ids safe inside Table keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import InvalidInput

_SUBSCRIPTION = r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}"
# Resource groups: letters or digits (any script), '_', '-', '.', '(' and ')', up to 90, not ending in '.'.
_RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
# VM names: letters or digits, '_', '-', '.', up to 64 (Linux; Windows allows 15).
_VM_NAME = r"[-\w.]{1,64}"

_VM_ID = re.compile(
    rf"/subscriptions/(?P<sub>{_SUBSCRIPTION})/resourceGroups/(?P<rg>{_RESOURCE_GROUP})"
    rf"/providers/Microsoft\.Compute/virtualMachines/(?P<name>{_VM_NAME})",
    re.IGNORECASE,
)
_PARTS = {
    "subscriptionId": re.compile(_SUBSCRIPTION),
    "resourceGroup": re.compile(_RESOURCE_GROUP),
    "vmName": re.compile(_VM_NAME),
}


@dataclass(frozen=True)
class VmId:
    """A VM's identity with its parts in the casing they were given."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{self.name}"
        )

    @property
    def subscription_key(self) -> str:
        return self.subscription_id.lower()

    @property
    def vm_key(self) -> str:
        """Case-insensitive identity of the VM inside its subscription: ``resourcegroup|name``."""
        return f"{self.resource_group.lower()}|{self.name.lower()}"


def parse_vm_id(text: str) -> VmId | None:
    """The VM named by ``text``, or ``None`` when it is not exactly a VM id (child resources included)."""
    match = _VM_ID.fullmatch(text.strip().rstrip("/")) if isinstance(text, str) else None
    if not match:
        return None
    return VmId(match["sub"], match["rg"], match["name"])


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


def require_part(label: str, value: str) -> str:
    """Return ``value`` if it is a valid ``label`` (subscriptionId, resourceGroup, vmName)."""
    if not isinstance(value, str) or not _PARTS[label].fullmatch(value):
        raise InvalidInput(label, f"{label} is not a valid Azure {label}")
    return value
