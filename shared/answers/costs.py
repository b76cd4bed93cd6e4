"""Estimated compute cost: one VM's for a window, from the cached prices (``costs_report`` sums it per owner).

Estimates are billed hours times the retail hourly price cached by the price refresh (the price in force
when it ran, applied to the whole window). Answers only read the cache: the prices API's outages and
throttling never reach them. A VM without a price gets no amount and a reason, never 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shared.answers._days import fleet_day_totals
from shared.answers._fleet import VmWindow, accrual_end, fleet_windows
from shared.answers.actuals import first_of_sets, load_bill
from shared.domain.accounting import WindowTotals, stopped_billed_seconds, window_totals
from shared.domain.actuals import DayActual, resource_key
from shared.domain.pricing import CostEstimate, CostReason, cost_of, kind_for
from shared.store import CurrentRow, Ledger, StoredPrices


@dataclass(frozen=True)
class PriceView:
    """The cached prices an answer uses: every pair (fleet answers) or one VM's (``get_vm``)."""

    currency: str
    pairs: Mapping[tuple[str, str], StoredPrices]


def all_prices(ledger: Ledger, currency: str) -> PriceView:
    """Every cached pair in ``currency``: one range query."""
    return PriceView(currency, ledger.prices.load(currency))


def prices_for(ledger: Ledger, currency: str, current: CurrentRow) -> PriceView:
    """The cached prices of one VM's region and size: one point read (none without inventory)."""
    spec = current.profile.spec
    if spec is None or not spec.location or not spec.vm_size:
        return PriceView(currency, {})
    stored = ledger.prices.get(currency, spec.location, spec.vm_size)
    return PriceView(currency, {(stored.region, stored.size): stored} if stored else {})


def estimate(current: CurrentRow, billed_seconds: float | None, prices: PriceView) -> CostEstimate:
    """The VM's cost for ``billed_seconds`` at its meter's price, or why there is none."""
    spec = current.profile.spec
    kind = kind_for(spec) if spec is not None else None
    if spec is None or kind is None or not spec.location or not spec.vm_size:
        return CostEstimate(None, prices.currency, None, None, CostReason.NO_INVENTORY)
    stored = prices.pairs.get((spec.location.lower(), spec.vm_size.lower()))
    if stored is None:
        return CostEstimate(None, prices.currency, None, None, CostReason.PRICES_NOT_LOADED)
    price = stored.prices.get(kind)
    if price is None:
        reason = CostReason.INVALID_PRICE if kind in stored.unusable else CostReason.NO_PRICE
        return CostEstimate(None, prices.currency, None, stored.fetched_at, reason)
    if billed_seconds is None:
        return CostEstimate(None, prices.currency, price, stored.fetched_at, CostReason.NO_WINDOW)
    return CostEstimate(cost_of(billed_seconds, price), prices.currency, price, stored.fetched_at)


def totals_of(window: VmWindow, start: datetime) -> WindowTotals:
    changes = ((change.time, change.state) for change in window.changes)
    return window_totals(window.state_at_start, changes, start, window.accrue_until)


def fleet_totals(
    ledger: Ledger, rows: Sequence[CurrentRow], start: datetime, end: datetime, as_of: datetime
) -> list[WindowTotals]:
    """Billed and unknown seconds of a page of VMs (key order): whole days summed, edges replayed."""
    return [answer.totals for answer in fleet_day_totals(ledger, rows, start, end, as_of)]


@dataclass(frozen=True)
class VmWindowCost:
    """A VM's billed and unknown seconds in a window and their estimated cost; its window, and (when
    asked for) its resource's billed days."""

    current: CurrentRow
    billed_seconds: float
    unknown_seconds: float
    cost: CostEstimate
    stopped_billed_seconds: float  # of ``billed_seconds``, while stopped (allocated): paid for nothing
    window: VmWindow
    bill: Mapping[date, DayActual]
    carries_set: bool  # a Uniform instance that carries its scale set's bill (the set's first)
    deallocated_seconds: float = 0.0  # deallocated or hibernated: compute that stopping saved

    @property
    def totals(self) -> WindowTotals:
        return WindowTotals(self.billed_seconds, self.unknown_seconds, self.deallocated_seconds)


def iter_window_costs(
    ledger: Ledger,
    start: datetime,
    end: datetime,
    as_of: datetime,
    prices: PriceView,
    subscription_id: str | None = None,
    *,
    with_bill: bool = False,
) -> Iterator[VmWindowCost]:
    """Every VM that existed in ``[start, end)``, with its totals and cost, subscription by subscription:
    its current rows (one query per 1,000 VMs), then its month rows (one query per month and 1,000 rows);
    ``with_bill``, its stored actuals too (one query per 1,000 resource-months)."""
    subscriptions = [subscription_id.lower()] if subscription_id else sorted(ledger.list_subscriptions())
    for subscription in subscriptions:
        rows = list(ledger.iter_current_rows(subscription))
        if not rows:
            continue
        windows = fleet_windows(ledger, rows, start, end, as_of, whole_subscriptions=True)
        bill = load_bill(ledger, subscription, start, accrual_end(start, end, as_of)) if with_bill else {}
        existed = [(row, window) for row, window in zip(rows, windows, strict=True) if _existed(window)]
        carriers = first_of_sets([row for row, _ in existed])
        for row, window in existed:
            totals = totals_of(window, start)
            cost = estimate(row, totals.billed_seconds, prices)
            changes = [(change.time, change.state) for change in window.changes]
            stopped = stopped_billed_seconds(window.state_at_start, changes, start, window.accrue_until)
            days = bill.get(resource_key(row.vm), {})
            yield VmWindowCost(
                row, totals.billed_seconds, totals.unknown_seconds, cost, stopped,
                window, days, row.vm.vm_key in carriers, totals.deallocated_seconds,
            )  # fmt: skip


def _existed(window: VmWindow) -> bool:
    states = [window.state_at_start, *(change.state for change in window.changes)]
    return any(state is not None and not state.deleted for state in states)
