"""Why a VM's state changed, as Resource Health tells it: annotation names and availability to a cause.

Health events (the ``HealthResources`` system topic) carry an annotation name or an availability
change, never a power state: the power state is read from the VM's instance view when one arrives. The
annotation says *why*, which is what the ``cause`` of a transition records. The table follows Learn
"Resource Health virtual machine Health Annotations" (names, context and meaning; see
``tests/data/published/health/SOURCES.md``); the cause is our reading of each meaning. Names compare
case-insensitively; a name that is not in the table (Azure adds some) takes its cause from the
annotation's ``context`` ("Platform Initiated", "Customer Initiated"; anything else is ``other``).
"""

from __future__ import annotations

import re
from enum import StrEnum


class Cause(StrEnum):
    """What brought a change about, as far as a health event says."""

    GUEST_SHUTDOWN = "guestShutdown"  # shut down from inside the guest OS: stopped, still billed
    GUEST_REBOOT = "guestReboot"  # rebooted from inside the guest
    GUEST_CRASH = "guestCrash"  # the guest OS crashed and rebooted
    SPOT_EVICTION = "spotEviction"  # a Spot / Low Priority VM preempted by Azure
    PLATFORM = "platform"  # host failure, maintenance, migration, freeze, degraded hardware
    CONTROL_PLANE = "controlPlane"  # requested through Azure by a user or process (start, stop, resize)
    AVAILABILITY = "availability"  # an availability status change without an annotation
    OTHER = "other"  # an annotation this table does not know, with no usable context


_GUEST_SHUTDOWN, _GUEST_REBOOT, _GUEST_CRASH = Cause.GUEST_SHUTDOWN, Cause.GUEST_REBOOT, Cause.GUEST_CRASH
_SPOT, _PLATFORM, _CONTROL = Cause.SPOT_EVICTION, Cause.PLATFORM, Cause.CONTROL_PLANE

# Every VM annotation Learn lists (page dated 2023-10-17), by name.
ANNOTATION_CAUSES: dict[str, Cause] = {
    "VirtualMachineRestarted": _GUEST_REBOOT,
    "VirtualMachineCrashed": _GUEST_CRASH,
    "VirtualMachineStorageOffline": _PLATFORM,
    "VirtualMachineFailedToSecureBoot": _CONTROL,
    "LiveMigrationSucceeded": _PLATFORM,
    "LiveMigrationFailure": _PLATFORM,
    "VirtualMachineAllocated": _CONTROL,
    "VirtualMachineDeallocationInitiated": _CONTROL,
    "VirtualMachineHostCrashed": _PLATFORM,
    "VirtualMachineMigrationInitiatedForPlannedMaintenance": _PLATFORM,
    "VirtualMachineRebootInitiatedForPlannedMaintenance": _PLATFORM,
    "VirtualMachineHostRebootedForRepair": _PLATFORM,
    "VirtualMachineMigrationInitiatedForRepair": _PLATFORM,
    "VirtualMachinePlannedFreezeStarted": _PLATFORM,
    "VirtualMachinePlannedFreezeSucceeded": _PLATFORM,
    "VirtualMachinePlannedFreezeFailed": _PLATFORM,
    "VirtualMachineRedeployInitiatedByControlPlaneDueToPlannedMaintenance": _CONTROL,
    "VirtualMachineMigrationScheduledForDegradedHardware": _PLATFORM,
    "VirtualMachinePossiblyDegradedDueToHardwareFailure": _PLATFORM,
    "VirtualMachineScheduledForServiceHealing": _PLATFORM,
    "VirtualMachinePreempted": _SPOT,
    "VirtualMachineRebootInitiatedByControlPlane": _CONTROL,
    "VirtualMachineRedeployInitiatedByControlPlane": _CONTROL,
    "VirtualMachineSizeChanged": _CONTROL,
    "VirtualMachineConfigurationUpdated": _CONTROL,
    "VirtualMachineStartInitiatedByControlPlane": _CONTROL,
    "VirtualMachineStopInitiatedByControlPlane": _CONTROL,
    # "Stopping as requested by an authorized user or process, or by guest activity inside the VM":
    # a stop through Azure raises a Resource Manager event (powerOff), this annotation alone does not.
    "VirtualMachineStoppedInternally": _GUEST_SHUTDOWN,
    "VirtualMachineProvisioningTimedOut": _PLATFORM,
    "AccelnetUnhealthy": _PLATFORM,
}
_BY_LOWER = {name.lower(): cause for name, cause in ANNOTATION_CAUSES.items()}
_BY_CONTEXT = {
    "platform initiated": _PLATFORM,
    "customer initiated": _CONTROL,
}
# Annotation names and availability states are Azure's identifiers; anything else is not kept.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")


def annotation_cause(name: str | None, context: str | None = None) -> Cause:
    """The cause of an annotation ``name``; an unknown name falls back on its ``context``."""
    known = _BY_LOWER.get(name.strip().lower()) if isinstance(name, str) else None
    if known is not None:
        return known
    if isinstance(context, str):
        return _BY_CONTEXT.get(context.strip().lower(), Cause.OTHER)
    return Cause.OTHER


def health_name(text: object) -> str | None:
    """An annotation name or availability state fit to store (letters and digits), else ``None``."""
    if isinstance(text, str) and _NAME.fullmatch(text.strip()):
        return text.strip()
    return None
