"""Reconcile under ARM faults: a listing failing on page k deletes nothing; the next clean run converges."""

from __future__ import annotations

import logging

import pytest

from devtools.events import SUB, at, vm_id
from devtools.fake_arm import FakeArm, Faults, make_vm
from shared.domain.ids import parse_vm_id
from shared.jobs import ReconcileFailed, raise_for_failures, reconcile_subscription, reconcile_subscriptions
from shared.sources import ArmClient

pytestmark = [pytest.mark.faults, pytest.mark.azurite]


def run(ledger, fake: FakeArm, hour: int):
    client = ArmClient(fake.url, "2024-07-01", retry_total=2, retry_backoff_factor=0)
    return reconcile_subscription(ledger, SUB, client.iter_vm_pages(SUB), clock=lambda: at(hours=hour))


def states(ledger, names: list[str]) -> dict[str, tuple]:
    result = {}
    for name in names:
        current = ledger.get_current(parse_vm_id(vm_id(name, "rg-pool")))
        result[name] = (
            None
            if current is None
            else (current.condition.state.power_state, current.condition.state.deleted)
        )
    return result


@pytest.mark.parametrize("fault", [Faults(fail_page=3), Faults(drop_page=3), Faults(garbage_page=3)])
def test_a_listing_failing_on_page_k_deletes_nothing_and_the_next_clean_run_converges(ledger, fault):
    names = [f"n{i:02d}" for i in range(10)]
    first = [make_vm(SUB, "rg-pool", name, power="running") for name in names]
    with FakeArm({SUB: first}, page_size=3) as fake:
        assert run(ledger, fake, 1).failure is None

        # Half the pool is deallocated and two VMs are gone; the listing then breaks on page 3.
        second = [make_vm(SUB, "rg-pool", name, power="deallocated" if i % 2 else "running")
                  for i, name in enumerate(names[:8])]  # fmt: skip
        fake.set_vms(SUB, second)
        fake.faults = fault
        broken = run(ledger, fake, 2)
        assert broken.failure is not None
        assert broken.deleted == 0
        assert all(not deleted for _, deleted in states(ledger, names).values())

        fake.faults = Faults()
        clean = run(ledger, fake, 3)
    assert clean.failure is None
    expected = {name: ("deallocated" if i % 2 else "running", False) for i, name in enumerate(names[:8])}
    expected.update({name: (None, True) for name in names[8:]})
    assert states(ledger, names) == expected
    assert run_again_appends_nothing(ledger, second)


def run_again_appends_nothing(ledger, vms) -> bool:
    """No row but confirmations (in rows of their own, one per VM found unchanged)."""
    before = _rows_but_confirmations(ledger)
    with FakeArm({SUB: vms}, page_size=3) as fake:
        report = run(ledger, fake, 4)
    return report.failure is None and _rows_but_confirmations(ledger) == before


def _rows_but_confirmations(ledger) -> int:
    return sum(1 for entity in ledger.table.list_entities() if not entity["RowKey"].startswith("cf|"))


def test_a_retry_after_of_a_day_ends_the_reconcile_at_once_and_reports_the_subscription_failed(
    ledger, caplog
):
    throttled = Faults(throttle_first=1000, retry_after="100000")
    with FakeArm({SUB: [make_vm(SUB, "rg-pool", "n1")]}, faults=throttled) as fake:
        client = ArmClient(fake.url, "2024-07-01")  # the defaults the app runs with, real sleeps
        with caplog.at_level(logging.WARNING):
            reports = reconcile_subscriptions(ledger, client, [SUB])
        requests = len(fake.requests)
    with pytest.raises(ReconcileFailed, match=SUB):
        raise_for_failures(reports)
    assert requests == 1  # the throttled page was not retried after a day, nor at all
    assert "Retry-After 100000 s" in caplog.text
    assert f"subscription {SUB}" in caplog.text and "FAILED" in caplog.text and "429" in caplog.text


def test_no_listing_page_is_requested_once_the_run_s_time_budget_is_spent(ledger):
    with FakeArm({SUB: [make_vm(SUB, "rg-pool", "n1")]}) as fake:
        client = ArmClient(fake.url, "2024-07-01")
        [report] = reconcile_subscriptions(ledger, client, [SUB], budget_seconds=-1)
        assert fake.requests == []
    assert report.failure is not None
