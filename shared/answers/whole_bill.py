"""The whole bill of a VM over a window: compute (``estimatedCost``, unchanged), the disks and IPs it holds
(``attachedCost``), their sum (``totalCost``) and what stopping it saved (``avoidedCost``).

Answers read the cached rates once (one range query) and the VMs' disks and IPs with them: one point read for
one VM, one range query per subscription and 1,000 rows for a page or a whole subscription, never one query
per VM. ``avoidedCost`` is the hours the VM was deallocated or hibernated in the window times its compute
hourly price: what stopping it saved against leaving it running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.answers.costs import PriceView, estimate
from shared.domain.accounting import WindowTotals
from shared.domain.attached import VmAttachments
from shared.domain.attached_pricing import AttachedCost, Rate, attached_cost
from shared.domain.ids import VmId
from shared.domain.pricing import CostEstimate, CostReason
from shared.store import CurrentRow, Ledger


@dataclass(frozen=True)
class AttachedView:
    """The cached disk and IP rates (``None``: never fetched), the attachments of the VMs asked about, and
    when each of their subscriptions was last listed whole."""

    currency: str
    rates: Mapping[str, Mapping[str, Rate]] | None
    attachments: Mapping[tuple[str, str], VmAttachments]
    listed: Mapping[str, datetime]
    subscriptions: frozenset[str] = frozenset()  # read whole (``attached_for_subscription``)

    def of(self, current: CurrentRow) -> VmAttachments | None:
        """The VM's disks and IPs; none (known) when a complete listing after its first record showed it
        holding nothing; ``None`` (not known) when no listing has run since the ledger first saw it."""
        vm = current.vm
        found = self.attachments.get((vm.subscription_key, vm.vm_key))
        listed = self.listed.get(vm.subscription_key)
        if found is None and listed is not None and current.span.first_time <= listed:
            return VmAttachments((), listed)
        return found


@dataclass(frozen=True)
class Total:
    amount: Decimal | None
    currency: str
    reason: CostReason | None = None


@dataclass(frozen=True)
class Avoided:
    amount: Decimal | None
    currency: str
    seconds: float
    reason: CostReason | None = None


@dataclass(frozen=True)
class WholeBill:
    compute: CostEstimate
    attached: AttachedCost
    total: Total
    avoided: Avoided


def attached_for(ledger: Ledger, currency: str, vms: Sequence[VmId]) -> AttachedView:
    """The rates, the attachments of ``vms`` (one point read for one VM, else one range query per
    subscription and 1,000 rows) and when each subscription was listed (one point read each)."""
    rates = _rates(ledger, currency)
    if len(vms) == 1:
        found = ledger.attached.get(vms[0])
        attachments = {(vms[0].subscription_key, vms[0].vm_key): found} if found else {}
    else:
        attachments = ledger.attached.for_vms(vms) if vms else {}
    listed = {}
    for subscription in sorted({vm.subscription_key for vm in vms}):
        at = ledger.attached.listed_at(subscription)
        if at is not None:
            listed[subscription] = at
    return AttachedView(currency, rates, attachments, listed)


def attached_for_subscription(
    ledger: Ledger, currency: str, subscription: str, view: AttachedView | None
) -> AttachedView:
    """Every VM row of ``subscription`` (the rates read once, passed on in ``view``)."""
    rates = view.rates if view is not None else _rates(ledger, currency)
    loaded, listed = ledger.attached.read_subscription(subscription)
    attachments = {(subscription.lower(), key): value for key, value in loaded.items()}
    listed_at = {subscription.lower(): listed} if listed else {}
    return AttachedView(currency, rates, attachments, listed_at, frozenset({subscription.lower()}))


def whole_bill(
    current: CurrentRow,
    totals: WindowTotals | None,
    start: datetime | None,
    end: datetime,
    prices: PriceView,
    attached: AttachedView,
) -> WholeBill:
    """The four costs of one VM; ``totals`` and ``start`` ``None``: no window (``monthly`` only)."""
    billed = totals.billed_seconds if totals is not None else None
    compute = estimate(current, billed, prices)
    kept = attached_cost(attached.of(current), attached.rates, prices.currency, start, end)
    if compute.amount is not None and kept.amount is not None:
        total = Total(compute.amount + kept.amount, prices.currency)
    else:
        total = Total(None, prices.currency, compute.reason or kept.reason)
    seconds = totals.deallocated_seconds if totals is not None else 0.0
    saved = estimate(current, seconds if totals is not None else None, prices)
    avoided = Avoided(saved.amount, prices.currency, seconds, saved.reason)
    return WholeBill(compute, kept, total, avoided)


def attached_estimate(view: AttachedView) -> Callable[[CurrentRow, datetime, datetime], Decimal | None]:
    """The estimate of a VM's disks and IPs over a stretch at ``view``'s rates (the bill's same days)."""

    def amount(current: CurrentRow, start: datetime, end: datetime) -> Decimal | None:
        return attached_cost(view.of(current), view.rates, view.currency, start, end).amount

    return amount


def _rates(ledger: Ledger, currency: str) -> Mapping[str, Mapping[str, Rate]] | None:
    stored = ledger.prices.load_rates(currency)
    return stored.regions if stored else None
