"""A fair reconcile (issue 24, item 3): the subscription the listing budget cut off is listed first by the
next run, so no subscription starves behind a large one; and adopting many VMs of a subscription writes
its registry row once."""

from __future__ import annotations

import pytest

from devtools.events import SUB
from devtools.fake_arm import FakeArm, make_vm
from devtools.faultproxy import FaultProxy
from shared.jobs import reconcile_subscription, reconcile_turns
from shared.jobs.reconcile import SubscriptionReport
from shared.jobs.reconcile_turns import in_turn, reconcile_subscriptions, resume_at
from shared.settings import STORAGE_CONNECTION, read_settings
from shared.sources import ArmClient
from shared.store.tables import open_ledger

A, B, C = SUB, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"


def report(subscription: str, *, cut: bool = False) -> SubscriptionReport:
    found = SubscriptionReport(subscription, failure="listing incomplete" if cut else None)
    found.cut_short = cut
    return found


def test_the_run_starts_where_the_last_one_was_cut_off_and_goes_round():
    assert in_turn([A, B, C], None) == [A, B, C]
    assert in_turn([A, B, C], C.upper()) == [C, A, B]
    assert in_turn([A, B, C], "no-longer-configured") == [A, B, C]


@pytest.mark.parametrize(
    ("reports", "next_first"),
    [
        ([report(A), report(B), report(C)], None),  # all listed: the usual order
        ([report(A), report(B, cut=True), report(C, cut=True)], B),  # cut off at B: B first next time
        ([report(A, cut=True), report(B, cut=True), report(C, cut=True)], B),  # A alone took the budget
        ([report(A, cut=True)], A),
    ],
)
def test_the_next_run_begins_at_the_first_subscription_cut_off_but_never_twice_at_one_that_took_it_all(
    reports, next_first
):
    assert resume_at(reports) == next_first


@pytest.mark.azurite
def test_subscriptions_a_spent_budget_leaves_are_reported_cut_short_and_listed_first_next(ledger):
    listing = {sub: [make_vm(sub, "rg-turns", f"vm-{sub[:4]}")] for sub in (A, B, C)}
    with FakeArm(listing) as fake:
        client = ArmClient(fake.url, "2024-07-01", retry_total=0)
        read: list[str] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reconcile_turns, "known_states", lambda *args: read.append(args[1]) or {})
            spent = reconcile_subscriptions(ledger, client, [A, B, C], budget_seconds=0)
        assert [r.cut_short for r in spent] == [True, True, True] and fake.requests == []
        assert read == []  # nor a table read for a subscription the budget leaves unlisted
        assert resume_at(spent) == B
        again = reconcile_subscriptions(ledger, client, [A, B, C], start_at=resume_at(spent))
    assert [r.subscription_id for r in again] == [B, C, A]
    assert all(r.failure is None and not r.cut_short and r.new == 1 for r in again)
    assert resume_at(again) is None


@pytest.mark.azurite
def test_adopting_many_vms_writes_the_subscription_registry_once(azurite, ledger_env, monkeypatch):
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(STORAGE_CONNECTION, proxy.connection_string)
        ledger = open_ledger(read_settings())
        listing = [make_vm(SUB, "rg-adopt", f"vm-{index:02d}") for index in range(30)]
        with FakeArm({SUB: listing}, page_size=10) as fake:
            proxy.reset_counts()
            adopted = reconcile_subscription(
                ledger, SUB, ArmClient(fake.url, "2024-07-01").iter_vm_pages(SUB)
            )
        assert adopted.new == 30
        assert proxy.counts()["merge"] == 1


@pytest.mark.azurite
def test_the_timer_lists_first_the_subscription_its_last_run_was_cut_off_at(ledger, monkeypatch):
    from azure.functions.timer import TimerRequest

    import function_app
    from shared import context, settings
    from shared.domain.times import utc_now
    from shared.jobs.refresh import RESUME_RECORD
    from shared.store import RunRecord, RunRecords

    RunRecords(ledger.table).put(RESUME_RECORD, RunRecord(utc_now(), True, C))
    listing = {sub: [make_vm(sub, "rg-turns", "vm")] for sub in (A, B, C)}
    with FakeArm(listing) as fake:
        monkeypatch.setenv(settings.RECONCILE_SUBSCRIPTION_IDS, ",".join([A, B, C]))
        monkeypatch.setenv(settings.ARM_ENDPOINT, fake.url)
        monkeypatch.setenv(settings.COMPUTE_API_VERSION, "2024-07-01")
        context.reset()
        function_app.reconcile_vms(TimerRequest(past_due=False))
        listed = [
            request.path.split("/")[2] for request in fake.requests if "virtualMachines" in request.path
        ]
    assert listed[0] == C and set(listed) == {A, B, C}
    after = RunRecords(ledger.table).get(RESUME_RECORD)
    assert after is not None and after.detail == ""  # every subscription listed: the usual order next time
