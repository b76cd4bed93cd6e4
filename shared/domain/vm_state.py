"""VM power states, the billing policy that says which of them bill, and what a change does to a state.

Billing follows the power state, never the provisioning state (a VM in ``Failed`` can still run).
The default billed set is the current Learn table ("States and billing status"); older texts did not
bill ``starting``, so the set is a setting and every transition records which policy flagged it.

A transition stores the *change* it observed (from an event or a reconcile listing) and the *state* that
follows. Some changes are definite ("running after a start"); others keep what came before ("an update
write", "a failed action"). Because events arrive out of order, the state after a change is always
derived from the state before it, so a late event can be slotted in and the following states recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

# Learn's billing table lists "creating" as a power state too (a VM being created: not billed).
POWER_STATES: tuple[str, ...] = (
    "creating",
    "starting",
    "running",
    "stopping",
    "stopped",
    "deallocating",
    "deallocated",
)
UNKNOWN = "unknown"
DEFAULT_BILLED_POWER_STATES: tuple[str, ...] = ("starting", "running", "stopping", "stopped")


def normalize_power_state(code: str | None) -> str | None:
    """``PowerState/Running`` or ``running`` -> ``running``; ``None`` when it is not a known power state."""
    if not code:
        return None
    name = code.strip().split("/")[-1].lower()
    if name in POWER_STATES or name == UNKNOWN:
        return name
    return None


@dataclass(frozen=True)
class BillingPolicy:
    """The set of power states whose time bills compute."""

    billed: frozenset[str]

    @classmethod
    def parse(cls, text: str | None) -> BillingPolicy:
        """Parse a comma list such as ``running,stopped``; empty means the default set.

        Raises ``ValueError`` naming any entry that is not a power state.
        """
        if text is None or not text.strip():
            return cls(frozenset(DEFAULT_BILLED_POWER_STATES))
        names = [part.strip().lower() for part in text.split(",") if part.strip()]
        unknown = sorted({name for name in names if name not in POWER_STATES})
        if unknown:
            raise ValueError(f"not power states: {', '.join(unknown)} (known: {', '.join(POWER_STATES)})")
        return cls(frozenset(names))

    def is_billed(self, power_state: str | None) -> bool:
        return power_state in self.billed

    @property
    def label(self) -> str:
        """Stable text stored with each transition: the billed states in lifecycle order."""
        return ",".join(self.ordered)

    @property
    def ordered(self) -> list[str]:
        return [state for state in POWER_STATES if state in self.billed]


DELETED_PROVISIONING_STATE = "Deleted"


@dataclass(frozen=True)
class Change:
    """What one event or observation says about a VM.

    ``power_state`` ``None`` means "as before" (``hibernated`` is then ignored). ``creates`` marks a
    successful write: for a VM not known (or deleted) it is a creation, which ends running.
    """

    provisioning_state: str
    power_state: str | None = None
    hibernated: bool = False
    deletes: bool = False
    creates: bool = False


@dataclass(frozen=True)
class VmState:
    """A VM's state from ``since`` on. ``power_state`` is ``None`` only when ``deleted``."""

    provisioning_state: str | None
    power_state: str | None
    hibernated: bool
    deleted: bool
    billable: bool
    since: datetime

    @property
    def is_unknown(self) -> bool:
        return self.power_state == UNKNOWN

    def same_condition(self, other: VmState) -> bool:
        """Same power, hibernation and existence: the time ``since`` keeps running across them."""
        return (self.power_state, self.hibernated, self.deleted) == (
            other.power_state,
            other.hibernated,
            other.deleted,
        )


def apply_change(prev: VmState | None, change: Change, at: datetime, policy: BillingPolicy) -> VmState:
    """The state after ``change`` at time ``at``, given the state ``prev`` before it (``None``: not known)."""
    power: str | None
    if change.deletes:
        power, hibernated = None, False
    elif change.power_state is not None:
        power, hibernated = change.power_state, change.hibernated and change.power_state == "deallocated"
    elif prev is not None and not prev.deleted:
        power, hibernated = prev.power_state, prev.hibernated
    else:
        power, hibernated = ("running" if change.creates else UNKNOWN), False
    state = VmState(
        provisioning_state=DELETED_PROVISIONING_STATE if change.deletes else change.provisioning_state,
        power_state=power,
        hibernated=hibernated,
        deleted=change.deletes,
        billable=policy.is_billed(power),
        since=at,
    )
    if prev is not None and prev.same_condition(state):
        return replace(state, since=prev.since)
    return state


def state_before_first(change: Change, at: datetime) -> VmState | None:
    """What the ledger says about the time before a VM's first record.

    Before a creation the VM did not exist (``None``: not counted). Before anything else (a VM adopted
    by reconcile, a failure on a VM never seen) it existed in a state nobody recorded: unknown.
    """
    if change.creates and change.power_state is None and not change.deletes:
        return None
    return VmState(None, UNKNOWN, False, False, False, at)
