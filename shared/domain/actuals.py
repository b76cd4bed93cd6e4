"""The bill beside the estimate: Cost Management's daily rows rolled up per resource and UTC day, the
ledger's billed seconds per day, the discount the bill shows, and the ``billingDrift`` rule.

Cost Management knows what was charged a day late; the ledger knows the hours. Compute meters are the
``Virtual Machines`` meter category (its usage quantity is hours) and ``Virtual Machines Licenses`` (cost
only). Resource ids are compared lower-cased (the bill lower-cases them). A Uniform scale set's usage comes
under the scale set's id: it is compared with the sum of its instances.

``billingDrift``: a resource-day where the bill's compute hours and the ledger's billed hours differ by
more than ``DRIFT_FRACTION`` of the ledger's hours and by more than ``DRIFT_MIN_HOURS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from shared.domain.accounting import window_totals
from shared.domain.attached_actuals import AttachedBill, AttachedShare, plus
from shared.domain.ids import VmId
from shared.domain.vm_state import VmState

HOURS_CATEGORY = "virtual machines"
COMPUTE_CATEGORIES = frozenset({HOURS_CATEGORY, "virtual machines licenses"})
DRIFT_FRACTION = 0.10
DRIFT_MIN_HOURS = 0.5
DAY = timedelta(days=1)


class CostType(StrEnum):
    ACTUAL = "ActualCost"
    AMORTIZED = "AmortizedCost"


@dataclass(frozen=True)
class BillRow:
    """One row of a Cost Management daily query: a resource's meter category on one UTC day."""

    resource_id: str  # lower-cased
    meter_category: str
    day: date
    cost: Decimal
    quantity: float
    currency: str


@dataclass(frozen=True)
class DayActual:
    """What the bill says of one resource's compute on one UTC day; ``ledger_hours`` is the ledger's billed
    hours for that day when the actuals were stored (``None``: it had none to compare)."""

    day: date
    actual: Decimal
    amortized: Decimal | None
    hours: float
    currency: str
    ledger_hours: float | None = None


def resource_key(vm: VmId) -> str:
    """The key the bill's rows of ``vm`` are kept under: its own, or its Uniform scale set's."""
    scale_set = vm.scale_set
    return f"set|{scale_set.key}" if scale_set is not None else f"vm|{vm.vm_key}"


def billed_resource_id(vm: VmId) -> str:
    """The resource id the bill charges ``vm``'s compute to, lower-cased: a Uniform instance's scale set."""
    scale_set = vm.scale_set
    return (scale_set.resource_id if scale_set is not None else vm.resource_id).lower()


def is_compute(row: BillRow) -> bool:
    return row.meter_category.strip().lower() in COMPUTE_CATEGORIES


@dataclass
class _DaySum:
    currency: str
    actual: Decimal = Decimal(0)
    amortized: Decimal | None = None
    hours: float = 0.0

    def add(self, cost_type: CostType, row: BillRow) -> None:
        if cost_type is CostType.AMORTIZED:
            self.amortized = (self.amortized or Decimal(0)) + row.cost
            return
        self.actual += row.cost
        if row.meter_category.strip().lower() == HOURS_CATEGORY:
            self.hours += row.quantity


def roll_up(
    actual: Iterable[BillRow],
    amortized: Iterable[BillRow],
    key_of: Callable[[str], str | None],
    attached_of: Callable[[str, date], str | None] = lambda _id, _day: None,
) -> dict[str, dict[date, DayActual]]:
    """Compute rows summed per known resource (``key_of`` maps a lower-cased id to its key, ``None`` for a
    resource the ledger does not know) and day; amortized cost beside the actual. The rows of a disk or IP
    whose holder ``attached_of`` knows that day go, whatever their meter, under that key (no hours)."""
    sums: dict[tuple[str, date], _DaySum] = {}
    for cost_type, rows in ((CostType.ACTUAL, actual), (CostType.AMORTIZED, amortized)):
        for row in rows:
            resource_id = row.resource_id.lower()
            key = key_of(resource_id)
            if key is None:
                key = attached_of(resource_id, row.day)
            elif not is_compute(row):
                continue
            if key is not None:
                sums.setdefault((key, row.day), _DaySum(row.currency)).add(cost_type, row)
    result: dict[str, dict[date, DayActual]] = {}
    for (key, day), total in sums.items():
        result.setdefault(key, {})[day] = DayActual(
            day, total.actual, total.amortized, total.hours, total.currency
        )
    return result


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def days_between(start: datetime, end: datetime) -> list[date]:
    """The UTC days ``[start, end)`` touches."""
    first, days = start.astimezone(UTC).date(), []
    while day_start(first) < end:
        days.append(first)
        first += DAY
    return days


def daily_billed_seconds(
    state_at_start: VmState | None,
    changes: Iterable[tuple[datetime, VmState]],
    start: datetime,
    end: datetime,
) -> dict[date, float]:
    """Billed seconds per UTC day of ``[start, end)``, from the state at ``start`` and the changes after."""
    ordered = sorted(changes, key=lambda change: change[0])
    result: dict[date, float] = {}
    state = state_at_start
    for day in days_between(start, end):
        lo, hi = max(day_start(day), start), min(day_start(day) + DAY, end)
        inside = [change for change in ordered if lo <= change[0] < hi]
        result[day] = window_totals(state, inside, lo, hi).billed_seconds
        if inside:
            state = inside[-1][1]
    return result


class DriftDirection(StrEnum):
    BILL_HAS_MORE = "billHasMore"  # the ledger missed running time, or the bill charged time not running
    LEDGER_HAS_MORE = "ledgerHasMore"  # the ledger missed a stop, or the bill has not caught up


# The sources that could have told the ledger what it missed.
MISSED_BY = ("events", "reconcile")


@dataclass(frozen=True)
class DriftDay:
    day: date
    bill_hours: float
    ledger_hours: float

    @property
    def direction(self) -> DriftDirection:
        if self.bill_hours > self.ledger_hours:
            return DriftDirection.BILL_HAS_MORE
        return DriftDirection.LEDGER_HAS_MORE


def drifts(bill_hours: float, ledger_hours: float) -> bool:
    """Whether the bill's and the ledger's hours of one day differ enough to say one of them is wrong."""
    difference = abs(bill_hours - ledger_hours)
    return difference > DRIFT_MIN_HOURS and difference > DRIFT_FRACTION * ledger_hours


def drift_days(days: Iterable[DayActual]) -> list[DriftDay]:
    """The days of ``days`` whose stored ledger hours drift from the bill's, in day order."""
    found = [
        DriftDay(day.day, day.hours, day.ledger_hours)
        for day in days
        if day.ledger_hours is not None and drifts(day.hours, day.ledger_hours)
    ]
    return sorted(found, key=lambda drift: drift.day)


@dataclass(frozen=True)
class BillShare:
    """One VM's share of the bill over a window: the days its resource's bill covers, the bill's amounts
    for them (``None`` for a Uniform instance that does not carry its set's), and its estimate on those
    days and on the days not yet billed (``None`` without a price)."""

    covered: tuple[date, ...]
    actual: Decimal | None
    amortized: Decimal | None
    hours: float | None
    currency: str | None
    estimate_same_days: Decimal | None
    estimate_unbilled: Decimal | None
    attached: AttachedShare = AttachedShare()  # the disks and IPs it held


@dataclass
class GroupBill:
    """A group's bill beside its estimate over the days the bill covers.

    ``discount`` is actual / estimate over the covered days of the VMs that have both; ``calibrated`` the
    estimate of the days not yet billed times that discount: still an estimate, scaled by what the bill
    showed.
    """

    covered: set[date] = field(default_factory=set)
    actual: Decimal | None = None
    amortized: Decimal | None = None
    amortized_complete: bool = True
    hours: float = 0.0
    currency: str | None = None
    estimate_same_days: Decimal | None = None
    estimate_unbilled: Decimal | None = None
    attached: AttachedBill = field(default_factory=AttachedBill)  # its VMs' disks and IPs
    _priced_actual: Decimal = Decimal(0)
    _priced_estimate: Decimal = Decimal(0)

    def add(self, share: BillShare) -> None:
        self.attached.add(share.attached)
        self.covered.update(share.covered)
        if share.estimate_unbilled is not None:
            self.estimate_unbilled = (self.estimate_unbilled or Decimal(0)) + share.estimate_unbilled
        if not share.covered:
            return
        self.currency = self.currency or share.currency
        if share.estimate_same_days is not None:
            self.estimate_same_days = (self.estimate_same_days or Decimal(0)) + share.estimate_same_days
            self._priced_estimate += share.estimate_same_days
            self._priced_actual += share.actual or Decimal(0)
        if share.actual is not None:
            self.actual = (self.actual or Decimal(0)) + share.actual
            self.hours += share.hours or 0.0
            if share.amortized is None:
                self.amortized_complete = False
            else:
                self.amortized = (self.amortized or Decimal(0)) + share.amortized

    def merge(self, other: GroupBill) -> None:
        """Add another group's bill (the fleet's total)."""
        self.covered |= other.covered
        self.attached.merge(other.attached)
        self.actual = plus(self.actual, other.actual)
        self.amortized = plus(self.amortized, other.amortized)
        self.amortized_complete = self.amortized_complete and other.amortized_complete
        self.hours += other.hours
        self.currency = self.currency or other.currency
        self.estimate_same_days = plus(self.estimate_same_days, other.estimate_same_days)
        self.estimate_unbilled = plus(self.estimate_unbilled, other.estimate_unbilled)
        self._priced_actual += other._priced_actual
        self._priced_estimate += other._priced_estimate

    @property
    def difference(self) -> Decimal | None:
        """Actual minus estimate over the covered days of the VMs that have both (``discount``'s parts)."""
        return self._priced_actual - self._priced_estimate if self._priced_estimate > 0 else None

    @property
    def discount(self) -> Decimal | None:
        return self._priced_actual / self._priced_estimate if self._priced_estimate > 0 else None

    @property
    def calibrated(self) -> Decimal | None:
        discount = self.discount
        if discount is None or self.estimate_unbilled is None:
            return None
        return self.estimate_unbilled * discount
