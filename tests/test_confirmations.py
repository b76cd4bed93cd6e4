"""Reconcile confirmations in rows of their own: a warm instance's next event stays one round trip after
any number of reconciles, a confirmation counts only for the state it saw, and fleet reads join them.

Round trips are counted on the wire by the counting proxy in front of Azurite: counts, not timings.
"""

from __future__ import annotations

import json

import pytest

import function_app
from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from shared.answers import findings_page
from shared.domain.findings import FindingKind, Thresholds
from shared.jobs import reconcile_subscription
from shared.sources import ArmClient
from shared.store import cursor_of
from tests.factories import deliver, http_get

pytestmark = pytest.mark.azurite

NAMES = [f"vm-{index:02d}" for index in range(12)]


def reconcile_all(ledger, hours: float, names=NAMES, power: str = "running") -> int:
    listing = [make_vm(SUB, "rg-app", name, power=power) for name in names]
    with FakeArm({SUB: listing}, page_size=5) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        report = reconcile_subscription(ledger, SUB, client.iter_vm_pages(SUB), clock=lambda: at(hours=hours))
    assert report.failure is None
    return report.confirmed


def findings_of(**params: str) -> list[dict]:
    response = http_get(function_app.list_findings, "findings", **params)
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())["value"]


@pytest.mark.slow
def test_a_warm_event_costs_one_round_trip_after_any_number_of_reconciles(counted_app, fresh_ledger):
    timer = fresh_ledger()  # the timer runs on another instance: its writes are unknown to the warm cache
    for name in NAMES:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    states = ["running", "deallocated"]
    for round_ in range(4):
        confirmed = reconcile_all(timer, hours=2 + round_, power=states[round_ % 2])
        assert confirmed == len(NAMES)
        counted_app.reset_counts()
        verb = ("deallocate", "start")[round_ % 2]
        for name in NAMES:
            deliver(wire_event(verb, at(hours=2.5 + round_), resource_id=vm_id(name)))
        assert counted_app.counts() == {"batch": len(NAMES)}, f"after reconcile {round_ + 1}"


def test_a_reconcile_leaves_current_rows_and_their_etags_as_they_were(ledger):
    for name in NAMES[:3]:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    before = {entity["RowKey"]: entity.metadata["etag"] for entity in ledger.table.list_entities()}
    assert reconcile_all(ledger, hours=2, names=NAMES[:3]) == 3
    after = {entity["RowKey"]: entity.metadata["etag"] for entity in ledger.table.list_entities()}
    assert {key: etag for key, etag in after.items() if not key.startswith("cf|")} == before
    assert sorted(key for key in after if key.startswith("cf|")) == [f"cf|rg-app|{n}" for n in NAMES[:3]]


def test_a_confirmation_counts_only_while_the_state_it_saw_is_the_last(ledger):
    deliver(wire_event("write", at(hours=1), resource_id=vm_id("a")))
    reconcile_all(ledger, hours=5, names=["a"])
    row = next(ledger.iter_current_rows(SUB, confirmations=True))
    assert row.confirmed_at == at(hours=5)
    # Without the join, only the row's own time confirms it (no column of the current row was written).
    assert next(ledger.iter_current_rows(SUB)).confirmed_at == at(hours=1)
    # An event recorded after the listing read the row, at an earlier time than the listing: the
    # confirmation was of the state before it, so it no longer counts.
    deliver(wire_event("powerOff", at(hours=4), resource_id=vm_id("a")))
    row = next(ledger.iter_current_rows(SUB, confirmations=True))
    assert row.confirmed_at == at(hours=4)


def test_findings_join_confirmations_across_pages_and_cursors(ledger):
    for name in NAMES:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    reconcile_all(ledger, hours=30)
    # VMs with an event after the listing hold a state it never saw; the others keep its confirmation.
    deliver(*(wire_event("start", at(hours=2), resource_id=vm_id(name)) for name in NAMES[1::2]))
    expected = {name: at(hours=2 if index % 2 else 30) for index, name in enumerate(NAMES)}
    seen: dict[str, object] = {}
    after = None
    while True:  # two findings a page: the range read of each page resumes after the cursor
        page = findings_page(
            ledger, SUB, None, kinds=[FindingKind.UNCONFIRMED], thresholds=Thresholds(), top=2,
            after=after, as_of=at(hours=100), currency="USD",
        )  # fmt: skip
        seen.update({item.current.vm.name: item.current.confirmed_at for item in page.items})
        after = page.next_after
        if after is None:
            break
    assert seen == expected
    rows = ledger.iter_current_rows(SUB, confirmations=True, page_size=3, after=cursor_of(first(ledger)))
    assert {row.vm.name: row.confirmed_at for row in rows} == {n: expected[n] for n in NAMES[1:]}


def first(ledger):
    return next(ledger.iter_current_rows(SUB))
