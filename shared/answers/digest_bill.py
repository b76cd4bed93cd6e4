"""The digest's money beyond compute: what is paid for nothing (the disks and public IPs of the VMs
deallocated now, and the unattached disks, each per month at the cached rates) and what stopping VMs saved
that day (its deallocated and hibernated hours at each VM's compute price, as ``avoidedCost`` counts them).

Beyond the day's costs the digest reads anyway, it reads the subscription registry and the disk and IP rates
once, and each subscription's disk and IP rows (``read_whole``): one range query per subscription and 1,000
rows, never one per VM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.answers.costs import PriceView, VmWindowCost, estimate
from shared.answers.disk_findings import disk_monthly
from shared.answers.whole_bill import AttachedView
from shared.domain.attached_pricing import AttachedCost, attached_cost
from shared.domain.findings import Thresholds, unattached_disk
from shared.domain.pricing import CostEstimate
from shared.store import CurrentRow, Ledger, UnattachedDisk


@dataclass(frozen=True)
class Residual:
    """A VM deallocated now and what its disks and IPs cost a month (``cost.monthly``)."""

    item: VmWindowCost
    cost: AttachedCost


@dataclass(frozen=True)
class LooseDisk:
    """A managed disk no VM owns and what it costs a month (``cost.monthly``)."""

    disk: UnattachedDisk
    cost: AttachedCost


@dataclass(frozen=True)
class Saved:
    """A VM's seconds of the day deallocated or hibernated, and their cost at its compute price."""

    item: VmWindowCost
    cost: CostEstimate


@dataclass(frozen=True)
class DigestBill:
    residual: list[Residual]  # costliest first, the unknown last
    unattached: list[LooseDisk]  # costliest first, the unknown last
    unlisted_subscriptions: int  # never listed whole: their unattached disks are not known
    saved: list[Saved]  # costliest first, the unknown last


def digest_bill(
    ledger: Ledger,
    costs: Sequence[VmWindowCost],
    prices: PriceView,
    *,
    as_of: datetime,
    thresholds: Thresholds,
) -> DigestBill:
    """The residual of the VMs of ``costs`` deallocated at ``as_of``, the unattached disks then (at the
    ``unattachedDisk`` threshold) and what the day's deallocated hours saved."""
    currency = prices.currency
    stored = ledger.prices.load_rates(currency)
    rates = stored.regions if stored else None
    off: dict[str, list[VmWindowCost]] = {}
    for item in costs:
        if _deallocated(item.current):
            off.setdefault(item.current.vm.subscription_key.lower(), []).append(item)
    residual: list[Residual] = []
    loose: list[LooseDisk] = []
    unlisted = 0
    for subscription in sorted({s.lower() for s in ledger.list_subscriptions()} | set(off)):
        whole = ledger.attached.read_whole(subscription)
        held = {(subscription, key): value for key, value in whole.vms.items()}
        view = AttachedView(currency, rates, held, {subscription: whole.listed} if whole.listed else {})
        residual += [
            Residual(item, attached_cost(view.of(item.current), rates, currency, None, as_of))
            for item in off.get(subscription, [])
        ]  # fmt: skip
        unlisted += whole.listed is None
        loose += [
            LooseDisk(disk, disk_monthly(disk, rates, currency, as_of))
            for disk in whole.unattached
            if unattached_disk(disk.since, as_of, thresholds) is not None
        ]  # fmt: skip
    saved = [
        Saved(item, estimate(item.current, item.deallocated_seconds, prices))
        for item in costs
        if item.deallocated_seconds > 0
    ]  # fmt: skip
    return DigestBill(
        sorted(residual, key=lambda line: _dearest(line.cost.monthly)),
        sorted(loose, key=lambda line: _dearest(line.cost.monthly)),
        unlisted,
        sorted(saved, key=lambda line: _dearest(line.cost.amount)),
    )


def _deallocated(current: CurrentRow) -> bool:
    state = current.condition.state
    return not state.deleted and state.power_state == "deallocated"


def _dearest(amount: Decimal | None) -> tuple[bool, Decimal]:
    return (amount is None, -(amount or Decimal(0)))
