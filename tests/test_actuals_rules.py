"""The bill's arithmetic without storage: the drift rule's two thresholds, the roll-up of compute meters
per known resource and day, billed seconds per UTC day, the discount and the calibrated estimate, and the
durations ``ACTUALS_REFRESH`` accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.actuals import BillRow, BillShare, GroupBill, daily_billed_seconds, drifts, roll_up
from shared.domain.times import parse_period
from tests.test_pure_core import state

DAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("bill", "ledger", "drift"),
    [
        (9.0, 5.0, True),  # 4 h apart, 80 %
        (5.0, 5.0, False),
        (5.4, 5.0, False),  # 0.4 h: under half an hour
        (24.0, 23.4, False),  # 0.6 h but 2.6 %: under 10 %
        (24.0, 21.0, True),  # 3 h and 14 %
        (0.6, 0.0, True),  # billed time the ledger has none of
        (0.0, 3.0, True),  # the ledger's time the bill has none of
    ],
)
def test_drift_needs_more_than_ten_percent_and_half_an_hour(bill, ledger, drift):
    assert drifts(bill, ledger) is drift


def row(resource: str, category: str, cost: str, hours: float = 0.0, day: date = DAY) -> BillRow:
    return BillRow(resource, category, day, Decimal(cost), hours, "USD")


def test_the_roll_up_keeps_compute_meters_of_known_resources_per_day():
    vms = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/"
    actual = [
        row(vms + "a", "Virtual Machines", "1.5", 5),
        row(vms + "a", "Virtual Machines Licenses", "0.5", 5),  # compute's cost, not its hours
        row(vms + "a", "Bandwidth", "9"),
        row(vms + "x", "Virtual Machines", "9", 9),  # a resource the ledger does not know
    ]
    amortized = [row(actual[0].resource_id, "Virtual Machines", "1.2", 5)]
    known = {actual[0].resource_id: "vm|rg|a"}
    rolled = roll_up(actual, amortized, known.get)
    assert list(rolled) == ["vm|rg|a"]
    day = rolled["vm|rg|a"][DAY]
    assert (day.actual, day.amortized, day.hours) == (Decimal("2.0"), Decimal("1.2"), 5.0)


def test_billed_seconds_are_split_at_utc_midnight():
    start = datetime(2026, 11, 23, tzinfo=UTC)
    running, stopped = (
        state("running", start + timedelta(hours=20)),
        state("deallocated", start + timedelta(hours=26)),
    )
    changes = [(running.since, running), (stopped.since, stopped)]
    seconds = daily_billed_seconds(None, changes, start, start + timedelta(days=3))
    assert seconds == {DAY: 4 * 3600.0, date(2026, 11, 24): 2 * 3600.0, date(2026, 11, 25): 0.0}


def test_the_discount_and_the_calibrated_estimate():
    bill = GroupBill()
    bill.add(BillShare((DAY,), Decimal("8"), Decimal("6"), 10.0, "USD", Decimal("10"), Decimal("5")))
    bill.add(BillShare((), None, None, None, None, None, Decimal("5")))  # not billed yet: its estimate waits
    bill.add(BillShare((DAY,), Decimal("3"), Decimal("3"), 3.0, "USD", None, None))  # no price
    assert bill.actual == Decimal("11") and bill.estimate_same_days == Decimal("10")
    assert bill.discount == Decimal("0.8")  # over the VMs with both: 8 / 10
    assert bill.calibrated == Decimal("8.0")  # (5 + 5) x 0.8
    empty = GroupBill()
    assert empty.discount is None and empty.calibrated is None


@pytest.mark.parametrize(
    ("text", "period"),
    [("P1D", timedelta(days=1)), ("PT6H", timedelta(hours=6)), ("P1DT12H", timedelta(hours=36)),
     ("pt30m", timedelta(minutes=30))],
)  # fmt: skip
def test_durations_in_iso_8601(text, period):
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["", "P", "PT", "1D", "P1W", "P1DT", "-P1D"])
def test_what_is_not_a_duration(text):
    with pytest.raises(ValueError):
        parse_period(text)
