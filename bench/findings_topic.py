"""The findings topic: one evaluation and publish over 10,000 VMs with 1,000 findings, its Table round trips
(counted by the proxy), its requests to the loopback topic, and its time; then a run with nothing new.

1,000 of the 10,000 VMs (every tenth) are seeded powered off two hours before the run, in the ledger's row
format, current rows only: 1,000 ``stoppedButBilled`` findings. The ``unconfirmed`` rule is given a
staleness of a year, since no reconcile runs here (else every VM would be a finding). The job is the
timer's own (``push_findings``) with the composition root's outbox and topic client, the topic a loopback
``FakeTopic`` taking CloudEvents batches as Event Grid does.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

from bench.findings_cost import seed_fleet
from bench.harness import FAIL, PASS, Result, new_table, progress, use_table
from devtools.fake_topic import FakeTopic
from devtools.faultproxy import FaultProxy
from shared import context, jobs, settings, web
from shared.domain.findings import Thresholds
from shared.domain.times import utc_now

VMS = 10_000
STOPPED_EVERY = 10  # 1,000 findings
KEY = "bench-topic-key"
NO_STALENESS = Thresholds(unconfirmed_after_hours=24 * 365)


def findings_topic_cost(proxy: FaultProxy, connection_string: str) -> tuple[list[Result], list[str]]:
    import os

    table = new_table("benchtopic")
    use_table(connection_string, table)
    progress(f"seeding {VMS:,} VMs, {VMS // STOPPED_EVERY:,} powered off, for the findings topic")
    seed_fleet(context.get_ledger(), VMS, STOPPED_EVERY)
    results: list[Result] = []
    with FakeTopic(KEY) as topic:
        os.environ[settings.FINDINGS_TOPIC_ENDPOINT] = topic.endpoint
        os.environ[settings.FINDINGS_TOPIC_KEY] = KEY
        use_table(proxy.connection_string, table)
        push = _push()
        for label in ("first run: every finding raised", "next run: nothing changed"):
            proxy.reset_counts()
            seen = len(topic.requests)
            began = time.monotonic()
            report = jobs.push_findings(push, now=utc_now(), deadline=math.inf)
            seconds = time.monotonic() - began
            trips, posts = proxy.total(), len(topic.requests) - seen
            if report.failure:
                raise RuntimeError(f"findings topic benchmark failed: {report.summary()}")
            # A query per 1,000 current rows, the registry, the price cache once per page with findings, the
            # outbox read, and a transaction per 100 events claimed and per 100 confirmed.
            bound = 2 * (VMS // 1000) + 2 + math.ceil(report.won / 100) * 2
            results.append(
                Result(
                    f"findings topic, {VMS:,} VMs, {label}: Table round trips",
                    f"{trips} ({report.sent:,} events in {posts} topic request(s), {seconds:.1f} s)",
                    f"<= {bound}",
                    PASS if trips <= bound else FAIL,
                )
            )
        del os.environ[settings.FINDINGS_TOPIC_ENDPOINT], os.environ[settings.FINDINGS_TOPIC_KEY]
    events = len(topic.events)
    context.get_ledger().table.delete_table()
    context.reset()
    notes = [
        f"findings topic: {VMS:,} VMs' current rows seeded (every {STOPPED_EVERY}th powered off 2 h before), "
        "unconfirmed staleness a year; the timer's push_findings with the root's outbox and "
        f"EventGridPublisherClient against a loopback topic, which took {events:,} events in all; round "
        "trips = Table requests the counting proxy saw; seconds measured in this run on this machine.",
    ]
    return results, notes


def _push() -> jobs.FindingsPush:
    context.reset()
    push = context.root().findings_push()
    if push is None:
        raise RuntimeError("the findings topic is not configured")
    ledger, currency = context.get_ledger(), context.root().currency
    return replace(
        push,
        occurrences=lambda now: web.finding_occurrences(
            ledger, thresholds=NO_STALENESS, currency=currency, as_of=now
        ),
    )
