"""What the ledger pushes to the findings topic, and when, as pure rules over what was published before.

Each finding of a VM is an *occurrence*: it begins when the finding is first seen and ends when a run no
longer finds it. An occurrence is raised once (``VmLedger.FindingRaised``) and cleared once
(``VmLedger.FindingCleared``); a finding that clears and comes back is a new occurrence. Event ids are
derived from the occurrence (its key and its ``since``), never drawn at random, so a retry carries the
same id as the first attempt and a consumer can drop a duplicate by id.

The publication is an outbox: the event is written beside its occurrence (stage ``raising`` or
``clearing``, with a lease) *before* it is sent, and the stage moves on (``raised``, or the row goes)
only after the topic took it. A run that dies in between leaves the row in its stage; once the lease has
passed, a later run sends the very same event again. ``VmLedger.DailyDigest`` is an occurrence of its
own, one per UTC day, raised and never cleared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.times import format_time, parse_time

FINDING_RAISED = "VmLedger.FindingRaised"
FINDING_CLEARED = "VmLedger.FindingCleared"
DAILY_DIGEST = "VmLedger.DailyDigest"
EVENT_SOURCE = "/vm-billing-ledger/findings"
DEFAULT_DIGEST_HOUR_UTC = 7
# Longer than a timer run can live (the Functions timeout, 10 minutes): a lease still held belongs to a
# run that may yet record what it sent; an older one to a run that died.
LEASE = timedelta(minutes=10)
_IDS = uuid.UUID("6f1c4c1e-5a0b-4d3e-9a57-0c6b1f7d2e11")  # the namespace of this app's event ids


class Stage(StrEnum):
    RAISING = "raising"  # the raise event is written and may have been sent; not yet confirmed
    RAISED = "raised"
    CLEARING = "clearing"  # the clear event is written and may have been sent; not yet confirmed


@dataclass(frozen=True)
class PushedEvent:
    """A CloudEvent 1.0 as the ledger publishes it (``source`` is ``EVENT_SOURCE``)."""

    id: str
    type: str
    subject: str
    time: datetime
    data: Mapping[str, Any]

    def to_json(self) -> str:
        """The event as kept in the outbox until the topic took it."""
        body = {"id": self.id, "type": self.type, "subject": self.subject, "time": format_time(self.time)}
        return json.dumps({**body, "data": self.data}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PushedEvent:
        body = json.loads(text)
        return cls(body["id"], body["type"], body["subject"], parse_time(body["time"]), body["data"])


@dataclass(frozen=True)
class Occurring:
    """A finding found now: its occurrence key, since when, the VM's resource id and the event data."""

    key: str
    since: datetime
    subject: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Published:
    """What the outbox holds of one occurrence: its stage, the event in flight, and the row's ETag."""

    key: str
    stage: Stage
    occurrence: str
    subject: str
    lease_until: datetime
    event: PushedEvent | None
    etag: str


@dataclass(frozen=True)
class Intent:
    """An event to send: written to the outbox first (a new row, or the row ``etag`` names)."""

    key: str
    stage: Stage
    occurrence: str
    event: PushedEvent
    etag: str | None


def finding_key(subscription_key: str, vm_key: str, kind: str) -> str:
    """The occurrence key of a VM's finding of ``kind`` (ids as the ledger keys them: lower case)."""
    return f"{subscription_key}|{vm_key}|{kind}"


def occurrence_id(key: str, since: datetime) -> str:
    return str(uuid.uuid5(_IDS, f"{key}|{format_time(since)}"))


def raised_event(found: Occurring, now: datetime) -> PushedEvent:
    """The raise event of the occurrence ``found`` begins; its id is the occurrence's."""
    return PushedEvent(occurrence_id(found.key, found.since), FINDING_RAISED, found.subject, now, found.data)


def cleared_event(row: Published, now: datetime) -> PushedEvent:
    data = {**(row.event.data if row.event else {}), "clearedAt": format_time(now)}
    event_id = str(uuid.uuid5(_IDS, f"{row.occurrence}|cleared"))
    return PushedEvent(event_id, FINDING_CLEARED, row.subject, now, data)


def digest_event(day: date, subject: str, data: Mapping[str, Any], now: datetime) -> PushedEvent:
    return PushedEvent(str(uuid.uuid5(_IDS, f"digest|{day.isoformat()}")), DAILY_DIGEST, subject, now, data)


def digest_day(now: datetime, hour: int) -> date | None:
    """The day a digest is due for at ``now`` (yesterday, UTC), or ``None`` before ``hour`` o'clock."""
    return now.date() - timedelta(days=1) if now.hour >= hour else None


def plan_changes(
    published: Mapping[str, Published], found: Mapping[str, Occurring], now: datetime
) -> list[Intent]:
    """What to send now: a raise for each finding with no occurrence, a clear for each raised occurrence
    that ended, and again the event of each row whose lease has passed (a run died or gave up).

    A row still leased belongs to a run in progress and is left alone. Digest rows (keys not in
    ``found`` that were never raised as findings) are the digest's business: ``digest_intent``.
    """
    intents = [
        Intent(key, Stage.RAISING, occurrence_id(key, item.since), raised_event(item, now), None)
        for key, item in found.items()
        if key not in published
    ]
    for key, row in published.items():
        if row.lease_until > now:
            continue
        if row.stage is not Stage.RAISED and row.event is not None:
            intents.append(Intent(key, row.stage, row.occurrence, row.event, row.etag))
        elif row.stage is Stage.RAISED and _ended(row, found.get(key)) and not is_digest_key(key):
            intents.append(Intent(key, Stage.CLEARING, row.occurrence, cleared_event(row, now), row.etag))
    return intents


def _ended(row: Published, now_found: Occurring | None) -> bool:
    """The raised occurrence is over: its finding is gone, or it is there again since another time (it
    cleared and came back between two runs: that one is cleared now, the new one raised next run)."""
    return now_found is None or occurrence_id(now_found.key, now_found.since) != row.occurrence


DIGEST_PREFIX = "digest|"
DIGESTS_KEPT = timedelta(days=31)  # sent digests' rows are kept this long, then forgotten


def is_digest_key(key: str) -> bool:
    return key.startswith(DIGEST_PREFIX)


def digest_key(day: date) -> str:
    return f"{DIGEST_PREFIX}{day.isoformat()}"
