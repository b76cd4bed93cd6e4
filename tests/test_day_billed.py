"""Actuals' estimate of the same days from the day rows (issue 26): each VM's billed seconds per UTC day read
from its day rows (whole days) and its current row or month rows (edge days), the same seconds as
replaying every transition, so ``estimatedCostSameDays`` and the unbilled estimate of ``/costs`` are the
same either way, on busy VMs (up to 12 transitions a day) and for any window."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from devtools.events import SUB, vm_id
from shared.answers._days import billed_per_day, fleet_daily_billed, fleet_day_totals
from shared.answers._fleet import VmWindow
from shared.answers._window import window_rows
from shared.answers.actuals import billed_in, fleet_shares, share_of
from shared.domain.actuals import DayActual, resource_key
from shared.domain.pricing import HourlyPrice
from tests.test_day_totals import AS_OF, BEGIN, histories, record, windows

pytestmark = pytest.mark.azurite

PRICE = HourlyPrice(Decimal("0.096"), "USD", "D2s v5")


def replayed_days(ledger, row, start, end) -> dict[date, float]:
    """What every transition says: the VM's own rows from ``start``, replayed day by day."""
    window = window_rows(ledger, row, start, end, AS_OF)
    return billed_per_day(VmWindow(window.state_at_start, list(window.rows), window.accrue_until), start)


@pytest.mark.slow
def test_billed_seconds_per_day_from_day_rows_are_those_of_every_transition(ledger):
    record(histories(5))
    rows = list(ledger.iter_current_rows(SUB))
    assert all(row.upkeep.days is not None for row in rows)  # answered by day rows, not replayed
    for start, end in windows(11):
        got = fleet_daily_billed(ledger, rows, start, end, AS_OF, whole_subscriptions=True)
        for row, mine in zip(rows, got, strict=True):
            theirs = replayed_days(ledger, row, start, end)
            assert list(mine) == list(theirs), (row.vm.name, start, end)
            assert list(mine.values()) == pytest.approx(list(theirs.values()), abs=1e-6), (row.vm.name, start)


@pytest.mark.slow
def test_the_bills_estimate_of_the_same_days_is_that_of_replaying_every_transition(ledger):
    record(histories(6))
    rows = list(ledger.iter_current_rows(SUB))
    busy = next(row for row in rows if row.vm.name == "vm-3")  # 12 transitions a day
    billed_days = [BEGIN.date() + timedelta(days=offset) for offset in range(4, 19, 2)]  # every other day
    ledger.actuals.save(
        SUB,
        {resource_key(row.vm): vm_id(row.vm.name, "rg-days").lower() for row in rows},
        {
            resource_key(row.vm): {
                day: DayActual(day, Decimal("1.5"), None, 10.0, "USD") for day in billed_days
            }
            for row in rows
            if row is busy or row.vm.name == "vm-1"
        },
        AS_OF,
    )
    stored = ledger.actuals.load(SUB, "2026-09", "2026-12")
    for start, end in windows(13)[:8]:
        seconds = [replayed_days(ledger, row, start, end) for row in rows]
        until = min(end, AS_OF)
        window = (start, end, AS_OF)
        with_days = fleet_day_totals(
            ledger, rows, start, end, AS_OF, whole_subscriptions=True, by_day=billed_in(stored)
        )
        without = fleet_day_totals(ledger, rows, start, end, AS_OF, whole_subscriptions=True)
        assert [answer.totals for answer in with_days] == [answer.totals for answer in without]
        for answers in (with_days, without):  # the seconds per day read with the totals, or afterwards
            shares = fleet_shares(ledger, rows, answers, window, [PRICE] * len(rows), bill=stored)
            for row, per_day, share in zip(rows, seconds, shares, strict=True):
                want = share_of(row, per_day, (start, until), stored.get(resource_key(row.vm), {}), PRICE)
                assert (share.covered, share.estimate_same_days, share.estimate_unbilled) == (
                    want.covered, want.estimate_same_days, want.estimate_unbilled,
                ), (row.vm.name, start, end)  # fmt: skip
                assert share.actual == want.actual
