"""``GET costs``: billed hours, unknown hours, estimated cost and VM count per subscription, resource
group or tag over a window (CSV too).

The window defaults to the current UTC month so far. Every VM of the ledger (or of ``subscriptionId``)
is read from its current row and month rows: round trips grow with VMs / 1000 and months, not with VMs.
Prices come from the cache the timer keeps; this endpoint never calls the prices API. With
``format=focus``, one FOCUS-aligned CSV row per VM and UTC day instead (``web/focus.py``), from the same
reads.
"""

from __future__ import annotations

from typing import Any

from shared.answers import costs_report, vm_days
from shared.domain.chargeback import parse_group_by
from shared.domain.ids import require_part
from shared.domain.times import month_of, month_start, utc_now
from shared.store import Ledger
from shared.web.bodies import costs_body, window_fields
from shared.web.csv_export import COSTS_COLUMNS, CSV_FORMAT, hours, money_text, requested_format
from shared.web.focus import FOCUS_COLUMNS, FOCUS_FORMAT, focus_row
from shared.web.params import MAX_WINDOW, check_window, query_window
from shared.web.responses import HttpResult, Request, csv_response


def list_costs(request: Request, ledger: Ledger, *, currency: str) -> dict[str, Any] | HttpResult:
    params = request.params
    focus = (params.get("format") or "").lower() == FOCUS_FORMAT
    output = CSV_FORMAT if focus else requested_format(params)
    group_by = parse_group_by(params.get("groupBy"))
    subscription = params.get("subscriptionId")
    if subscription is not None:
        require_part("subscriptionId", subscription)
    as_of = utc_now()
    start, end = query_window(params, default_end=as_of)
    start = start if start is not None else month_start(month_of(end))
    check_window(start, end, MAX_WINDOW)
    if focus:
        rows = [
            focus_row(item, currency) for item in vm_days(ledger, subscription, start, end, as_of, currency)
        ]
        return csv_response(FOCUS_COLUMNS, {"value": rows}, "vm-costs-focus.csv")
    report = costs_report(ledger, group_by, start, end, as_of, currency, subscription)
    body = costs_body(report)
    body.update(window_fields(ledger.policy, start, end, as_of))
    if output == CSV_FORMAT:
        window = body["window"]
        rows = [_csv_row(group, window) for group in body["value"]]
        return csv_response(COSTS_COLUMNS, {"value": rows}, "vm-costs.csv")
    return body


def _csv_row(group: dict[str, Any], window: dict[str, str]) -> dict[str, Any]:
    cost = group["estimatedCost"]
    return {
        **group,
        "billedHours": hours(group["billedSeconds"]),
        "unknownHours": hours(group["unknownSeconds"]),
        "unpricedBilledHours": hours(group["unpricedBilledSeconds"]),
        "estimatedCost": money_text(cost["amount"], cents=True),
        "currency": cost["currency"],
        "windowFrom": window["from"],
        "windowTo": window["to"],
        "attachedCost": money_text(group["attachedCost"]["amount"], cents=True),
        "attachedMonthly": money_text(group["attachedCost"]["monthly"], cents=True),
        "totalCost": money_text(group["totalCost"]["amount"], cents=True),
        "avoidedCost": money_text(group["avoidedCost"]["amount"], cents=True),
        "avoidedHours": hours(group["avoidedCost"]["hours"] * 3600),
    }
