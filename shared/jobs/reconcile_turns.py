"""The timer's reconcile: every subscription in turn, each listed in parts that a later run resumes.

A subscription is listed in parts: List All (every VM but the Uniform scale set instances), then the
scale set listing, then each Uniform scale set's instances, the sets in key order. Each part is judged
on its own once it is complete: a VM List All did not return is gone (instances excepted), an instance
its set's listing did not return is gone, and so are the instances of a set the complete scale set
listing no longer names. So a run cut short keeps what it did: it stores how far the subscription got
(the key of the last scale set listed whole, in the run record ``reconcile-resume|<subscription>``), and
the next run that lists that subscription resumes after it, without listing List All again; a
subscription larger than one run's budget is finished over several runs, never started over. A part is
the smallest unit: a run that cannot finish List All, or one scale set, leaves it for the next.

A run requests no listing page after ``RUN_BUDGET_SECONDS`` (the Functions timeout is 10 minutes, and one
page with its retries takes at most the ARM client's page timeout), nor after the timer run's deadline,
and each listing reads at most its page cap: what was left is reported failed (``cut_short``) and the
next run begins with it (``resume_at``), or with the one after it when it had the whole run, so no
subscription starves behind a large one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from shared.domain.ids import vm_id_from_key
from shared.domain.times import utc_now
from shared.jobs.reconcile import (
    RUN_BUDGET_SECONDS,
    Known,
    SubscriptionReport,
    apply_page,
    failures_in,
    known_states,
    record_vanished,
)
from shared.sources import ArmClient, ListedVm
from shared.store import Adoption, Ledger, RunRecord, RunRecords

logger = logging.getLogger(__name__)

RESUME_PREFIX = "reconcile-resume|"
NOT_LISTED = "not listed: the run's listing budget was spent before its turn"
_AFTER_SCALE_SET = "scale sets after:"  # the detail of a resume record: this, then a scale set key


class ResumePoints:
    """Where each subscription's listing in parts got to, one run record per subscription (so it survives
    a new host), written only when it changes."""

    def __init__(self, records: RunRecords, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._records, self._clock = records, clock
        self._read: dict[str, str | None] = {}

    def get(self, subscription: str) -> str | None:
        record = self._records.get(RESUME_PREFIX + subscription.lower())
        detail = record.detail if record is not None else ""
        after = detail[len(_AFTER_SCALE_SET) :] if detail.startswith(_AFTER_SCALE_SET) else None
        self._read[subscription.lower()] = after
        return after

    def put(self, subscription: str, after: str | None) -> None:
        key = subscription.lower()
        if key in self._read and self._read[key] == after:
            return
        detail = "" if after is None else _AFTER_SCALE_SET + after
        self._records.put(RESUME_PREFIX + key, RunRecord(self._clock(), after is None, detail))
        self._read[key] = after


def reconcile_subscriptions(
    ledger: Ledger,
    client: ArmClient,
    subscription_ids: Iterable[str],
    *,
    budget_seconds: float = RUN_BUDGET_SECONDS,
    deadline: float | None = None,
    start_at: str | None = None,
    resume: ResumePoints | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> list[SubscriptionReport]:
    """Every subscription, each independently, each report logged; a failure is in its report.

    No listing page is requested after ``budget_seconds`` nor after ``deadline`` (``time.monotonic()``):
    the subscriptions left are reported failed. ``start_at`` (``resume_at`` of the run before) is listed
    first and the others follow in turn. With ``resume``, each subscription resumes where its last run
    left it, and what this one leaves is stored there.
    """
    ids = in_turn(list(subscription_ids), start_at)
    if not ids:
        logger.warning("RECONCILE_SUBSCRIPTION_IDS is empty: no subscription to reconcile")
        return []
    listing_deadline = time.monotonic() + budget_seconds
    if deadline is not None:
        listing_deadline = min(listing_deadline, deadline)
    reports = []
    for sub in ids:
        after = resume.get(sub) if resume is not None else None
        if time.monotonic() >= listing_deadline:
            # Not even its known VMs are read: at 100 subscriptions, reading them only to be refused a
            # listing page took the run 40 s past its budget.
            report = SubscriptionReport(sub.lower(), failure=NOT_LISTED, cut_short=True, resume_after=after)
        else:
            report = reconcile_in_parts(
                ledger, client, sub, deadline=listing_deadline, after=after, clock=clock
            )
            report.cut_short = report.failure is not None and time.monotonic() >= listing_deadline
        if resume is not None:
            resume.put(sub, report.resume_after if report.failure else None)
        reports.append(report)
    for report in reports:
        (logger.error if report.failure else logger.info)("reconcile %s", report.summary())
    return reports


def reconcile_in_parts(
    ledger: Ledger,
    client: ArmClient,
    subscription_id: str,
    *,
    deadline: float,
    after: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> SubscriptionReport:
    """List ``subscription_id`` part by part, from List All, or (``after`` not ``None``) from the Uniform
    scale set after the one keyed ``after`` ("": the first); ``resume_after`` says how far it got."""
    report = SubscriptionReport(subscription_id.lower(), resume_after=after)
    sub = report.subscription_id
    with failures_in(report):
        unseen = known_states(ledger, sub)
        parts = _by_scale_set(sub, unseen)
        adoption = ledger.adoption(unseen)
        if after is None:
            _list(ledger, client.iter_vm_pages(sub, deadline=deadline), unseen, report, adoption, clock)
            _vanished(ledger, unseen, parts.pop(None, []), report, clock)
            report.resume_after = ""
        listed = [item for page in client.iter_scale_set_pages(sub, deadline=deadline) for item in page]
        uniform = sorted((item.scale_set for item in listed if item.is_uniform), key=lambda s: s.key)
        names = {scale_set.key for scale_set in uniform}
        gone = [key for name, keys in parts.items() if name is not None and name not in names for key in keys]
        _vanished(ledger, unseen, gone, report, clock)
        for scale_set in uniform:
            if scale_set.key <= (report.resume_after or ""):
                continue
            pages = client.iter_instance_pages(scale_set, deadline=deadline)
            _list(ledger, pages, unseen, report, adoption, clock)
            _vanished(ledger, unseen, parts.get(scale_set.key, []), report, clock)
            report.resume_after = scale_set.key
        report.resume_after = None
    return report


def _list(
    ledger: Ledger,
    pages: Iterable[list[ListedVm]],
    unseen: dict[str, Known],
    report: SubscriptionReport,
    adoption: Adoption,
    clock: Callable[[], datetime],
) -> None:
    for page in pages:
        apply_page(ledger, page, unseen, clock(), report, adoption)


def _by_scale_set(subscription: str, known: dict[str, Known]) -> dict[str | None, list[str]]:
    """The keys of ``known`` by the part listing them: a Uniform scale set's key, or ``None`` (List All)."""
    parts: dict[str | None, list[str]] = {}
    for key in known:
        scale_set = vm_id_from_key(subscription, key).scale_set
        parts.setdefault(scale_set.key if scale_set is not None else None, []).append(key)
    return parts


def _vanished(
    ledger: Ledger,
    unseen: dict[str, Known],
    keys: list[str],
    report: SubscriptionReport,
    clock: Callable[[], datetime],
) -> None:
    """After a complete part: its VMs (``keys``) it did not list are recorded as deleted."""
    part = {key: unseen.pop(key) for key in keys if key in unseen}
    record_vanished(ledger, part, clock(), report)


def in_turn(subscription_ids: list[str], start_at: str | None) -> list[str]:
    """``subscription_ids`` from ``start_at`` (compared case-insensitively) on, then the ones before it."""
    keys = [sub.lower() for sub in subscription_ids]
    if start_at is None or start_at.lower() not in keys:
        return subscription_ids
    first = keys.index(start_at.lower())
    return subscription_ids[first:] + subscription_ids[:first]


def resume_at(reports: Sequence[SubscriptionReport]) -> str | None:
    """The subscription the next run lists first: the first one the run's budget cut off, if any; the one
    after it when it was the run's first (it had the whole budget: the others are not held behind it)."""
    cut = [index for index, report in enumerate(reports) if report.cut_short]
    if not cut:
        return None
    first = cut[0] + 1 if cut[0] == 0 and len(reports) > 1 else cut[0]
    return reports[first].subscription_id
