"""The operation table: what a successful ARM operation on a VM leaves behind.

Keys are the operation name after ``Microsoft.Compute/virtualMachines/`` in lower case; values are the
power state after success, ``None`` for "unchanged". Events are emitted when an operation *ends*, so
transient states (starting, stopping, deallocating) are never seen from events.
"""

from __future__ import annotations

from shared.domain.vm_state import Change

OPERATION_PREFIX = "microsoft.compute/virtualmachines/"
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

SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELED = "Canceled"


def operation_suffix(operation_name: str) -> str | None:
    """``Microsoft.Compute/virtualMachines/start/action`` -> ``start/action``; ``None`` elsewhere."""
    lowered = operation_name.strip().lower()
    if not lowered.startswith(OPERATION_PREFIX):
        return None
    return lowered[len(OPERATION_PREFIX) :] or None


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
