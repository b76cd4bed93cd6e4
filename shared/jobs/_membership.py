"""Flexible scale set members: ordinary VMs, kept once under their VM id, with their scale set beside it.

A listing that names a VM's scale set (``properties.virtualMachineScaleSet.id``) records it on the VM's
current row, for grouping; a listing that does not name it (status-only pages may leave the model out)
changes nothing, so a membership once seen is not lost to a thinner listing.
"""

from __future__ import annotations

from shared.domain.ids import VmId
from shared.store import Ledger


def record_membership(ledger: Ledger, vm: VmId, known: str | None, listed: str | None) -> bool:
    """Keep ``listed`` as ``vm``'s scale set when the ledger has another (``known``, lower case) or none;
    ``True`` when it was written. A race with another writer leaves it to the next reconcile."""
    if not listed or (known is not None and known == listed.lower()):
        return False
    current = ledger.get_current(vm)
    if current is None or (current.profile.scale_set_id or "").lower() == listed.lower():
        return False
    return ledger.set_scale_set_id(current, listed)
