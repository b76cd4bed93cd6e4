"""A static copy of the timeline page with its data embedded: open it in a browser, no server needed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from shared.answers import (
    DiskFinding,
    Page,
    VmFinding,
    all_prices,
    disk_findings_page,
    findings_page,
    fleet_timelines,
    iter_all,
    vms_page,
)
from shared.domain.findings import RULES, Thresholds
from shared.domain.times import utc_now
from shared.store import Ledger
from shared.web.bodies import disk_finding_body, finding_body, window_fields
from shared.web.page import embed_snapshot, shipped_page
from shared.web.params import MAX_WINDOW, check_window, earlier
from shared.web.timelines import DEFAULT_WINDOW, MAX_TRANSITIONS_PER_VM, TIMELINES_MAX_TOP, timeline_bodies

# The page itself loads at most as many VMs.
MAX_SNAPSHOT_VMS = 5000


def snapshot_findings(
    ledger: Ledger,
    subscription_id: str | None,
    resource_group: str | None,
    as_of: datetime,
    limit: int,
    *,
    currency: str,
    thresholds: Thresholds,
) -> list[dict[str, Any]]:
    """The findings strip's data, as ``GET findings`` answers it with the default thresholds."""

    def page(after: str | None) -> Page[VmFinding]:
        return findings_page(
            ledger, subscription_id, resource_group, kinds=list(RULES), thresholds=thresholds,
            top=1000, after=after, as_of=as_of, currency=currency,
        )  # fmt: skip

    def disks(after: str | None) -> Page[DiskFinding]:
        return disk_findings_page(
            ledger, subscription_id, resource_group, thresholds=thresholds, top=1000, after=after,
            as_of=as_of, currency=currency,
        )  # fmt: skip

    found = [finding_body(item) for item in iter_all(page, limit=limit)]
    return found + [disk_finding_body(item) for item in iter_all(disks, limit=limit)]


def write_snapshot(
    path: str | Path,
    ledger: Ledger,
    *,
    currency: str,
    thresholds: Thresholds,
    start: datetime | None = None,
    end: datetime | None = None,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    as_of: datetime | None = None,
    max_vms: int = MAX_SNAPSHOT_VMS,
) -> int:
    """Write the timeline page with the data of every VM (up to ``max_vms``) embedded; return the count.

    Window defaults as in the API: the seven days up to ``as_of`` (now); prices in ``currency``, findings
    with ``thresholds`` (the settings' ``FINDINGS_*``, as ``GET findings`` takes them).
    """
    as_of = as_of or utc_now()
    end = end or as_of
    start = start or earlier(end, DEFAULT_WINDOW)
    check_window(start, end, MAX_WINDOW)
    items: list[dict[str, Any]] = []
    after: str | None = None
    prices = all_prices(ledger, currency)
    while len(items) < max_vms:
        top = min(TIMELINES_MAX_TOP, max_vms - len(items))
        page = vms_page(ledger, subscription_id, resource_group, top, after)
        timelines = fleet_timelines(
            ledger, page.items, start, end, as_of, max_transitions=MAX_TRANSITIONS_PER_VM
        )
        items += timeline_bodies(ledger, timelines, prices, (start, end, as_of))
        after = page.next_after
        if after is None:
            break
    data = {"value": items, "moreVms": after is not None, **window_fields(ledger.policy, start, end, as_of)}
    data["findings"] = snapshot_findings(
        ledger, subscription_id, resource_group, as_of, max_vms, currency=currency, thresholds=thresholds
    )
    Path(path).write_text(embed_snapshot(shipped_page().html, data), encoding="utf-8")
    return len(items)
