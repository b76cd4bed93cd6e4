"""VM power states and the billing policy that says which of them bill compute time.

Billing follows the power state, never the provisioning state (a VM in ``Failed`` can still run).
The default billed set is the current Learn table ("States and billing status"); older texts did not
bill ``starting``, so the set is a setting and every transition records which policy flagged it.
"""

from __future__ import annotations

from dataclasses import dataclass

POWER_STATES: tuple[str, ...] = (
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
