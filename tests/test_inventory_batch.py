"""The inventory refresh merges a subscription's changed rows 100 to a transaction, on the ETags read.

Round trips are counted by ``devtools.faultproxy.FaultProxy`` between the ledger and Azurite. A row an
event changes between the read and the transaction makes the transaction fail whole; that chunk is then
written row by row, so the raced row keeps the event's state and the others are still stored.
"""

from __future__ import annotations

import logging
import math

import pytest

from devtools.events import SUB, at, vm_id, wire_event
from devtools.fake_arm import FakeArm, make_vm
from devtools.faultproxy import FaultProxy, FaultRule
from shared import context
from shared.domain.ids import parse_vm_id
from shared.jobs import reconcile_subscription, refresh_inventory
from shared.settings import STORAGE_CONNECTION
from shared.sources import ArmClient
from shared.store import MAX_INVENTORY_MERGES
from tests.factories import deliver

pytestmark = pytest.mark.azurite

GROUP = "rg-app"
SIZE = "Standard_D4s_v5"


def models(names: list[str]) -> dict[str, list[dict]]:
    return {SUB: [make_vm(SUB, GROUP, name, vm_size=SIZE, power="deallocated") for name in names]}


def refresh(ledger, fake: FakeArm):
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)
    return refresh_inventory(ledger, SUB, lambda: client.iter_model_pages(SUB), clock=lambda: at(hours=2))


def spec_of(ledger, name: str):
    row = ledger.get_current(parse_vm_id(vm_id(name)))
    assert row is not None
    return row


@pytest.fixture
def proxied_ledger(ledger_env, azurite, monkeypatch):
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(STORAGE_CONNECTION, proxy.connection_string)
        context.reset()
        yield proxy, context.get_ledger()
    context.reset()


def race_after_reading(ledger, monkeypatch, name: str) -> None:
    """An event for ``name`` recorded after the refresh has read the current rows, before it writes."""
    read = ledger.iter_current_rows

    def rows_then_event(*args, **kwargs):
        rows = list(read(*args, **kwargs))
        deliver(wire_event("deallocate", at(hours=1, minutes=30), resource_id=vm_id(name)))
        yield from rows

    monkeypatch.setattr(ledger, "iter_current_rows", rows_then_event)


@pytest.mark.slow
def test_250_changed_inventories_cost_3_transactions_not_250_merges(proxied_ledger):
    proxy, ledger = proxied_ledger
    names = [f"vm-{n:03d}" for n in range(250)]
    with FakeArm(models(names), page_size=250) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        adopted = reconcile_subscription(ledger, SUB, client.iter_vm_pages(SUB))
        assert adopted.new == 250 and adopted.failure is None
        proxy.reset_counts()
        report = refresh(ledger, fake)
    counts = proxy.counts()
    assert (report.failure, report.listed, report.updated) == (None, 250, 250)
    assert (report.raced, report.skipped) == (0, 0)
    assert counts["batch"] == math.ceil(250 / MAX_INVENTORY_MERGES) == 3
    assert counts.get("merge", 0) == 0
    for name in names:
        spec = spec_of(ledger, name).profile.spec
        assert spec is not None and spec.vm_size == SIZE


@pytest.mark.slow
def test_a_row_an_event_changed_since_the_read_is_counted_raced_and_keeps_the_events_state(
    proxied_ledger, monkeypatch, caplog
):
    """The chunk's transaction fails whole and is written row by row: the raced row keeps the event's
    state, a row whose own merge storage refuses is skipped alone and logged, the others are stored."""
    proxy, ledger = proxied_ledger
    names = ["a-refused", "b-raced", "c-plain", "d-plain"]
    for name in names:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    race_after_reading(ledger, monkeypatch, "b-raced")
    proxy.set_faults([FaultRule("500", 1.0, kinds=frozenset({"merge"}), path_contains="a-refused")])
    with FakeArm(models(names)) as fake, caplog.at_level(logging.WARNING):
        proxy.reset_counts()
        report = refresh(ledger, fake)
    proxy.set_faults([])
    assert (report.failure, report.listed, report.updated, report.raced, report.skipped) == (None, 4, 2, 1, 1)
    assert proxy.counts()["batch"] == 2  # the event's own transaction, and the refused one
    raced = spec_of(ledger, "b-raced")
    assert raced.profile.spec is None and raced.condition.state.power_state == "deallocated"
    assert spec_of(ledger, "a-refused").profile.spec is None
    assert f"{vm_id('a-refused')}: inventory not stored" in caplog.text
    for name in ("c-plain", "d-plain"):
        assert spec_of(ledger, name).profile.spec.vm_size == SIZE


@pytest.mark.slow
def test_a_transaction_storage_fails_is_skipped_whole_and_written_by_the_next_refresh(proxied_ledger, caplog):
    proxy, ledger = proxied_ledger
    names = ["a-plain", "b-plain", "c-plain"]
    for name in names:
        deliver(wire_event("write", at(hours=1), resource_id=vm_id(name)))
    proxy.set_faults([FaultRule("500", 1.0, kinds=frozenset({"batch"}))])
    with FakeArm(models(names)) as fake:
        with caplog.at_level(logging.WARNING):
            failed = refresh(ledger, fake)
        assert (failed.failure, failed.updated, failed.skipped) == (None, 0, 3)
        assert "3 skipped" in caplog.text
        assert all(spec_of(ledger, name).profile.spec is None for name in names)
        proxy.set_faults([])
        again = refresh(ledger, fake)
    assert (again.failure, again.updated, again.skipped) == (None, 3, 0)
    assert all(spec_of(ledger, name).profile.spec.vm_size == SIZE for name in names)
