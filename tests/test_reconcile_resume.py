"""A reconcile that resumes inside a subscription, and adoption in transactions of many (issue 24, item 3):
a run the budget cuts off while listing a subscription's scale sets leaves where it got to in the table,
and the next run (another host) goes on after the last scale set listed whole, without listing the rest of
the subscription again; every VM is adopted exactly once over the runs; a page of new VMs costs a few
transactions and one registry write, not round trips per VM."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.fake_arm import FakeArm, make_instance, make_scale_set, make_vm
from devtools.faultproxy import FaultProxy
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import ScaleSetId, VmId, parse_vm_id
from shared.domain.operations import SUCCEEDED, change_for
from shared.jobs import reconcile_subscription
from shared.jobs.reconcile_turns import RESUME_PREFIX, ResumePoints, reconcile_subscriptions
from shared.settings import STORAGE_CONNECTION, read_settings
from shared.sources import ArmClient, ListedVm
from shared.store import Ledger, RunRecords
from shared.store._keys import current_key
from shared.store.tables import open_ledger

A, B = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f70"
GROUP = "rg-resume"


class CutArm(ArmClient):
    """A real ARM client on the fake whose run's time runs out when it is asked for the instances of
    ``cut_at``: that listing and every one after it find their deadline passed, as the budget's end would."""

    def __init__(self, url: str, cut_at: str | None = None) -> None:
        super().__init__(url, "2024-07-01", retry_total=0)
        self.cut_at, self.spent = cut_at, False

    def _deadline(self, deadline: float | None) -> float | None:
        return 0.0 if self.spent else deadline

    def iter_vm_pages(
        self, subscription_id: str, *, deadline: float | None = None
    ) -> Iterator[list[ListedVm]]:
        return super().iter_vm_pages(subscription_id, deadline=self._deadline(deadline))

    def iter_scale_set_pages(self, subscription_id: str, *, deadline: float | None = None) -> Any:
        return super().iter_scale_set_pages(subscription_id, deadline=self._deadline(deadline))

    def iter_instance_pages(self, scale_set: ScaleSetId, *, deadline: float | None = None) -> Any:
        self.spent = self.spent or scale_set.name == self.cut_at
        return super().iter_instance_pages(scale_set, deadline=self._deadline(deadline))


def fleet() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    vms = {
        A: [make_vm(A, GROUP, f"vm-{n}") for n in range(3)],
        B: [make_vm(B, GROUP, f"vm-{n}") for n in range(2)],
    }
    sets = [make_scale_set(A, GROUP, f"ss{n}", capacity=3) for n in range(4)]
    entries = [{"scaleSet": s, "instances": [make_instance(s, str(i)) for i in range(3)]} for s in sets]
    return vms, {A: entries}


def one_run(ledger: Ledger, arm: ArmClient) -> list:
    """One timer run's reconcile on a fresh host: a new ledger object and resume points read again."""
    cold = Ledger(ledger.table, ledger.policy)
    return reconcile_subscriptions(cold, arm, [A, B], resume=ResumePoints(RunRecords(ledger.table)))


def instance_listings(paths: list[str]) -> list[str]:
    """The scale sets whose instances were listed, in order."""
    listed = [
        path.split("/")[-2] for path in paths if path.endswith("/virtualMachines") and "ScaleSets" in path
    ]
    return list(dict.fromkeys(listed))


@pytest.mark.azurite
def test_a_run_cut_inside_a_subscriptions_scale_sets_is_resumed_there_and_every_vm_is_adopted_once(ledger):
    vms, scale_sets = fleet()
    with FakeArm(vms, scale_sets=scale_sets, page_size=2) as fake:
        first = one_run(ledger, CutArm(fake.url, cut_at="ss2"))
        resume = RunRecords(ledger.table).get(RESUME_PREFIX + A)
        assert resume is not None and resume.detail.endswith(f"{GROUP}|ss1")
        assert [(r.new, r.cut_short or r.failure is not None) for r in first] == [
            (3 + 2 * 3, True),
            (0, True),
        ]
        seen = len(fake.requests)

        second = one_run(ledger, CutArm(fake.url))
        paths = [request.path for request in fake.requests[seen:]]
        listed_a = [path for path in paths if f"/subscriptions/{A}/" in path]
        assert not any(path.endswith("/virtualMachines") and "ScaleSets" not in path for path in listed_a)
        assert instance_listings(paths) == ["ss2", "ss3"]  # after the last set listed whole, not again
        assert [(r.new, r.failure) for r in second] == [(2 * 3, None), (2, None)]
        assert RunRecords(ledger.table).get(RESUME_PREFIX + A).detail == ""  # type: ignore[union-attr]
        seen = len(fake.requests)

        third = one_run(ledger, CutArm(fake.url))  # a whole listing again, from List All
        assert instance_listings([request.path for request in fake.requests[seen:]]) == [
            "ss0",
            "ss1",
            "ss2",
            "ss3",
        ]
    assert [(r.new, r.changed, r.deleted, r.unchanged) for r in third] == [(0, 0, 0, 3 + 12), (0, 0, 0, 2)]
    every = [parse_vm_id(vm["id"]) for sub in (A, B) for vm in vms[sub]]
    every += [parse_vm_id(i["id"]) for entry in scale_sets[A] for i in entry["instances"]]
    assert all(len(list(ledger.iter_transitions(vm))) == 1 for vm in every if vm is not None)


@pytest.mark.azurite
def test_a_resumed_run_judges_gone_only_what_a_complete_part_did_not_list(ledger):
    vms, scale_sets = fleet()
    with FakeArm(vms, scale_sets=scale_sets, page_size=2) as fake:
        one_run(ledger, CutArm(fake.url))
    # Gone since: a VM, an instance of ss0, and the whole of ss3.
    vms[A] = vms[A][1:]
    scale_sets[A][0]["instances"] = scale_sets[A][0]["instances"][1:]
    scale_sets[A] = scale_sets[A][:3]
    with FakeArm(vms, scale_sets=scale_sets, page_size=2) as fake:
        cut = one_run(ledger, CutArm(fake.url, cut_at="ss1"))
        assert cut[0].deleted == 1 + 1 + 3  # List All's VM, ss3's three (the set listing is whole), ss0's
        resumed = one_run(ledger, CutArm(fake.url))
    assert (resumed[0].deleted, resumed[0].unchanged) == (0, 3 + 3)
    gone = [
        ledger.get_current(vm) for vm in (VmId(A, GROUP, "vm-0"), ScaleSetId(A, GROUP, "ss0").instance("0"))
    ]
    assert all(row is not None and row.condition.state.deleted for row in gone)


@pytest.mark.slow
@pytest.mark.azurite
def test_250_new_vms_are_adopted_in_a_few_transactions_with_one_registry_write(
    azurite, ledger_env, monkeypatch
):
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(STORAGE_CONNECTION, proxy.connection_string)
        ledger = open_ledger(read_settings())
        listing = [make_vm(A, GROUP, f"vm-{n:03d}", power="deallocated" if n % 5 else "running")
                   for n in range(250)]  # fmt: skip
        with FakeArm({A: listing}, page_size=250) as fake:
            proxy.reset_counts()
            report = reconcile_subscription(ledger, A, ArmClient(fake.url, "2024-07-01").iter_vm_pages(A))
            arm_trips = len(fake.requests)
        counts = proxy.counts()
    assert report.new == 250 and report.failure is None and arm_trips == 1
    # A new VM is 3 operations (its transition, month row, current row): 33 VMs to a transaction of 100.
    assert counts["batch"] == math.ceil(250 / 33)
    assert counts["merge"] == 1  # the subscription's registry row, once
    assert counts["point_read"] == 0
    assert counts["query"] == 2  # the subscription's current rows; the new VMs' rows, one key range
    assert sum(counts.values()) == math.ceil(250 / 33) + 3
    row = ledger.get_current(VmId(A, GROUP, "vm-001"))
    assert row is not None and row.condition.state.power_state == "deallocated"
    assert len(list(ledger.iter_transitions(VmId(A, GROUP, "vm-001")))) == 1


@pytest.mark.azurite
def test_a_new_vm_whose_current_row_was_lost_is_adopted_from_its_rows_not_over_them(ledger):
    lost = VmId(A, GROUP, "vm-001")
    created = datetime(2026, 11, 1, tzinfo=UTC)
    ledger.record(
        NewTransition(lost, created, change_for("write", SUCCEEDED), ResourceEvent("ev-1", "write"))
    )
    ledger.table.delete_entity(A, current_key(lost))
    listing = [make_vm(A, GROUP, f"vm-{n:03d}") for n in range(40)]
    with FakeArm({A: listing}, page_size=40) as fake:
        cold = Ledger(ledger.table, ledger.policy)
        report = reconcile_subscription(cold, A, ArmClient(fake.url, "2024-07-01").iter_vm_pages(A))
    assert report.new == 40 and report.failure is None
    rebuilt = ledger.get_current(lost)
    assert rebuilt is not None and rebuilt.span.first_time == created  # its history kept, not started over
    assert len(list(ledger.iter_transitions(lost))) == 2
