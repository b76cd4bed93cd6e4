"""The operation table: what a successful ARM operation on a VM leaves behind.

Keys are the operation name after ``Microsoft.Compute/virtualMachines/`` in lower case; values are the
power state after success, ``None`` for "unchanged". Events are emitted when an operation *ends*, so
transient states (starting, stopping, deallocating) are never seen from events.

Uniform scale set instances take the same table under ``Microsoft.Compute/virtualMachineScaleSets/
virtualMachines/``. Scale-set-level operations (``SCALE_SET_OPERATIONS``) act on some or all instances
(the request body that says which is not in the event), so each maps to the instance operation it
amounts to for the instances it touched; which those are, a listing of the scale set tells.
"""

from __future__ import annotations

from enum import StrEnum

from shared.domain.vm_state import Change

OPERATION_PREFIX = "microsoft.compute/virtualmachines/"
INSTANCE_OPERATION_PREFIX = "microsoft.compute/virtualmachinescalesets/virtualmachines/"
SCALE_SET_OPERATION_PREFIX = "microsoft.compute/virtualmachinescalesets/"
WRITE = "write"
DELETE = "delete"

POWER_AFTER_SUCCESS: dict[str, str | None] = {
    "start/action": "running",
    "restart/action": "running",
    "redeploy/action": "running",
    "performmaintenance/action": "running",
    "reimage/action": "running",  # inference: a reimage boots the VM again
    "poweroff/action": "stopped",  # powered off but still allocated: billed
    "deallocate/action": "deallocated",
    "simulateeviction/action": None,  # the eviction itself follows later, with no event
    "generalize/action": None,
    "capture/action": None,
    "reapply/action": None,
    "converttomanageddisks/action": None,
    "runcommand/action": None,
    "installpatches/action": None,
    "assesspatches/action": None,
}

# Scale-set-level operation (as Resource Manager spells it) -> the instance operation it amounts to.
# ``write`` scales out (new instances are created running) or in (removed instances are deleted), or
# changes the model; ``delete/action`` is "delete instances"; ``delete`` removes the scale set.
SCALE_SET_OPERATIONS: dict[str, str] = {
    "start/action": "start/action",
    "restart/action": "restart/action",
    "redeploy/action": "redeploy/action",
    "performMaintenance/action": "performmaintenance/action",
    "reimage/action": "reimage/action",
    "reimageall/action": "reimage/action",
    "powerOff/action": "poweroff/action",
    "deallocate/action": "deallocate/action",
    "delete/action": DELETE,
    WRITE: WRITE,
    DELETE: DELETE,
}
_SCALE_SET_BY_LOWER = {name.lower(): instance for name, instance in SCALE_SET_OPERATIONS.items()}


class Target(StrEnum):
    """What an operation name is about."""

    VM = "vm"
    INSTANCE = "instance"
    SCALE_SET = "scaleSet"


def event_filter_prefixes() -> list[str]:
    """The ``StringBeginsWith`` values the Event Grid subscription needs (case-insensitive there): VM and
    instance operations by prefix, scale-set-level operations one by one (not every scale set operation:
    extensions, rolling upgrades and the like would only be delivered to be skipped)."""
    scale_set = "Microsoft.Compute/virtualMachineScaleSets/"
    return [
        "Microsoft.Compute/virtualMachines/",
        f"{scale_set}virtualMachines/",
        *(f"{scale_set}{name}" for name in SCALE_SET_OPERATIONS),
    ]


SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELED = "Canceled"


def operation_suffix(operation_name: str) -> str | None:
    """``Microsoft.Compute/virtualMachines/start/action`` -> ``start/action``; ``None`` elsewhere."""
    lowered = operation_name.strip().lower()
    if not lowered.startswith(OPERATION_PREFIX):
        return None
    return lowered[len(OPERATION_PREFIX) :] or None


def classify_operation(operation_name: str) -> tuple[Target, str] | None:
    """What ``operation_name`` is about and its suffix (lower case); ``None`` for other operations.

    A scale set operation comes back with its *instance* equivalent (``delete/action`` -> ``delete``);
    scale set operations not in ``SCALE_SET_OPERATIONS`` are ``None``.
    """
    lowered = operation_name.strip().lower()
    vm_suffix = operation_suffix(lowered)
    if vm_suffix is not None:
        return Target.VM, vm_suffix
    if lowered.startswith(INSTANCE_OPERATION_PREFIX):
        suffix = lowered[len(INSTANCE_OPERATION_PREFIX) :]
        return (Target.INSTANCE, suffix) if suffix else None
    if lowered.startswith(SCALE_SET_OPERATION_PREFIX):
        instance = _SCALE_SET_BY_LOWER.get(lowered[len(SCALE_SET_OPERATION_PREFIX) :])
        return (Target.SCALE_SET, instance) if instance else None
    return None


def power_after(suffix: str) -> str | None:
    """The power state an instance operation leaves on success; ``None`` when it leaves it unchanged."""
    return POWER_AFTER_SUCCESS.get(suffix)


def change_for(suffix: str, outcome: str, *, hibernate: bool = False) -> Change:
    """The change an operation with ``outcome`` (Succeeded, Failed, Canceled) makes to a VM.

    Failure and cancel leave the power state as it was: the operation did not complete. Actions not in
    the table (new ones Azure adds) are treated as leaving the power state unchanged.
    """
    if outcome != SUCCEEDED:
        return Change(provisioning_state=outcome)
    if suffix == DELETE:
        return Change(provisioning_state=SUCCEEDED, deletes=True)
    if suffix == WRITE:
        return Change(provisioning_state=SUCCEEDED, creates=True)
    power = POWER_AFTER_SUCCESS.get(suffix)
    return Change(
        provisioning_state=SUCCEEDED,
        power_state=power,
        hibernated=hibernate and power == "deallocated",
    )
