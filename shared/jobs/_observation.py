"""What a listing says about a VM, compared with the ledger, and the transition it shows: shared by
reconcile and scale set events.

A missing power status is no evidence of change; provisioning compares on its main state only
(``failed/AllocationFailed`` and ``failed/OSProvisioningTimedOut`` are one state to compare).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from shared.domain.evidence import ListingObservation, NewTransition
from shared.domain.ids import VmId, parse_vm_id
from shared.domain.times import format_time
from shared.domain.vm_state import Change, VmState
from shared.sources import ListedVm
from shared.store import CurrentRow

logger = logging.getLogger(__name__)

UNKNOWN_PROVISIONING = "Unknown"


def differs(power_state: str | None, hibernated: bool, provisioning: str, listed: ListedVm) -> bool:
    """Does ``listed`` show another state than the ledger's (power, hibernation, main provisioning)?"""
    if listed.power_state is None:
        return False
    if (power_state, hibernated) != (listed.power_state, listed.hibernated):
        return True
    return listed.provisioning_state is not None and main_state(listed.provisioning_state) != provisioning


def state_differs(state: VmState, listed: ListedVm) -> bool:
    return differs(state.power_state, state.hibernated, main_state(state.provisioning_state), listed)


def observed_change(listed: ListedVm, current_state: VmState | None) -> Change:
    """The change a listing shows; a missing provisioning status keeps the ledger's."""
    provisioning = provisioning_label(listed.provisioning_state)
    if provisioning is None:
        kept = current_state.provisioning_state if current_state and not current_state.deleted else None
        provisioning = kept or UNKNOWN_PROVISIONING
    return Change(
        provisioning_state=provisioning, power_state=listed.power_state, hibernated=listed.hibernated
    )


def provisioning_label(text: str | None) -> str | None:
    """``succeeded`` -> ``Succeeded``; ``failed/AllocationFailed`` -> ``Failed/AllocationFailed``."""
    if not text:
        return None
    head, _, rest = text.partition("/")
    return head[:1].upper() + head[1:].lower() + (f"/{rest}" if rest else "")


def main_state(text: str | None) -> str:
    return (text or "").partition("/")[0].lower()


def observed_transition(
    vm: VmId,
    change: Change,
    observed_at: datetime,
    current: CurrentRow | None,
    *,
    id_prefix: str,
    operation_name: str,
    scale_set_id: str | None = None,
) -> NewTransition:
    """The transition a listing at ``observed_at`` shows (``scale_set_id``: the Flexible scale set it
    named), with an id that is the same for the same VM and instant (a listing read twice records once):
    ``<id_prefix>-<time>-<hash of the VM>``."""
    digest = hashlib.sha256(f"{vm.subscription_key}|{vm.vm_key}".encode()).hexdigest()[:16]
    evidence = ListingObservation(
        id=f"{id_prefix}-{format_time(observed_at)}-{digest}",
        operation_name=operation_name,
        changed_after=current.span.last_time if current else None,
        scale_set_id=scale_set_id,
    )
    return NewTransition(current.vm if current else vm, observed_at, change, evidence)


def listed_vm_of(resource_id: str, subscription_key: str, job: str) -> VmId | None:
    """The VM a listing of ``subscription_key`` names, or ``None`` (logged) for an id that is not a VM of
    that subscription: a listing never moves rows across subscriptions."""
    vm = parse_vm_id(resource_id)
    if vm is None or vm.subscription_key != subscription_key:
        logger.warning("%s skips listed id %r: not a VM of this subscription", job, resource_id[:200])
        return None
    return vm
