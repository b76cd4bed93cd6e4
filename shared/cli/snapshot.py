"""A static copy of the timeline page with its data embedded: open it in a browser, no server needed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from shared.answers import all_prices, fleet_timelines, vms_page
from shared.domain.times import utc_now
from shared.settings import get_settings
from shared.store import Ledger
from shared.web.bodies import window_fields
from shared.web.page import embed_snapshot, shipped_page
from shared.web.params import check_window
from shared.web.timelines import (
    DEFAULT_WINDOW,
    MAX_TRANSITIONS_PER_VM,
    MAX_WINDOW,
    TIMELINES_MAX_TOP,
    timeline_body,
)

# The page itself loads at most as many VMs.
MAX_SNAPSHOT_VMS = 5000


def write_snapshot(
    path: str | Path,
    ledger: Ledger,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    as_of: datetime | None = None,
    max_vms: int = MAX_SNAPSHOT_VMS,
) -> int:
    """Write the timeline page with the data of every VM (up to ``max_vms``) embedded; return the count.

    Window defaults as in the API: the seven days up to ``as_of`` (now).
    """
    as_of = as_of or utc_now()
    end = end or as_of
    start = start or end - DEFAULT_WINDOW
    check_window(start, end, MAX_WINDOW)
    items: list[dict[str, Any]] = []
    after: str | None = None
    prices = all_prices(ledger, get_settings().prices_currency)
    while len(items) < max_vms:
        top = min(TIMELINES_MAX_TOP, max_vms - len(items))
        page = vms_page(ledger, subscription_id, resource_group, top, after)
        timelines = fleet_timelines(
            ledger, page.items, start, end, as_of, max_transitions=MAX_TRANSITIONS_PER_VM
        )
        items += [timeline_body(timeline, prices) for timeline in timelines]
        after = page.next_after
        if after is None:
            break
    data = {"value": items, "moreVms": after is not None, **window_fields(ledger.policy, start, end, as_of)}
    Path(path).write_text(embed_snapshot(shipped_page().html, data), encoding="utf-8")
    return len(items)
