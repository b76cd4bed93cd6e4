"""The bill's disk and public IP rows matched to the VM that holds them, and their share of a window.

The bill charges a disk or an IP under its own resource id; the inventory (``domain.attached``) knows which
VM held it and since when. A day's row goes to the VM that held the resource longest that UTC day; a day
before the inventory first listed it goes to the first VM it saw holding it (the inventory only knows a
resource from its first listing on, and a disk or IP seldom changes VM); a day after the last holder let it
go goes to no VM (an unattached disk is the ``unattachedDisk`` finding's). They are kept apart from the
compute rows (``attached_key``), so the compute actual and the ``billingDrift`` hours stay compute only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.domain.attached import VmAttachments

_DAY = timedelta(days=1)
ATTACHED_SUFFIX = "|att"


def attached_key(vm_key: str) -> str:
    """The key the bill's rows of the disks and IPs a VM held are kept under (``vm_key`` as in ``VmId``)."""
    return f"vm|{vm_key}{ATTACHED_SUFFIX}"


@dataclass(frozen=True)
class _Holding:
    key: str
    since: datetime
    until: datetime | None


class AttachedOwners:
    """Which VM held each disk and public IP on a UTC day, from the VMs' stored attachments."""

    def __init__(self, attachments: Mapping[str, VmAttachments]) -> None:
        self._holdings: dict[str, list[_Holding]] = {}
        for vm_key, kept in attachments.items():
            for held in kept.held:
                holding = _Holding(attached_key(vm_key), held.since, held.until)
                self._holdings.setdefault(held.item.resource_id.lower(), []).append(holding)
        for holdings in self._holdings.values():
            holdings.sort(key=lambda holding: holding.since)

    def owner_on(self, resource_id: str, day: date) -> str | None:
        """The key of the VM whose disks and IPs ``resource_id``'s bill of ``day`` belongs to, if any."""
        holdings = self._holdings.get(resource_id.lower())
        if not holdings:
            return None
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        hi = lo + _DAY
        if hi <= holdings[0].since:
            return holdings[0].key
        overlaps = [(_overlap(holding, lo, hi), holding.since, holding.key) for holding in holdings]
        best = max(overlaps)
        return best[2] if best[0] > timedelta(0) else None


def _overlap(holding: _Holding, lo: datetime, hi: datetime) -> timedelta:
    until = holding.until if holding.until is not None else hi
    return max(timedelta(0), min(until, hi) - max(holding.since, lo))


@dataclass(frozen=True)
class AttachedShare:
    """One VM's disks' and IPs' bill over a window: the days it covers, the actual and amortized cost, and
    the estimate (``attachedCost``'s rates) of exactly those days (``None``: unknown)."""

    covered: tuple[date, ...] = ()
    actual: Decimal | None = None
    amortized: Decimal | None = None
    currency: str | None = None
    estimate_same_days: Decimal | None = None


@dataclass
class AttachedBill:
    """A group's (or one VM's) disks' and IPs' bill: sums of its VMs' ``AttachedShare``; the estimate of the
    same days is ``None`` as soon as one VM's is unknown, never a silent 0."""

    covered: set[date] = field(default_factory=set)
    actual: Decimal | None = None
    amortized: Decimal | None = None
    amortized_complete: bool = True
    currency: str | None = None
    estimate_same_days: Decimal | None = None
    estimate_complete: bool = True

    def add(self, share: AttachedShare) -> None:
        if not share.covered:
            return
        self.covered.update(share.covered)
        self.currency = self.currency or share.currency
        self.actual = (self.actual or Decimal(0)) + (share.actual or Decimal(0))
        if share.amortized is None:
            self.amortized_complete = False
        else:
            self.amortized = (self.amortized or Decimal(0)) + share.amortized
        if share.estimate_same_days is None:
            self.estimate_complete = False
        else:
            self.estimate_same_days = (self.estimate_same_days or Decimal(0)) + share.estimate_same_days

    def merge(self, other: AttachedBill) -> None:
        self.covered |= other.covered
        self.currency = self.currency or other.currency
        self.actual = plus(self.actual, other.actual)
        self.amortized = plus(self.amortized, other.amortized)
        self.amortized_complete = self.amortized_complete and other.amortized_complete
        self.estimate_same_days = plus(self.estimate_same_days, other.estimate_same_days)
        self.estimate_complete = self.estimate_complete and other.estimate_complete


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """``days`` as runs of consecutive days, ``(first, last)`` each, in order."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + _DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def plus(left: Decimal | None, right: Decimal | None) -> Decimal | None:
    """The sum of two amounts, either of which may be unknown (``None``: the other alone)."""
    if left is None:
        return right
    return left if right is None else left + right
