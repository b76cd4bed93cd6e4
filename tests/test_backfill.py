"""Activity Log backfill on Azurite against a loopback fake of the Activity Log API (published record shape,
paging, Started/Accepted/Succeeded records of one operation, throttling and a failure): history from
before the deployment, idempotence, and one operation from two sources recorded once, in either order."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devtools.events import SUB, instance_id, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import PUBLISHED_ACTIVITY_LOG, FakeArm, Faults, make_vm, operation_records
from shared.answers import vm_report
from shared.cli import main
from shared.domain.ids import parse_vm_id
from shared.domain.times import parse_time, utc_now
from shared.jobs import backfill_adopted, backfill_vms, handle_event, reconcile_subscriptions
from shared.sources import ArmClient, inbound_from_json, vm_operations
from shared.store import Outcome
from tests.factories import deliver

pytestmark = pytest.mark.azurite

PUBLISHED_EVENTS = Path(__file__).resolve().parent / "data" / "published" / "events" / "vm"
START = "Microsoft.Compute/virtualMachines/start/action"
DEALLOCATE = "Microsoft.Compute/virtualMachines/deallocate/action"
WRITE = "Microsoft.Compute/virtualMachines/write"


def client(fake: FakeArm, retries: int = 0) -> ArmClient:
    return ArmClient(fake.url, "2024-07-01", retry_total=retries, retry_backoff_factor=0)


def rows(ledger, resource_id: str) -> list:
    return list(ledger.iter_transitions(parse_vm_id(resource_id)))


def test_only_final_records_of_a_vms_own_operations_count_at_their_end_time():
    vm = parse_vm_id(vm_id("web-01"))
    ended = utc_now() - timedelta(days=3)
    records = operation_records(vm.resource_id, DEALLOCATE, ended, seed="d", uri_query="&hibernate=true")
    records += operation_records(vm.resource_id + "/extensions/agent", WRITE, ended, seed="x")
    records += operation_records(vm_id("other"), START, ended, seed="o")
    assert [r["status"]["value"] for r in records[:3]] == ["Started", "Accepted", "Succeeded"]
    [operation] = vm_operations(records, vm)
    assert operation.time == parse_time(records[2]["eventTimestamp"]) and operation.outcome == "Succeeded"
    assert (operation.change.power_state, operation.change.hibernated) == ("deallocated", True)
    assert operation.correlation_id == records[2]["correlationId"]
    # The published example is a support ticket, not a VM: nothing.
    published = json.loads(PUBLISHED_ACTIVITY_LOG.read_text())["responses"]["200"]["body"]["value"]
    assert vm_operations(published, vm) == []


def test_a_vm_deallocated_40_days_before_deployment_shows_since_40_days_ago_after_backfill(ledger):
    now = utc_now()
    resource_id = vm_id("archive", "rg-old")
    history = operation_records(resource_id, WRITE, now - timedelta(days=60), seed="w")
    history += operation_records(resource_id, START, now - timedelta(days=45), seed="s")
    history += operation_records(resource_id, DEALLOCATE, now - timedelta(days=40), seed="d")
    listing = {SUB: [make_vm(SUB, "rg-old", "archive", power="deallocated")]}
    with FakeArm(listing, activity_log={SUB: history}, page_size=2) as fake:  # 8 records: 4 pages
        [report] = reconcile_subscriptions(ledger, client(fake), [SUB])
        backfill_adopted(ledger, client(fake), report.adopted, days=90, max_vms=50)  # the timer's next step
        log_requests = [r for r in fake.requests if "Insights" in r.path]
    assert report.new == 1 and len(log_requests) == 4
    first = log_requests[0].query
    assert first["api-version"] == "2015-04-01" and "caller" not in first["$select"]
    assert first["$filter"].endswith(f"and resourceUri eq '{resource_id}'")
    current = ledger.get_current(parse_vm_id(resource_id))
    assert current.condition.state.power_state == "deallocated"
    assert abs(current.condition.state.since - (now - timedelta(days=40))) < timedelta(seconds=1)
    assert [row.evidence.source for row in rows(ledger, resource_id)] == ["activityLog"] * 3 + ["reconcile"]
    # Without the backfill the 50 days before adoption would be unknown; now they are known: running
    # (created 60 days ago) until the deallocate 40 days ago, then deallocated.
    totals = vm_report(ledger, current.vm, now - timedelta(days=50), now, now).totals
    assert totals.unknown_seconds == 0
    assert abs(totals.billed_seconds - 10 * 86400) < 120
    stored = json.dumps([dict(e) for e in ledger.table.list_entities()])
    assert "admin@contoso.com" not in stored and "John" not in stored and "192.168" not in stored


def test_backfill_twice_adds_nothing(ledger):
    now = utc_now()
    resource_id = vm_id("twice")
    deliver(wire_event("write", now - timedelta(hours=1), resource_id=resource_id))
    history = operation_records(resource_id, START, now - timedelta(days=10), seed="a")
    history += operation_records(resource_id, DEALLOCATE, now - timedelta(days=9), seed="b")
    vm = parse_vm_id(resource_id)
    with FakeArm(activity_log={SUB: history}) as fake:
        first = backfill_vms(ledger, client(fake), [vm], days=30)
        before = rows(ledger, resource_id)
        second = backfill_vms(ledger, client(fake), [vm], days=30)
    assert (first.recorded, first.already_recorded) == (2, 0)
    assert (second.recorded, second.already_recorded) == (0, 2)
    assert rows(ledger, resource_id) == before and len(before) == 3


@pytest.mark.parametrize("event_first", [True, False])
@pytest.mark.parametrize("same_correlation", [True, False])
def test_one_operation_from_event_grid_and_the_activity_log_is_recorded_once(
    ledger, event_first, same_correlation
):
    """The published Event Grid sample of a VM start, and the Activity Log records of that start ending
    1.6 s before its eventTime: with the placeholder correlation id (no GUID: matched on time) or with the
    Activity Log's correlation id filled in."""
    wire = json.loads((PUBLISHED_EVENTS / "event-grid-schema" / "resource_action_success.json").read_text())
    resource_id, event_time = wire["subject"], parse_time(wire["eventTime"])
    records = operation_records(resource_id, START, event_time - timedelta(seconds=1.6), seed="pub")
    if same_correlation:
        wire["data"]["correlationId"] = records[-1]["correlationId"]
    subscription = resource_id.split("/")[2]
    vm = parse_vm_id(resource_id)
    with FakeArm(activity_log={subscription: records}) as fake:

        def backfill():
            now = event_time + timedelta(hours=1)
            return backfill_vms(ledger, client(fake), [vm], days=1, clock=lambda: now)

        if event_first:
            assert handle_event(inbound_from_json(wire), ledger) == Outcome.RECORDED
            report = backfill()
            assert (report.operations, report.recorded, report.already_recorded) == (1, 0, 1)
        else:
            assert backfill().recorded == 1
            assert handle_event(inbound_from_json(wire), ledger) == Outcome.DUPLICATE
    [row] = rows(ledger, resource_id)
    assert row.evidence.source == ("event" if event_first else "activityLog")


def test_a_different_operation_close_in_time_is_not_taken_for_the_same(ledger):
    now = utc_now() - timedelta(days=1)
    resource_id = vm_id("busy")
    deliver(wire_event("start", now, resource_id=resource_id))  # its own random correlation id
    records = operation_records(resource_id, START, now + timedelta(seconds=30), seed="other-start")
    with FakeArm(activity_log={SUB: records}) as fake:
        report = backfill_vms(ledger, client(fake), [parse_vm_id(resource_id)], days=2)
    assert report.recorded == 1  # both carry correlation ids, and they differ
    assert len(rows(ledger, resource_id)) == 2


def test_a_failed_or_throttled_read_records_nothing_for_that_vm_and_says_so(ledger):
    now = utc_now()
    good, bad = vm_id("good"), vm_id("bad")
    records = [
        r
        for index, resource_id in enumerate((good, bad))
        for day in (5, 4, 3)
        for r in operation_records(resource_id, START if day % 2 else DEALLOCATE, now - timedelta(days=day),
                                   seed=f"{index}/{day}")
    ]  # fmt: skip
    vms = [parse_vm_id(good), parse_vm_id(bad)]
    with FakeArm(activity_log={SUB: records}, page_size=4, faults=Faults(throttle_first=2)) as fake:
        report = backfill_vms(ledger, client(fake, retries=3), vms[:1], days=10)  # throttled, then served
        assert report.recorded == 3 and not report.failures
        fake.faults = Faults(fail_page=2)
        report = backfill_vms(ledger, client(fake, retries=1), vms[1:], days=10)
    assert report.recorded == 0 and len(report.failures) == 1 and bad in report.failures[0]
    assert ledger.get_current(vms[1]) is None


def test_the_cli_backfills_and_refuses_more_than_90_days(ledger, monkeypatch, capsys):
    now = utc_now()
    resource_id = vm_id("cli-vm")
    deliver(wire_event("write", now - timedelta(hours=2), resource_id=resource_id))
    history = operation_records(resource_id, DEALLOCATE, now - timedelta(days=20), seed="c")
    with FakeArm(activity_log={SUB: history}) as fake:
        monkeypatch.setenv("ARM_ENDPOINT", fake.url)
        from shared import context

        context.reset()
        assert main(["backfill", "--days", "91"]) == 2
        assert "days must be a whole number from 1 to 90" in capsys.readouterr().err
        assert main(["backfill", "--days", "30"]) == 0
    assert "1 VM(s), 1 operation(s), 1 recorded" in capsys.readouterr().out
    assert [row.evidence.source for row in rows(ledger, resource_id)] == ["activityLog", "event"]


def test_a_record_dated_more_than_five_minutes_ahead_is_not_recorded(ledger):
    """The time rule of events (not before 2017, at most 5 minutes ahead of the clock) holds for records:
    one dated 30 days ahead would show the VM deallocated from then on while it runs."""
    now = utc_now()
    resource_id, vm = vm_id("future"), parse_vm_id(vm_id("future"))
    history = operation_records(resource_id, START, now - timedelta(days=2), seed="started")
    history += operation_records(resource_id, DEALLOCATE, now + timedelta(days=30), seed="ahead")
    history += operation_records(resource_id, WRITE, now + timedelta(minutes=6), seed="6-min")
    history += operation_records(resource_id, WRITE, now + timedelta(minutes=4), seed="skew")
    # A service that does not filter by time as asked: the records ahead come back all the same.
    with FakeArm(activity_log={SUB: history}, faults=Faults(unfiltered_times=True)) as fake:
        report = backfill_vms(ledger, client(fake), [vm], days=10, clock=lambda: now)
    assert (report.operations, report.recorded, report.failures) == (2, 2, [])
    current = ledger.get_current(vm)
    assert current.condition.state.power_state == "running"
    assert max(row.time for row in rows(ledger, resource_id)) < now + timedelta(minutes=5)


def test_a_uniform_instance_is_backfilled_from_its_instance_operations(ledger):
    """Instance operations are ``Microsoft.Compute/virtualMachineScaleSets/virtualMachines/...`` on the
    instance's id: the operation table of events, not only ``virtualMachines/`` (published record shape,
    GetActivityLogsFiltered.json; names as Learn's resource provider operations list them)."""
    now = utc_now()
    resource_id = instance_id("3")
    instance = parse_vm_id(resource_id)
    deallocate = scale_set_operation("deallocate", instance=True)
    history = operation_records(resource_id, scale_set_operation("start", instance=True),
                                now - timedelta(days=5), seed="i-start")  # fmt: skip
    history += operation_records(resource_id, deallocate, now - timedelta(days=4), seed="i-dealloc",
                                 uri_query="&hibernate=true")  # fmt: skip
    # Not the instance's own operations: a plain VM operation name on its id, an extension of it, and
    # the scale set's own deallocate (on the scale set's id: the filter by resourceUri leaves it out).
    history += operation_records(resource_id, START, now - timedelta(days=3), seed="wrong-kind")
    history += operation_records(f"{resource_id}/extensions/agent",
                                 scale_set_operation("extensions/write", instance=True),
                                 now - timedelta(days=3), seed="extension")  # fmt: skip
    history += operation_records(scale_set_id(), scale_set_operation("deallocate"), now - timedelta(days=2),
                                 seed="set-level")  # fmt: skip
    with FakeArm(activity_log={SUB: history}) as fake:
        report = backfill_vms(ledger, client(fake), [instance], days=10)
    assert (report.operations, report.recorded, report.failures) == (2, 2, [])
    current = ledger.get_current(instance)
    assert (current.condition.state.power_state, current.condition.state.hibernated) == ("deallocated", True)
    assert abs(current.condition.state.since - (now - timedelta(days=4))) < timedelta(seconds=1)
    assert [row.evidence.operation_name for row in rows(ledger, resource_id)] == [
        scale_set_operation("start", instance=True),
        deallocate,
    ]


def hostile_final_records(resource_id: str, now: datetime) -> list[dict]:
    """Final records no Activity Log should hold, each the published record with one field broken."""
    long_action = "Microsoft.Compute/virtualMachines/" + "x" * 40_000 + "/action"
    broken = [operation_records(resource_id, long_action, now - timedelta(days=5), seed="long-name")[-1]]
    for seed, field, value in (
        ("long-id", "eventDataId", "e" * 40_000),
        ("long-correlation", "correlationId", "c" * 40_000),  # not a GUID: kept without one
        ("year-1", "eventTimestamp", "0001-01-01T00:00:00Z"),
        ("year-9999", "eventTimestamp", "9999-12-31T23:59:59.9999999Z"),
        ("not-a-time", "eventTimestamp", "yesterday"),
    ):
        record = operation_records(resource_id, DEALLOCATE, now - timedelta(days=4), seed=seed)[-1]
        record[field] = value
        broken.append(record)
    return broken


def test_a_bad_record_is_skipped_alone_and_the_vms_after_it_are_backfilled(ledger, caplog):
    now = utc_now()
    first, second = vm_id("a-first"), vm_id("b-second")
    history = operation_records(first, START, now - timedelta(days=6), seed="f-start")
    history += hostile_final_records(first, now)
    history += operation_records(first, WRITE, now - timedelta(days=1), seed="f-write")
    history += operation_records(second, DEALLOCATE, now - timedelta(days=2), seed="s-dealloc")
    vms = [parse_vm_id(first), parse_vm_id(second)]
    with FakeArm(activity_log={SUB: history}, faults=Faults(unfiltered_times=True)) as fake:
        with caplog.at_level(logging.WARNING):
            report = backfill_vms(ledger, client(fake), vms, days=10)
    # The record whose correlation id is no GUID is a real deallocate: kept, without a correlation id.
    assert (report.vms, report.operations, report.recorded, report.failures) == (2, 4, 4, [])
    assert [row.evidence.operation_name for row in rows(ledger, first)] == [START, DEALLOCATE, WRITE]
    assert ledger.get_current(vms[1]).condition.state.power_state == "deallocated"
    assert f"{first}: 5 record(s) skipped" in caplog.text
    stored = json.dumps([dict(e) for e in ledger.table.list_entities()])
    assert "x" * 300 not in stored and "e" * 300 not in stored and "c" * 300 not in stored
