"""The timeline: every VM's power states over a window, for the page, for finance (CSV) and for demos.

``list_vm_timelines`` answers for one page of VMs at a time (as ``list_vms`` pages them), each VM with
the segments of its states across the window and its billed and unknown seconds there. Each VM costs one
range query that starts at the window (its state at the window start is stored on the first transition
at or after it), and its segments are capped so that one chatty VM cannot blow up a response.

``vm_timeline_page`` serves one self-contained HTML page (``static/timeline.html``: no build step, no
third-party scripts) that reads ``timelines`` next to its own URL. ``write_snapshot`` embeds the same
data into that page, so a demo or an e-mail can carry it without a server.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared.accounting import as_number
from shared.csv_export import CSV_FORMAT, TIMELINE_COLUMNS, hours, requested_format
from shared.errors import BadRequestError
from shared.ledger import Ledger
from shared.queries import Segment, vm_timeline, vms_page
from shared.rows import CurrentRow
from shared.times import format_time, utc_now
from shared.views import (
    HttpResult,
    Request,
    csv_response,
    paged_body,
    query_window,
    vm_body,
    vms_page_for,
)

DEFAULT_TOP = 50
MAX_TOP = 200
DEFAULT_WINDOW = timedelta(days=7)
# Bounds the work of one request: a year of history, and a few thousand segments per VM.
MAX_WINDOW = timedelta(days=366)
MAX_TRANSITIONS_PER_VM = 2000
# ``write_snapshot`` embeds at most this many VMs (the page itself loads at most as many).
MAX_SNAPSHOT_VMS = 5000

PAGE_FILE = Path(__file__).resolve().parent / "static" / "timeline.html"
HTML = "text/html"
SNAPSHOT_SLOT = '<script id="snapshot-data" type="application/json">null</script>'
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class _Page:
    html: str
    headers: tuple[tuple[str, str], ...]


def list_vm_timelines(request: Request, ledger: Ledger) -> dict[str, Any] | HttpResult:
    """``GET timelines``: one page of VMs with their segments and totals over ``from``..``to``."""
    params = request.params
    output = requested_format(params)
    as_of = utc_now()
    start, end = timeline_window(params, as_of)
    page = vms_page_for(params, ledger, DEFAULT_TOP, MAX_TOP)
    items = [timeline_body(ledger, row, start, end, as_of) for row in page.items]
    body = paged_body(items, page.next_after, request)
    body.update(_window_fields(ledger, start, end, as_of))
    if output == CSV_FORMAT:
        rows = {**body, "value": [_csv_item(item, body["window"]) for item in items]}
        return csv_response(TIMELINE_COLUMNS, rows, "vm-timelines.csv")
    return body


def vm_timeline_page(request: Request, ledger: Ledger | None = None) -> HttpResult:
    """``GET timeline``: the HTML page; it loads its data from ``timelines`` with the same function key.

    It reads no storage, so the page still loads (and says what went wrong) when storage is down.
    """
    page = _page()
    return HttpResult(200, page.html, HTML, page.headers)


def timeline_window(params: Mapping[str, str], as_of: datetime) -> tuple[datetime, datetime]:
    """``from``/``to`` from the query; ``to`` defaults to now and ``from`` to seven days before ``to``."""
    start, end = query_window(params, default_end=as_of)
    end = end if end is not None else as_of
    start = start if start is not None else end - DEFAULT_WINDOW
    _check_window(start, end)
    return start, end


def timeline_body(
    ledger: Ledger, current: CurrentRow, start: datetime, end: datetime, as_of: datetime
) -> dict[str, Any]:
    """One VM's entry: its current state, billed/unknown seconds in the window, and its segments."""
    timeline = vm_timeline(ledger, current, start, end, as_of, max_transitions=MAX_TRANSITIONS_PER_VM)
    body = vm_body(current)
    body.update(
        billedSeconds=as_number(timeline.totals.billed_seconds),
        unknownSeconds=as_number(timeline.totals.unknown_seconds),
        truncated=timeline.truncated,
        segments=[_segment_body(segment) for segment in timeline.segments],
    )
    return body


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

    The file needs no server: open it in a browser. Window defaults as in the API: the seven days up to
    ``as_of`` (now).
    """
    as_of = as_of or utc_now()
    end = end or as_of
    start = start or end - DEFAULT_WINDOW
    _check_window(start, end)
    items: list[dict[str, Any]] = []
    after: str | None = None
    while len(items) < max_vms:
        page = vms_page(ledger, subscription_id, resource_group, min(MAX_TOP, max_vms - len(items)), after)
        items += [timeline_body(ledger, row, start, end, as_of) for row in page.items]
        after = page.next_after
        if after is None:
            break
    data = {"value": items, "moreVms": after is not None, **_window_fields(ledger, start, end, as_of)}
    Path(path).write_text(embed_snapshot(_page().html, data), encoding="utf-8")
    return len(items)


def embed_snapshot(html: str, data: dict[str, Any]) -> str:
    """``html`` with ``data`` in its snapshot slot, escaped so no value can end the script element."""
    text = json.dumps(data, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if html.count(SNAPSHOT_SLOT) != 1:
        raise ValueError("the timeline page has no single snapshot slot")
    return html.replace(SNAPSHOT_SLOT, SNAPSHOT_SLOT.replace(">null<", f">{text}<"))


def _segment_body(segment: Segment) -> dict[str, Any]:
    state, cause = segment.state, segment.cause
    return {
        "from": format_time(segment.start),
        "to": format_time(segment.end),
        "powerState": state.power_state if state else None,
        "provisioningState": state.provisioning_state if state else None,
        "billable": state.billable if state else False,
        "hibernated": state.hibernated if state else False,
        "deleted": state.deleted if state else False,
        "operationName": (cause.operation_name or None) if cause else None,
        "source": cause.source if cause else None,
    }


def _csv_item(item: dict[str, Any], window: dict[str, str]) -> dict[str, Any]:
    return {
        **item,
        "windowFrom": window["from"],
        "windowTo": window["to"],
        "billedHours": hours(item["billedSeconds"]),
        "unknownHours": hours(item["unknownSeconds"]),
    }


def _window_fields(ledger: Ledger, start: datetime, end: datetime, as_of: datetime) -> dict[str, Any]:
    return {
        "window": {"from": format_time(start), "to": format_time(end)},
        "asOf": format_time(as_of),
        "billedPowerStates": ledger.policy.ordered,
    }


def _check_window(start: datetime, end: datetime) -> None:
    if end < start:
        raise BadRequestError("InvalidWindow", "'to' is earlier than 'from'")
    if end - start > MAX_WINDOW:
        raise BadRequestError("InvalidWindow", f"the window may span at most {MAX_WINDOW.days} days")


@functools.cache
def _page() -> _Page:
    """The page as shipped, read once per process, with a policy that allows only its own inline code."""
    html = PAGE_FILE.read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script'])}",
            f"style-src {' '.join(hashes['style'])}",
            "connect-src 'self'",
            "img-src 'self' blob: data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = (
        ("Content-Security-Policy", policy),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-cache"),
    )
    return _Page(html, headers)
