"""Findings pushed to the findings topic: each run's changes, and the daily digest, through the outbox.

Each run compares the findings now with the occurrences the outbox holds (``plan_changes``), writes each
event to its row before sending it (``Outbox.claim``: a row another run won is left to that run), sends
what this run won in batches, confirms what the topic took and gives up the lease on the rest, so the
next run sends it. Nothing is lost (an event is in its row until the topic took it) and nothing is sent
twice under different ids (a resend after a crash carries the stored event, same id).

The digest is due once a UTC day, at the first run from ``digest_hour`` o'clock on, for yesterday; the
rows of digests sent more than ``DIGESTS_KEPT`` before are then deleted, so the outbox does not grow.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.domain.pushed_events import (
    DIGEST_PREFIX,
    DIGESTS_KEPT,
    LEASE,
    Intent,
    Occurring,
    Stage,
    digest_day,
    digest_event,
    digest_key,
    plan_changes,
)
from shared.errors import UpstreamUnavailable
from shared.sources import FindingsTopic, batches
from shared.store import Outbox, Owned

logger = logging.getLogger(__name__)

DIGEST_SUBJECT = "digest"


@dataclass(frozen=True)
class FindingsPush:
    """What pushing needs, handed in by the composition root: the outbox, the topic, every finding now as
    occurrences, and the digest's data for a day."""

    outbox: Outbox
    topic: FindingsTopic
    occurrences: Callable[[datetime], Iterable[Occurring]]
    digest_data: Callable[[date, datetime], Mapping[str, Any]]
    digest_hour: int


@dataclass(frozen=True)
class PushReport:
    planned: int
    won: int
    sent: int
    confirmed: int
    requests: int
    failure: str | None = None
    sent_types: tuple[str, ...] = ()  # the type of each event sent

    def summary(self) -> str:
        kinds = Counter(event_type.rpartition(".")[2] for event_type in self.sent_types)
        what = ", ".join(f"{count} {name}" for name, count in sorted(kinds.items())) or "nothing"
        text = (
            f"{self.planned} event(s) to send, {self.won} claimed, sent {what} in {self.requests} "
            f"request(s), {self.confirmed} confirmed"
        )
        return f"{text}; {self.failure}" if self.failure else text


def push_findings(push: FindingsPush, *, now: datetime, deadline: float) -> PushReport:
    """Send the raise and clear events of what changed since the last run (and any left over)."""
    published = push.outbox.load()
    found = {item.key: item for item in push.occurrences(now)}
    intents = plan_changes(published, found, now)
    return send_intents(push.outbox, push.topic, intents, now=now, deadline=deadline)


def push_digest(push: FindingsPush, *, now: datetime, deadline: float) -> PushReport | None:
    """Send yesterday's digest if it is due and not sent yet; ``None`` when there was nothing to do."""
    day = digest_day(now, push.digest_hour)
    if day is None:
        return None
    key = digest_key(day)
    row = push.outbox.get(key)
    if row is not None and (row.stage is Stage.RAISED or row.lease_until > now or row.event is None):
        return None  # sent, or another run is sending it
    if row is not None and row.event is not None:
        intent = Intent(key, row.stage, row.occurrence, row.event, row.etag)
    else:
        event = digest_event(day, f"{DIGEST_SUBJECT}/{day.isoformat()}", push.digest_data(day, now), now)
        intent = Intent(key, Stage.RAISING, event.id, event, None)
    report = send_intents(push.outbox, push.topic, [intent], now=now, deadline=deadline)
    if report.confirmed:
        push.outbox.forget_before(digest_key(day - DIGESTS_KEPT), DIGEST_PREFIX)
    return report


def send_intents(
    outbox: Outbox, topic: FindingsTopic, intents: Sequence[Intent], *, now: datetime, deadline: float
) -> PushReport:
    """Claim ``intents`` in the outbox, send those won, confirm the sent and release the rest."""
    if not intents:
        return PushReport(0, 0, 0, 0, 0)
    if time.monotonic() >= deadline:
        return PushReport(len(intents), 0, 0, 0, 0, "the run's deadline passed; the next run sends them")
    owned = outbox.claim(intents, now + LEASE)
    sent: list[Owned] = []
    requests = 0
    failure = None
    for batch in batches(owned, lambda item: item.intent.event):
        if time.monotonic() >= deadline:
            failure = "the run's deadline passed; the next run sends the rest"
            break
        try:
            requests += 1
            topic.send([item.intent.event for item in batch])
        except UpstreamUnavailable as err:
            failure = f"{err}; left for the next run"
            logger.error("findings topic: %s (status %s); %d event(s) left for the next run",
                         err, err.status, len(owned) - len(sent))  # fmt: skip
            break
        sent += batch
    confirmed = outbox.confirm(sent)
    unsent = owned[len(sent) :]
    if unsent:
        outbox.release(unsent)
    sent_types = tuple(item.intent.event.type for item in sent)
    return PushReport(len(intents), len(owned), len(sent), confirmed, requests, failure, sent_types)
