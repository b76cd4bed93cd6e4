"""Findings across the fleet: the domain's rules applied to pages of current rows, never to histories.

Each VM's findings come from its current row and its confirmation row (state, since, cause, last
confirmation), so a fleet of N VMs costs ``2 x ceil(N / 1000)`` range queries (plus one read of the
subscription registry when no subscription is named), whatever the length of the histories. Asked for
``billingDrift``, each subscription's stored actuals of the last ``DRIFT_LOOKBACK_DAYS`` are read once too
(one range query per 1,000 resource-months); a Uniform scale set's drift is shown on its first instance in
key order. A page with findings reads the cached prices once more, for each finding's estimated cost (its
billed hours at the VM's hourly price).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.answers.costs import PriceView, all_prices, estimate
from shared.answers.paging import Page, iter_all
from shared.answers.reports import in_scale_set
from shared.answers.whole_bill import attached_for
from shared.domain.actuals import DriftDay, drift_days, resource_key
from shared.domain.attached_pricing import AttachedCost, attached_cost
from shared.domain.findings import (
    DRIFT_LOOKBACK_DAYS,
    RULES,
    Finding,
    FindingKind,
    Thresholds,
    VmFacts,
    findings_of,
)
from shared.domain.ids import ScaleSetId
from shared.domain.pricing import CostEstimate
from shared.domain.times import month_of
from shared.store import CurrentRow, Ledger, cursor_of

SCAN_PAGE = 1000


@dataclass(frozen=True)
class VmFinding:
    current: CurrentRow
    finding: Finding
    cost: CostEstimate  # of ``finding.billed_hours``
    attached: AttachedCost | None = None  # deallocatedLong: what its disks and IPs still cost a month


def facts_of(current: CurrentRow, as_of: datetime, drift: DriftDay | None = None) -> VmFacts:
    """What the rules read of a current row (and of the bill its compute is charged on)."""
    return VmFacts(
        state=current.condition.state,
        cause=current.condition.cause,
        last_change=current.span.last_time,
        confirmed_at=current.confirmed_at,
        as_of=as_of,
        drift=drift,
    )


class DriftLookup:
    """The latest drifting day of each resource, read once per subscription; a scale set's is handed to
    its first live instance in key order only, whichever page that instance falls on."""

    def __init__(self, ledger: Ledger, as_of: datetime) -> None:
        self._ledger, self._as_of = ledger, as_of
        self._latest: dict[str, dict[str, DriftDay]] = {}
        self._carriers: dict[tuple[str, str], str | None] = {}

    def drift_of(self, row: CurrentRow) -> DriftDay | None:
        """``row``'s resource's latest drift (``row`` live); a set's only for its carrier."""
        subscription, key = row.vm.subscription_key, resource_key(row.vm)
        if subscription not in self._latest:
            self._latest[subscription] = self._read(subscription)
        drift = self._latest[subscription].get(key)
        if drift is None or row.vm.scale_set is None:
            return drift
        if (subscription, key) not in self._carriers:
            self._carriers[(subscription, key)] = self._first_live_instance(row)
        return drift if self._carriers[(subscription, key)] == row.vm.vm_key else None

    def _first_live_instance(self, row: CurrentRow) -> str | None:
        """The key of the set's first instance not deleted: one range query of the set's current rows (a
        page of findings may begin inside the set, after instances another page showed)."""
        scale_set = row.vm.scale_set
        if scale_set is None:
            return None
        instances = self._ledger.iter_current_rows(
            scale_set.subscription_id, group=scale_set.resource_group, scale_set_name=scale_set.name,
            page_size=100,
        )  # fmt: skip
        return next((item.vm.vm_key for item in instances if not item.condition.state.deleted), None)

    def _read(self, subscription: str) -> dict[str, DriftDay]:
        start = self._as_of - timedelta(days=DRIFT_LOOKBACK_DAYS)
        stored = self._ledger.actuals.load(subscription, month_of(start), month_of(self._as_of))
        latest = {}
        for key, days in stored.items():
            recent = [day for day in days.values() if day.day >= start.date()]
            found = drift_days(recent)
            if found:
                latest[key] = found[-1]
        return latest


def findings_page(
    ledger: Ledger,
    subscription_id: str | None,
    resource_group: str | None,
    *,
    kinds: Sequence[FindingKind],
    thresholds: Thresholds,
    top: int,
    after: str | None,
    as_of: datetime,
    currency: str,
    scale_set: ScaleSetId | str | None = None,
) -> Page[VmFinding]:
    """Up to ``top`` findings of the VMs after the cursor ``after``, in VM key order then ``kinds`` order;
    with ``scale_set``, of its instances and members only (as ``vms_page``).

    A VM's findings are never split across pages (a page holds more than ``top`` only when one VM alone
    has more); the cursor is a VM's, as for the VM list.
    """
    items: list[VmFinding] = []
    last: CurrentRow | None = None
    prices: PriceView | None = None
    drifts = DriftLookup(ledger, as_of) if FindingKind.BILLING_DRIFT in kinds else None
    rows = ledger.iter_current_rows(
        subscription_id, group=resource_group, after=after, page_size=SCAN_PAGE, confirmations=True
    )
    for row in rows:
        if scale_set is not None and not in_scale_set(row, scale_set):
            last = row
            continue
        drift = drifts.drift_of(row) if drifts is not None and not row.condition.state.deleted else None
        found = findings_of(facts_of(row, as_of, drift), thresholds, kinds)
        if found and items and len(items) + len(found) > top and last is not None:
            return Page(_with_attached(ledger, currency, items, as_of), cursor_of(last))
        if found:
            prices = prices or all_prices(ledger, currency)
            items += [VmFinding(row, f, estimate(row, f.billed_hours * 3600, prices)) for f in found]
        last = row
    return Page(_with_attached(ledger, currency, items, as_of), None)


def _with_attached(ledger: Ledger, currency: str, items: list[VmFinding], as_of: datetime) -> list[VmFinding]:
    """``deallocatedLong`` findings with their disks' and IPs' monthly cost: one read for the page's VMs."""
    wanted = [item.current.vm for item in items if item.finding.kind == FindingKind.DEALLOCATED_LONG]
    if not wanted:
        return items
    view = attached_for(ledger, currency, wanted)
    return [
        replace(item, attached=attached_cost(view.of(item.current), view.rates, currency, None, as_of))
        if item.finding.kind == FindingKind.DEALLOCATED_LONG else item
        for item in items
    ]  # fmt: skip


def all_findings(
    ledger: Ledger, *, thresholds: Thresholds, as_of: datetime, currency: str
) -> Iterator[VmFinding]:
    """Every finding of every kind across the fleet, page after page (the findings topic, the digest)."""
    return iter_all(
        lambda after: findings_page(
            ledger,
            None,
            None,
            kinds=list(RULES),
            thresholds=thresholds,
            top=SCAN_PAGE,
            after=after,
            as_of=as_of,
            currency=currency,
        )  # fmt: skip
    )
