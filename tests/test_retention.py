"""``TRANSITION_RETENTION_DAYS``: the timer removes transitions older than the cut, and every answer stays
what it was: ``/costs`` and a VM's billed duration over windows after the cut and over windows reaching
before it (day rows and month rows are kept), also after a late event makes the timer rebuild the month rows
from the transitions left. A VM's transition list starts at the cut, and nothing older is recorded.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared import web
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.times import format_time, month_of, month_start, utc_now
from shared.jobs.month_rows import rebuild_month_rows
from shared.jobs.retention import remove_old_transitions
from shared.store import Ledger, Outcome, open_ledger
from shared.store.retention import retention_cut
from shared.store.seeding import seed_histories
from shared.web.responses import Request

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

SUB = "3b1d2c4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
NOW = utc_now().replace(minute=0, second=0, microsecond=0)
DAYS = 40
CUT = retention_cut(NOW, DAYS)
VMS = [VmId(SUB, "rg-keep", f"vm-{index}") for index in range(3)]
_OP = "Microsoft.Compute/virtualMachines/"


def _event(vm: VmId, at, verb: str, tag: str = "") -> NewTransition:
    suffix = "write" if verb == "write" else f"{verb}/action"
    evidence = ResourceEvent(f"{vm.name}-{at.isoformat()}-{verb}{tag}", _OP + suffix)
    return NewTransition(vm, at, change_for(suffix, SUCCEEDED), evidence)


def _history(index: int, vm: VmId) -> list[NewTransition]:
    """Created 110 days ago, then started and deallocated every day (VM 2 goes quiet 60 days ago)."""
    first = NOW - timedelta(days=110) + timedelta(hours=index)
    history = [_event(vm, first, "write")]
    last_day = 60 if index == 2 else 1
    for day in range(109, last_day, -1):
        morning = NOW - timedelta(days=day, hours=-8 + index)
        history += [
            _event(vm, morning, "start"),
            _event(vm, morning + timedelta(hours=9, minutes=7), "deallocate"),
        ]
    return history


def _seeded(ledger: Ledger) -> Ledger:
    """``ledger`` holding the fleet's histories (with their month and day rows), with a retention cut."""
    ledger.retention_days = DAYS
    seed_histories(ledger.table, ledger.policy, [_history(index, vm) for index, vm in enumerate(VMS)])
    return ledger


def _answers(ledger: Ledger) -> dict[str, Any]:
    """``/costs`` and each VM's report, over a window after the cut and one reaching before it."""
    end = NOW - timedelta(hours=1)
    windows = {
        "after": (CUT + timedelta(days=2, hours=5), end),
        "before": (CUT - timedelta(days=45, hours=3), end),
    }
    found: dict[str, Any] = {}
    for name, (start, stop) in windows.items():
        params = {"from": start.isoformat(), "to": stop.isoformat()}
        found[f"costs {name}"] = _plain(web.list_costs(Request("http://x/api/costs", params, {}), ledger,
                                                       currency="USD"))  # fmt: skip
        for vm in VMS:
            route = {
                "subscriptionId": vm.subscription_id,
                "resourceGroup": vm.resource_group,
                "vmName": vm.name,
            }
            body = web.get_vm(Request("http://x/api/vms", params, route), ledger, currency="USD")
            found[f"{vm.name} {name}"] = {key: body[key] for key in ("billedSeconds", "unknownSeconds")}
    return found


def _listing_starts(ledger: Ledger, vm: VmId, since) -> str | None:
    """A VM's transition list's ``retainedFrom``: said when the list asked for reaches before the cut."""
    params = {"top": "5"} | ({"from": since.isoformat()} if since else {})
    route = {"subscriptionId": vm.subscription_id, "resourceGroup": vm.resource_group, "vmName": vm.name}
    body = web.list_vm_transitions(Request("http://x/api/transitions", params, route), ledger)
    assert isinstance(body, dict)
    return body.get("retainedFrom")


def _plain(body: Any) -> Any:
    return {key: value for key, value in body.items() if key != "asOf"}


def test_retention_removes_old_transitions_and_every_answer_stays_the_same(fresh_ledger):
    ledger = _seeded(fresh_ledger())
    before = _answers(ledger)

    report = remove_old_transitions(ledger, now=NOW, deadline=time.monotonic() + 120)
    assert report.finished and report.vms == len(VMS) and report.removed > 100

    for vm in VMS:
        rows = list(ledger.iter_transitions(vm))
        current = ledger.get_current(vm)
        # Only the VM's last row outlives the cut when nothing came after it (the quiet VM 2).
        assert all(row.time >= CUT or row.key == current.span.last_key for row in rows)
        assert rows and rows[-1].key == current.span.last_key
    assert _answers(ledger) == before
    assert [_listing_starts(ledger, vm, since) for vm, since in ((VMS[0], None), (VMS[0], NOW))] == [
        format_time(CUT),
        None,
    ]
    # A second run the same day does nothing; the next day's pass finds nothing more to remove.
    assert remove_old_transitions(ledger, now=NOW, deadline=time.monotonic() + 120).vms == 0
    again = remove_old_transitions(
        ledger, now=NOW + timedelta(days=1, hours=1), deadline=time.monotonic() + 120
    )
    assert again.removed == 0 or retention_cut(NOW + timedelta(days=1, hours=1), DAYS) > CUT


def test_after_retention_a_late_event_and_the_month_row_rebuild_keep_the_answers_exact(app_settings):
    kept = open_ledger(replace(app_settings, table_name=app_settings.table_name + "kept"))
    pruned = _seeded(open_ledger(app_settings))
    _seeded(kept).retention_days = 0
    assert remove_old_transitions(pruned, now=NOW, deadline=time.monotonic() + 120).removed > 100
    # A shutdown from inside the guest, learnt late: 3 days after the cut, between two recorded rows.
    vm = VMS[0]
    late = _event(vm, CUT + timedelta(days=3, hours=12), "powerOff", "-late")
    for ledger in (kept, pruned):
        assert ledger.record(late) == Outcome.RECORDED
        assert ledger.get_current(vm).upkeep.months is None  # the month rows wait for the timer
        assert rebuild_month_rows(ledger, now=NOW).rebuilt == 1
        assert ledger.get_current(vm).upkeep.months is not None
    assert _answers(pruned) == _answers(kept)
    assert ledger_rows(pruned, "dy|") == ledger_rows(kept, "dy|")
    assert ledger_rows(pruned, "mo|") == ledger_rows(kept, "mo|")


def ledger_rows(ledger: Ledger, prefix: str) -> dict[str, dict[str, Any]]:
    return {entity["RowKey"]: dict(entity) for entity in ledger.table.list_entities()
            if entity["RowKey"].startswith(prefix)}  # fmt: skip


def test_a_transition_before_the_cut_is_not_recorded(fresh_ledger):
    ledger = _seeded(fresh_ledger())
    old = _event(VMS[0], CUT - timedelta(days=3), "powerOff", "-late")
    assert ledger.record(old) == Outcome.SKIPPED
    assert month_start(month_of(CUT)) == CUT
