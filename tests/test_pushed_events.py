"""What goes to the findings topic, without storage: the plan of what to send given what was published,
stable ids, when the digest is due, batches under the size limit, and the identity path's token scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from shared.domain.pushed_events import (
    DAILY_DIGEST,
    FINDING_CLEARED,
    FINDING_RAISED,
    Occurring,
    Published,
    PushedEvent,
    Stage,
    cleared_event,
    digest_day,
    digest_event,
    digest_key,
    plan_changes,
    raised_event,
)
from shared.errors import UpstreamUnavailable
from shared.sources import FindingsTopic, batches
from shared.sources.findings_topic import MAX_BATCH_BYTES

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


def found(key: str = "s|rg|vm1|stoppedButBilled", hours_ago: float = 3) -> Occurring:
    return Occurring(key, NOW - timedelta(hours=hours_ago), VM, {"kind": "stoppedButBilled"})


def row(item: Occurring, stage: Stage, *, lease_minutes: float = -1, etag: str = "e1") -> Published:
    """The row as the outbox holds it: a clearing row's event is the clear it was writing."""
    event = raised_event(item, NOW - timedelta(hours=1))
    lease = NOW + timedelta(minutes=lease_minutes)
    raised = Published(item.key, Stage.RAISED, event.id, VM, lease, event, etag)
    if stage is Stage.CLEARING:
        return replace(raised, stage=stage, event=cleared_event(raised, NOW - timedelta(minutes=30)))
    return replace(raised, stage=stage)


def test_a_new_finding_is_raised_with_an_id_derived_from_its_occurrence():
    [intent] = plan_changes({}, {found().key: found()}, NOW)
    assert (intent.stage, intent.etag, intent.event.type) == (Stage.RAISING, None, FINDING_RAISED)
    [again] = plan_changes({}, {found().key: found()}, NOW + timedelta(minutes=5))
    assert again.event.id == intent.event.id == intent.occurrence  # a retry: the same id
    [later] = plan_changes({}, {found().key: found(hours_ago=1)}, NOW)
    assert later.event.id != intent.event.id  # began at another time: another occurrence


@pytest.mark.parametrize(
    ("stage", "still_found", "lease_minutes", "expected"),
    [
        (Stage.RAISED, True, -1, None),  # nothing changed
        (Stage.RAISED, False, -1, (Stage.CLEARING, FINDING_CLEARED)),  # gone: cleared
        (Stage.RAISING, True, -1, (Stage.RAISING, FINDING_RAISED)),  # a run died: the stored raise again
        (Stage.RAISING, True, 5, None),  # another run holds it
        (Stage.CLEARING, False, -1, (Stage.CLEARING, FINDING_CLEARED)),  # a run died: the stored clear again
        (Stage.RAISED, False, 5, None),  # leased: left alone
    ],
)
def test_what_an_occurrence_row_leads_to(stage, still_found, lease_minutes, expected):
    item = found()
    published = {item.key: row(item, stage, lease_minutes=lease_minutes)}
    intents = plan_changes(published, {item.key: item} if still_found else {}, NOW)
    if expected is None:
        assert intents == []
        return
    [intent] = intents
    assert intent.etag == "e1" and intent.stage is expected[0]
    if stage is Stage.RAISED:
        assert intent.event.type == expected[1] and intent.event.id != intent.occurrence
        assert intent.event.data["clearedAt"] == "2026-12-07T10:00:00.000000Z"
    else:
        assert intent.event == published[item.key].event  # the very event written before


def test_a_finding_that_cleared_and_came_back_between_two_runs_is_cleared_then_raised_anew():
    item = found(hours_ago=5)
    published = {item.key: row(item, Stage.RAISED)}
    back = found(hours_ago=1)  # the same VM and kind, since another time
    [clear] = plan_changes(published, {back.key: back}, NOW)
    assert (clear.stage, clear.event.type, clear.occurrence) == (
        Stage.CLEARING,
        FINDING_CLEARED,
        item_id(item),
    )
    [raised] = plan_changes({}, {back.key: back}, NOW)  # once the clear is confirmed, its row is gone
    assert raised.event.id != item_id(item)


def item_id(item: Occurring) -> str:
    return raised_event(item, NOW).id


def test_a_clear_has_one_id_whatever_run_builds_it():
    item = found()
    published = {item.key: row(item, Stage.RAISED)}
    first = plan_changes(published, {}, NOW)[0].event
    second = plan_changes(published, {}, NOW + timedelta(hours=1))[0].event
    assert first.id == second.id


def test_a_sent_digest_is_never_cleared_and_is_due_once_a_day_from_its_hour():
    day = date(2026, 12, 6)
    event = digest_event(day, "digest/2026-12-06", {"vms": 1}, NOW)
    sent = Published(digest_key(day), Stage.RAISED, event.id, event.subject, NOW, event, "e")
    assert plan_changes({sent.key: sent}, {}, NOW + timedelta(hours=1)) == []
    assert event.type == DAILY_DIGEST and event.id == digest_event(day, "x", {}, NOW).id
    assert digest_day(NOW.replace(hour=6, minute=59), 7) is None
    assert digest_day(NOW.replace(hour=7), 7) == day
    assert digest_day(NOW.replace(hour=0), 0) == day


def test_an_event_survives_the_outbox_as_it_was():
    event = raised_event(found(), NOW)
    assert PushedEvent.from_json(event.to_json()) == event


def test_batches_keep_each_request_under_the_size_limit_and_the_order():
    big = {"blob": "x" * 100_000}
    events = [PushedEvent(str(i), FINDING_RAISED, VM, NOW, big) for i in range(12)]
    cut = list(batches(events, lambda event: event))
    assert [event.id for batch in cut for event in batch] == [str(i) for i in range(12)]
    assert len(cut) == 3 and all(len(batch) * 100_400 <= MAX_BATCH_BYTES for batch in cut)


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("not-a-real-token", 4_102_444_800)


def test_without_a_key_the_identity_gets_a_token_for_event_grid_and_no_key_is_sent():
    credential = FakeCredential()
    built: list[FakeCredential] = []

    def identity() -> FakeCredential:
        built.append(credential)
        return credential

    topic = FindingsTopic(
        "https://127.0.0.1:9/api/events", key=None, credential=identity, read_timeout=0.5, retry_total=0
    )
    assert built == []  # nothing built until the first send
    with pytest.raises(UpstreamUnavailable):  # nothing listens there
        topic.send([raised_event(found(), NOW)])
    assert built == [credential] and credential.scopes == [("https://eventgrid.azure.net/.default",)]
