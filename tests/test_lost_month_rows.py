"""Month rows lost or cut short under a mark that still says they are complete (issue 21, item 3).

No event repairs them (a redelivery is a duplicate, the mark says complete), so the fleet answers must
not trust rows that disagree with the mark (they read the VM's own transitions instead, exact), and the
timer must find them and rebuild them, at the cost of a fleet answer (counted on the wire here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import function_app
from devtools.events import SUB, vm_id, wire_event
from devtools.faultproxy import WRITE_KINDS, FaultProxy
from shared import context
from shared.jobs import MONTHS_CHECKED, MonthRowsReport, rebuild_month_rows
from shared.store import Ledger
from tests.factories import deliver, http_get

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


def day(month: int, number: int) -> datetime:
    return datetime(2026, month, number, 9, tzinfo=UTC)


# name, group, (verb, time): months with entries and quiet months, open months December and November.
HISTORIES = {
    "a": ("rg-lost", [("write", day(9, 10)), ("deallocate", day(9, 20)), ("start", day(10, 5)),
                      ("powerOff", day(11, 2)), ("deallocate", day(11, 20)), ("start", day(12, 1)),
                      ("deallocate", day(12, 3))]),
    "b": ("rg-lost", [("write", day(10, 15)), ("deallocate", day(11, 3))]),
    "c": ("rg-other", [("write", day(12, 2))]),
    "q": ("rg-lost", [("write", day(8, 5)), ("deallocate", day(8, 6)), ("start", day(11, 10))]),
}  # fmt: skip
END = "2026-12-05T00:00:00Z"  # after every event: answers do not move with the clock
WINDOWS = [("2026-08-01", END), ("2026-10-01", END), ("2026-11-01", "2026-12-01"), ("2026-09-15", END)]


def month_row(name: str, month: str, chunk: int = 0) -> str:
    return f"mo|{month}|{HISTORIES[name][0]}|{name}!{chunk:02d}"


def without(*names: str) -> Callable[[dict], dict]:
    return lambda entity: {key: value for key, value in entity.items() if key not in names}


# What is lost: row keys deleted, or a row kept without some of its properties. The comment says which
# run of the timer finds it: the newest two open months are read every run, older months in turn.
LOSSES: dict[str, tuple[list[str], dict[str, Callable[[dict], dict]]]] = {
    "every month row of a VM": (
        [month_row("a", month) for month in ("2026-09", "2026-10", "2026-11", "2026-12")], {}
    ),
    "the open month's row": ([month_row("a", "2026-12")], {}),
    "the open month's last entry (a count below the mark's)": (
        [], {month_row("a", "2026-12"): without("e001")}
    ),
    "an entry inside a month": ([], {month_row("a", "2026-11"): without("e000")}),
    "the first month's row (older: checked in turn)": ([month_row("a", "2026-09")], {}),
    "a month's row after a month with entries (older)": ([month_row("a", "2026-10")], {}),
    "a quiet month's row (older)": ([month_row("q", "2026-09")], {}),
}  # fmt: skip


@pytest.fixture
def counted(counted_app: FaultProxy) -> tuple[FaultProxy, Ledger]:
    """The app's ledger through the counting proxy, with ``HISTORIES`` in it."""
    for name, (group, steps) in HISTORIES.items():
        deliver(*(wire_event(verb, when, resource_id=vm_id(name, group)) for verb, when in steps))
    return counted_app, context.get_ledger()


def month_rows(ledger: Ledger) -> dict[str, dict]:
    entities = ledger.table.query_entities(
        "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
        parameters={"pk": SUB, "low": "mo|", "high": "mo}"},
    )
    return {entity["RowKey"]: dict(entity) for entity in entities}


def lose(ledger: Ledger, loss: str) -> None:
    deleted, cut = LOSSES[loss]
    rows = month_rows(ledger)
    for key in deleted:
        assert key in rows, key
        ledger.table.delete_entity(SUB, key)
    for key, keep in cut.items():
        ledger.table.upsert_entity(keep(rows[key]), mode="replace")


def billed_by_get_vm(start: str, end: str) -> dict[str, float]:
    billed = {}
    for name, (group, _) in HISTORIES.items():
        route = {"subscriptionId": SUB, "resourceGroup": group, "vmName": name}
        body = json.loads(
            http_get(function_app.get_vm, "vms", route, **{"from": start, "to": end}).get_body()
        )
        billed[name] = body["billedSeconds"]
    return billed


def billed_by_fleet_answers(start: str, end: str) -> dict[str, dict[str, float]]:
    window = {"from": start, "to": end}
    vms = json.loads(http_get(function_app.list_vms, "vms", **window).get_body())["value"]
    timelines = json.loads(http_get(function_app.list_vm_timelines, "timelines", **window).get_body())[
        "value"
    ]
    costs = json.loads(
        http_get(function_app.list_costs, "costs", groupBy="subscription", **window).get_body()
    )
    return {
        "/vms": {item["vmName"]: item["billedSeconds"] for item in vms},
        "/timelines": {item["vmName"]: item["billedSeconds"] for item in timelines},
        "/costs": {"total": costs["total"]["billedSeconds"]},
    }


def assert_fleet_answers_match_get_vm() -> None:
    for start, end in WINDOWS:
        want = billed_by_get_vm(start, end)
        got = billed_by_fleet_answers(start, end)
        assert got["/vms"] == want, (start, end)
        assert got["/timelines"] == want, (start, end)
        assert got["/costs"] == {"total": sum(want.values())}, (start, end)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_fleet_answers_bill_what_get_vm_bills_when_month_rows_were_lost_under_the_mark(counted, loss):
    _, ledger = counted
    assert_fleet_answers_match_get_vm()  # first with every row there
    lose(ledger, loss)
    assert_fleet_answers_match_get_vm()


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_the_timer_finds_month_rows_that_disagree_with_their_mark_and_rebuilds_them(counted, loss):
    _, ledger = counted
    assert rebuild_month_rows(ledger) == MonthRowsReport(0, 0, 0, 0)  # nothing to do: every VM agrees
    whole = month_rows(ledger)
    lose(ledger, loss)
    assert month_rows(ledger) != whole
    runs, reports = 0, []
    older = "older" in loss
    # The newest open months are read every run; an older month within a day of hourly runs.
    while month_rows(ledger) != whole and runs < (24 if older else 1):
        reports.append(
            rebuild_month_rows(ledger, now=datetime(2026, 12, 7, tzinfo=UTC) + timedelta(hours=runs))
        )
        runs += 1
    assert month_rows(ledger) == whole, f"not repaired after {runs} runs: {reports}"
    assert reports[-1].disagreed == reports[-1].rebuilt == 1
    assert rebuild_month_rows(ledger) == MonthRowsReport(0, 0, 0, 0)
    assert_fleet_answers_match_get_vm()


def test_finding_disagreeing_month_rows_costs_a_fleet_answers_round_trips_not_one_per_vm(counted):
    proxy, ledger = counted
    for index in range(30):  # more VMs, in the open months already read
        deliver(
            wire_event("write", day(12, 1) + timedelta(minutes=index), resource_id=vm_id(f"more-{index:02d}"))
        )
    proxy.reset_counts()
    assert rebuild_month_rows(ledger) == MonthRowsReport(0, 0, 0, 0)
    # The registry, one page of current rows, one query per month read (at most MONTHS_CHECKED).
    assert set(proxy.counts()) == {"query"} and proxy.total() <= 2 + MONTHS_CHECKED
    assert not [seen for seen in proxy.seen if seen.kind in WRITE_KINDS]
