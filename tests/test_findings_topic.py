"""Findings pushed to an Event Grid topic, against a loopback topic that takes CloudEvents batches as the
service does (tests/data/published/findings_topic): raised once, cleared once, raised again when it comes
back; the same id after a crash; once for two concurrent runs; a failing or hanging topic leaves the
events for the next run; the daily digest once a day."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from devtools.events import vm_id, wire_event
from devtools.fake_topic import FakeTopic
from devtools.published import PUBLISHED
from shared import context, settings
from shared.domain.pushed_events import DAILY_DIGEST, EVENT_SOURCE, FINDING_CLEARED, FINDING_RAISED
from shared.domain.times import utc_now
from shared.errors import ConfigurationError
from shared.jobs import FindingsPush, push_digest, push_findings, refresh
from shared.settings import read_settings
from shared.sources import FindingsTopic
from shared.store import Outbox
from tests.factories import deliver, digest_in_test_http, loopback_findings_topic, shape_differences

pytestmark = pytest.mark.azurite

KEY = "test-topic-key"
SHAPE = json.loads((PUBLISHED / "findings_topic" / "request_shape.json").read_text(encoding="utf-8"))
STOPPED = "stoppedButBilled"
FAR = float("inf")


class Crash(BaseException):
    """The process dies: nothing after it runs (not an ``Exception``, so no handler takes it)."""


class CrashAfterSend:
    """The real topic client, and a crash right after the topic took the batch."""

    def __init__(self, topic: FindingsTopic) -> None:
        self.topic = topic

    def send(self, batch) -> None:
        self.topic.send(batch)
        raise Crash


@pytest.fixture
def topic(ledger_env, monkeypatch):
    with loopback_findings_topic(monkeypatch, KEY) as fake:
        yield fake


def pusher(**topic_options) -> FindingsPush:
    push = context.root().findings_push()
    assert push is not None
    if topic_options:
        push = replace(
            push, topic=FindingsTopic(push.topic.endpoint, key=KEY, credential=None, **topic_options)
        )
    return push


def push(push: FindingsPush | None = None, *, at: datetime | None = None):
    return push_findings(push or pusher(), now=at or utc_now(), deadline=FAR)


def stopped_events(fake: FakeTopic) -> list[dict]:
    return [event for event in fake.events if event["data"].get("kind") == STOPPED]  # not the digest


def ago(hours: float) -> datetime:
    return utc_now() - timedelta(hours=hours)


def power_off(name: str, hours_ago: float) -> None:
    """A VM created two hours before it was powered off ``hours_ago``."""
    deliver(
        wire_event("write", ago(hours_ago + 2), resource_id=vm_id(name)),
        wire_event("powerOff", ago(hours_ago), resource_id=vm_id(name)),
    )


def test_a_stopped_vm_is_raised_once_as_a_cloudevents_batch_with_the_topic_key(topic):
    power_off("off-1", hours_ago=3)
    report = push()
    assert report.failure is None and report.requests == 1
    [request] = topic.requests
    assert (request.path, request.query["api-version"]) == (SHAPE["path"], SHAPE["apiVersion"])
    assert request.headers["content-type"] == "application/cloudevents-batch+json; charset=utf-8"
    assert request.headers["aeg-sas-key"] == KEY
    [event] = stopped_events(topic)
    assert event["specversion"] == "1.0" and event["type"] == FINDING_RAISED
    assert event["source"] == EVENT_SOURCE and event["subject"] == vm_id("off-1")
    data = event["data"]
    assert (data["vmName"], data["powerState"], data["reachedBy"]) == ("off-1", "stopped", "powerOff")
    assert data["hours"] >= 3 and data["estimatedCost"]["amount"] is None  # no prices: null, never 0
    assert "attachedCost" not in data  # only deallocatedLong carries its disks' and IPs' monthly cost

    again = push()
    assert again.planned == 0 and len(topic.requests) == 1


def test_the_timer_publishes_in_its_own_step_and_its_run_record_says_what_it_sent(topic):
    power_off("off-timer", hours_ago=3)
    context.run_timer()  # the reconcile_vms entry point: every step of the table, this one included
    [event] = stopped_events(topic)
    assert event["type"] == FINDING_RAISED and event["subject"] == vm_id("off-timer")
    records = context.root().run_records()
    record = records.get("findings-topic")
    assert record.succeeded and "sent 2 FindingRaised in 1 request(s)" in record.detail  # + unconfirmed
    digest = records.get("daily-digest")  # due from 07:00 UTC
    if digest.attempted_at.hour >= 7:
        assert "sent 1 DailyDigest in 1 request(s)" in digest.detail
    else:
        assert digest.detail == "no digest due"


def test_a_finding_that_clears_is_cleared_once_and_raised_again_as_a_new_occurrence(topic):
    power_off("flaky", hours_ago=8)
    push()
    deliver(wire_event("start", ago(6), resource_id=vm_id("flaky")))
    push()
    push()
    deliver(wire_event("powerOff", ago(3), resource_id=vm_id("flaky")))
    push()
    push()
    events = stopped_events(topic)
    assert [event["type"] for event in events] == [FINDING_RAISED, FINDING_CLEARED, FINDING_RAISED]
    first, cleared, second = events
    assert len({first["id"], cleared["id"], second["id"]}) == 3
    assert cleared["data"]["since"] == first["data"]["since"] and "clearedAt" in cleared["data"]
    assert second["data"]["since"] > first["data"]["since"]


def test_a_finding_that_clears_and_comes_back_between_two_runs_is_still_cleared_and_raised_again(topic):
    power_off("blink", hours_ago=8)
    push()
    deliver(  # started and stopped again before the next run
        wire_event("start", ago(3), resource_id=vm_id("blink")),
        wire_event("powerOff", ago(2), resource_id=vm_id("blink")),
    )
    push()
    push()
    push()
    events = stopped_events(topic)
    assert [event["type"] for event in events] == [FINDING_RAISED, FINDING_CLEARED, FINDING_RAISED]
    assert events[2]["data"]["since"] > events[0]["data"]["since"] and events[2]["id"] != events[0]["id"]


def test_a_crash_after_the_topic_took_an_event_resends_the_same_id_once_the_lease_has_passed(topic):
    power_off("off-crash", hours_ago=2)
    crashing = pusher()
    with pytest.raises(Crash):
        push(replace(crashing, topic=CrashAfterSend(crashing.topic)))
    [sent] = stopped_events(topic)
    assert push().planned == 0  # the crashed run's lease still holds: nobody resends yet
    later = utc_now() + timedelta(minutes=11)
    assert push(at=later).failure is None
    resent = stopped_events(topic)[1:]
    assert [event["id"] for event in resent] == [sent["id"]]
    assert resent[0]["data"] == sent["data"]  # the stored event, not one built again
    push(at=later + timedelta(minutes=1))
    assert len(stopped_events(topic)) == 2


@pytest.mark.slow
def test_two_concurrent_timer_runs_publish_each_occurrence_once(topic, fresh_ledger):
    for index in range(30):
        power_off(f"off-{index:02d}", hours_ago=2)
    start = threading.Barrier(2)
    reports = []

    def one_run() -> None:
        own = replace(pusher(), outbox=Outbox(fresh_ledger().table))  # another instance's table client
        start.wait()
        reports.append(push(own))

    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    ids = [event["id"] for event in topic.events]
    assert len(ids) == len(set(ids)) == 60  # 30 VMs, stopped and unconfirmed each
    assert sum(report.won for report in reports) == 60
    assert all(report.failure is None for report in reports)


@pytest.mark.slow
def test_a_topic_answering_500_leaves_the_events_for_the_next_run_after_bounded_retries(topic):
    power_off("off-500", hours_ago=2)
    topic.fail_with(500)
    report = push(pusher(retry_total=2, read_timeout=5))
    assert report.sent == 0 and "500" in (report.failure or "")
    assert len(topic.requests) == 1 + 2  # the request and its two retries, then the run gives up
    topic.fail_with(None)
    after = push()
    assert after.failure is None and after.sent == 2 and len(stopped_events(topic)) == 1


def test_a_hanging_topic_costs_bounded_waits_and_the_next_run_sends(topic):
    power_off("off-hang", hours_ago=2)
    topic.hang_for(2.0)
    report = push(pusher(retry_total=1, read_timeout=0.3))
    assert report.sent == 0 and "did not answer" in (report.failure or "")
    assert len(topic.requests) <= 1 + 2
    topic.hang_for(0)
    assert push().sent == 2
    assert len(stopped_events(topic)) == 1


def test_the_daily_digest_is_sent_once_a_day_from_its_hour_with_nulls_for_what_is_not_known(topic):
    power_off("off-digest", hours_ago=60)
    deliver(
        wire_event("write", ago(62), resource_id=vm_id("dealloc-digest")),
        wire_event("deallocate", ago(60), resource_id=vm_id("dealloc-digest")),
    )
    today = utc_now().replace(minute=5, second=0, microsecond=0)
    assert push_digest(pusher(), now=today.replace(hour=6), deadline=FAR) is None  # before 07:00 UTC
    report = push_digest(pusher(), now=today.replace(hour=8), deadline=FAR)
    assert report is not None and report.sent == 1
    assert push_digest(pusher(), now=today.replace(hour=9), deadline=FAR) is None
    [digest] = [event for event in topic.events if event["type"] == DAILY_DIGEST]
    data = digest["data"]
    assert data["day"] == (today - timedelta(days=1)).date().isoformat()
    assert data["billedHours"] == 24 and data["vms"] == 2  # stopped all of yesterday: billed
    assert data["estimatedCost"] is None and data["vmsWithoutPrice"] == 2  # no price: null, never 0
    assert data["findingCounts"][STOPPED] == 1 and data["findingCounts"]["unattachedDisk"] == 0
    paid_for_nothing = data["stoppedButBilled"]
    assert (paid_for_nothing["vms"], paid_for_nothing["billedHours"]) == (1, 24)  # stopped all day
    assert paid_for_nothing["estimatedCost"] is None and paid_for_nothing["vmsWithoutPrice"] == 1
    assert paid_for_nothing["top"][0]["estimatedCost"]["amount"] is None
    assert [vm["resourceId"] for vm in data["topByBilledHours"]] == [
        vm_id("off-digest")
    ]  # not the 0-hour one
    # never listed, never priced: each amount null with why, never 0
    residual = data["deallocatedResidualMonthlyCost"]
    assert (residual["amount"], residual["reason"], residual["vms"], residual["vmsWithoutPrice"]) == (
        None, "NoInventory", 1, 1,
    )  # fmt: skip
    assert residual["top"][0]["resourceId"] == vm_id("dealloc-digest")
    assert residual["top"][0]["monthly"] is None and residual["top"][0]["reason"] == "NoInventory"
    loose = data["unattachedDisksMonthlyCost"]
    assert (loose["amount"], loose["reason"], loose["disks"], loose["subscriptionsNotListed"]) == (
        None, "NoInventory", 0, 1,
    )  # fmt: skip
    saved = data["savings"]
    assert (saved["amount"], saved["reason"], saved["deallocatedHours"], saved["vmsWithoutPrice"]) == (
        None, "NoInventory", 24, 1,
    )  # fmt: skip
    assert saved["top"][0]["avoidedCost"]["amount"] is None
    assert (data["drift"]["amount"], data["drift"]["reason"], data["drift"]["top"]) == (
        None,
        "NotBilledYet",
        [],
    )
    example = digest_in_test_http()  # test.http's example says what the app sends
    assert set(example) == set(digest) and shape_differences(example["data"], data) == []


def test_the_rows_of_digests_sent_more_than_a_month_before_are_forgotten(topic):
    outbox = pusher().outbox
    first = utc_now().replace(hour=8) - timedelta(days=40)
    for days in (0, 1, 40):
        assert push_digest(pusher(), now=first + timedelta(days=days), deadline=FAR).sent == 1
    kept = sorted(key for key in outbox.load() if key.startswith("digest|"))
    assert kept == [f"digest|{(first + timedelta(days=39)).date().isoformat()}"]


def test_without_a_topic_nothing_is_published_and_the_timer_says_so_once(ledger_env, caplog):
    assert context.root().findings_push() is None
    refresh._say_no_topic.cache_clear()  # as in a fresh process
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        context.run_timer()
    assert caplog.text.count("FINDINGS_TOPIC_ENDPOINT is not set") == 1
    records = context.root().run_records()
    assert records.get("findings-topic").detail == "FINDINGS_TOPIC_ENDPOINT is not set: nothing published"


def test_a_loopback_topic_needs_its_key_and_the_digest_hour_is_an_hour(ledger_env, monkeypatch):
    def topic_of_settings():
        context.reset()
        return context.root().findings_push()

    monkeypatch.setenv(settings.FINDINGS_TOPIC_ENDPOINT, "http://127.0.0.1:9/api/events")
    with pytest.raises(ConfigurationError, match="FINDINGS_TOPIC_KEY"):
        topic_of_settings()
    monkeypatch.setenv(settings.FINDINGS_TOPIC_ENDPOINT, "http://topic.example/api/events")
    with pytest.raises(ConfigurationError, match="FINDINGS_TOPIC_ENDPOINT"):
        topic_of_settings()
    monkeypatch.setenv(
        settings.FINDINGS_TOPIC_ENDPOINT, "https://t.westeurope-1.eventgrid.azure.net/api/events"
    )
    assert topic_of_settings() is not None  # with the identity: nothing built until the first send
    monkeypatch.setenv(settings.DIGEST_HOUR_UTC, "24")
    with pytest.raises(ConfigurationError, match="DIGEST_HOUR_UTC"):
        read_settings()
    monkeypatch.setenv(settings.DIGEST_HOUR_UTC, "6")
    monkeypatch.setenv(settings.FINDINGS_TOPIC_KEY, "a-topic-key")
    assert read_settings().digest_hour_utc == 6
    assert "a-topic-key" not in repr(read_settings())
