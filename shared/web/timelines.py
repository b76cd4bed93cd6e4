"""``GET timelines``: every VM's power states over a window, as segments with billed and unknown seconds
and the estimated cost.

One page of VMs at a time (as ``list_vms`` pages them). The page's VMs are read together from their
month rows, one range query per month the window touches (plus one for the cached prices), whatever the
number of VMs; segments are capped so that one chatty VM cannot blow up a response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import isodate  # type: ignore[import-untyped]

from shared.answers import (
    AttachedView,
    PriceView,
    VmTimeline,
    all_prices,
    attached_estimate,
    attached_for,
    estimate,
    fleet_timelines,
    page_bills,
    whole_bill,
)
from shared.domain.times import utc_now
from shared.store import Ledger
from shared.web.bill_bodies import vm_bill_fields
from shared.web.bodies import (
    cost_body,
    paged_body,
    totals_fields,
    vm_body,
    whole_bill_fields,
    window_fields,
)
from shared.web.csv_export import CSV_FORMAT, TIMELINE_COLUMNS, requested_format, vm_csv_item
from shared.web.params import MAX_WINDOW, check_window, earlier, query_window, resolution_of
from shared.web.responses import HttpResult, Request, csv_response
from shared.web.segment_bodies import SEGMENT_ROW_COLUMNS, segment_body, segment_rows
from shared.web.vms import vms_page_for

TIMELINES_DEFAULT_TOP = 50
TIMELINES_MAX_TOP = 200
DEFAULT_WINDOW = timedelta(days=7)
# Bounds the work of one request: a year of history (``MAX_WINDOW``), a few thousand segments per VM.
MAX_TRANSITIONS_PER_VM = 2000


def list_vm_timelines(request: Request, ledger: Ledger, *, currency: str) -> dict[str, Any] | HttpResult:
    """One page of VMs with their segments and totals over ``from``..``to``."""
    params = request.params
    output = requested_format(params)
    as_of = utc_now()
    start, end = timeline_window(params, as_of)
    resolution = resolution_of(params, end - start)
    page = vms_page_for(params, ledger, TIMELINES_DEFAULT_TOP, TIMELINES_MAX_TOP)
    timelines = fleet_timelines(
        ledger, page.items, start, end, as_of, max_transitions=MAX_TRANSITIONS_PER_VM, resolution=resolution
    )
    prices = all_prices(ledger, currency)
    items = timeline_bodies(ledger, timelines, prices, (start, end, as_of), compact=resolution is not None)
    body = paged_body(items, page.next_after, request)
    body.update(window_fields(ledger.policy, start, end, as_of))
    if resolution is not None:
        body.update(
            resolution=isodate.duration_isoformat(resolution), segmentColumns=list(SEGMENT_ROW_COLUMNS)
        )
    if output == CSV_FORMAT:
        rows = {**body, "value": [_csv_item(item, body["window"]) for item in items]}
        return csv_response(TIMELINE_COLUMNS, rows, "vm-timelines.csv")
    return body


def timeline_window(params: Mapping[str, str], as_of: datetime) -> tuple[datetime, datetime]:
    """``from``/``to`` from the query; ``to`` defaults to now and ``from`` to seven days before ``to``."""
    start, end = query_window(params, default_end=as_of)
    end = end if end is not None else as_of
    start = start if start is not None else earlier(end, DEFAULT_WINDOW)
    check_window(start, end, MAX_WINDOW)
    return start, end


def timeline_bodies(
    ledger: Ledger,
    timelines: Sequence[VmTimeline],
    prices: PriceView,
    window: tuple[datetime, datetime, datetime],
    *,
    compact: bool = False,
) -> list[dict[str, Any]]:
    """A page of VMs' entries (``timeline_body``) with the bill's fields beside their estimate: the page's
    disks and IPs and its stored actuals read once each."""
    start, end, as_of = window
    rows = [timeline.current for timeline in timelines]
    attached = attached_for(ledger, prices.currency, [row.vm for row in rows])
    items = [
        timeline_body(timeline, prices, attached, start, min(end, as_of), compact=compact)
        for timeline in timelines
    ]
    actuals = page_bills(
        ledger, rows, [timeline.totals.billed_seconds for timeline in timelines], window,
        [estimate(row, None, prices).hourly_price for row in rows], attached_estimate(attached),
        windows=[timeline.window for timeline in timelines],
    )  # fmt: skip
    for item, actual in zip(items, actuals, strict=True):
        item.update(vm_bill_fields(actual, prices.currency))
    return items


def timeline_body(
    timeline: VmTimeline,
    prices: PriceView,
    attached: AttachedView,
    start: datetime,
    until: datetime,
    *,
    compact: bool = False,
) -> dict[str, Any]:
    """One VM's entry: its current state, billed/unknown seconds and its whole bill in the window (until
    ``until``, the window's end or now), its segments (``compact``: as ``segmentRows`` and ``states``)."""
    body = vm_body(timeline.current)
    body.update(totals_fields(timeline.totals))
    bill = whole_bill(timeline.current, timeline.totals, start, until, prices, attached)
    body["estimatedCost"] = cost_body(bill.compute)
    body.update(whole_bill_fields(bill))
    body["truncated"] = timeline.truncated
    if compact:
        body.update(segment_rows(timeline.segments, timeline.start))
    else:
        body["segments"] = [segment_body(segment) for segment in timeline.segments]
    return body


def _csv_item(item: dict[str, Any], window: dict[str, str]) -> dict[str, Any]:
    return {**vm_csv_item(item), "windowFrom": window["from"], "windowTo": window["to"]}
