"""What an observed status (a List All entry, an instance view) says changed, for reconcile and health."""

from __future__ import annotations

from shared.domain.vm_state import Change
from shared.sources import ListedVm
from shared.store import CurrentRow

UNKNOWN_PROVISIONING = "Unknown"


def observed_change(listed: ListedVm, current: CurrentRow | None) -> Change:
    """The change that makes the ledger say what ``listed`` shows; a missing provisioning state keeps the
    recorded one."""
    provisioning = provisioning_label(listed.provisioning_state)
    if provisioning is None:
        kept = current.state.provisioning_state if current and not current.state.deleted else None
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
    """``failed/AllocationFailed`` -> ``failed``: provisioning compared on its main state only."""
    return (text or "").partition("/")[0].lower()
