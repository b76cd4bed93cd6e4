"""CSV answers for finance: RFC 4180 text made from the same bodies the JSON API returns.

A header row, CRLF line ends, times as the API writes them (ISO-8601 UTC), hours as plain decimals.
Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, some of them also
after leading spaces, tabs or line breaks (which they trim first) and for the full-width forms of those
signs; resource names, operation names and event ids come from outside: such a field gets a leading
``'`` so it is shown as text. Hours are never negative, so no real number is altered.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput

JSON_FORMAT = "json"
CSV_FORMAT = "csv"
CSV_MIMETYPE = "text/csv"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
HOURS_DECIMALS = 6

STATE_COLUMNS = ("powerState", "provisioningState", "billable", "hibernated", "deleted")
INVENTORY_COLUMNS = ("vmSize", "location", "osType", "licenseType", "priority", "tags")
COST_COLUMNS = ("currency", "hourlyPrice", "estimatedCost", "costReason")
VM_BASE_COLUMNS = (
    "resourceId", "subscriptionId", "resourceGroup", "vmName", *STATE_COLUMNS, "since", "lastChange",
    "scaleSetName", "scaleSetId", "instanceId",
)  # fmt: skip
# New columns go last, so spreadsheets that read the older files by position keep working.
VM_COLUMNS = (*VM_BASE_COLUMNS, *INVENTORY_COLUMNS, "billedHours", "unknownHours", *COST_COLUMNS)
TRANSITION_COLUMNS = (
    "time", *STATE_COLUMNS, "operationName", "source", "eventId", "correlationId", "cause",
    "billingPolicy", "changedAfter",
)  # fmt: skip
TIMELINE_COLUMNS = (
    *VM_BASE_COLUMNS, "windowFrom", "windowTo", "billedHours", "unknownHours", "truncated",
    *INVENTORY_COLUMNS, *COST_COLUMNS,
)  # fmt: skip
COSTS_COLUMNS = (
    "group", "vmCount", "billedHours", "unknownHours", "estimatedCost", "currency", "unpricedVmCount",
    "unpricedBilledHours", "windowFrom", "windowTo", "attachedCost", "attachedMonthly", "totalCost",
    "avoidedCost", "avoidedHours",
)  # fmt: skip
FINDING_COLUMNS = (
    "kind", "resourceId", "subscriptionId", "resourceGroup", "vmName", *STATE_COLUMNS, "since", "hours",
    "billedHours", "estimatedCost", "reachedBy", "causeSource", "causeOperation", "lastConfirmed",
    "currency", "hourlyPrice", "costReason", "driftDay", "billHours", "ledgerHours",
)  # fmt: skip


def flat_vm(item: Mapping[str, Any]) -> dict[str, Any]:
    """A VM body with its ``scaleSet`` object as the two columns ``scaleSetName`` and ``scaleSetId``."""
    scale_set = item.get("scaleSet") or {}
    return {**item, "scaleSetName": scale_set.get("name"), "scaleSetId": scale_set.get("id")}


def requested_format(params: Mapping[str, str]) -> str:
    """``json`` (the default) or ``csv``; anything else is a client error."""
    value = params.get("format")
    if value is None or value.lower() == JSON_FORMAT:
        return JSON_FORMAT
    if value.lower() == CSV_FORMAT:
        return CSV_FORMAT
    raise InvalidInput("format", "'format' must be json or csv")


def to_csv(columns: Sequence[str], items: Iterable[Mapping[str, Any]]) -> str:
    """One header row of ``columns``, then one row per item (missing keys are empty fields)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_field(name) for name in columns])
    for item in items:
        writer.writerow([safe_field(item.get(name)) for name in columns])
    return buffer.getvalue()


def safe_field(value: Any) -> str:
    """The text of one field: ``true``/``false``, empty for ``None``, formula-like text made inert."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = format_decimal(value)
    else:
        text = str(value)
    return (
        "'" + text
        if text.startswith(FORMULA_PREFIXES) or text.lstrip().startswith(FORMULA_PREFIXES)
        else text
    )


def format_decimal(value: float) -> str:
    """A plain decimal (never an exponent) with at most six places: ``5``, ``0.25``, ``0.000278``."""
    text = f"{value:.{HOURS_DECIMALS}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def hours(seconds: float) -> str:
    """Seconds as decimal hours, rounded to six places (about a hundredth of a second)."""
    return format_decimal(seconds / 3600)


def vm_csv_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A VM body's CSV row: hours instead of seconds, the cost flattened, tags as ``name=value; ...``."""
    tags = item.get("tags")
    return {
        **flat_vm(item),
        "tags": "; ".join(f"{name}={value}" for name, value in sorted(tags.items())) if tags else "",
        "billedHours": hours(item["billedSeconds"]) if "billedSeconds" in item else None,
        "unknownHours": hours(item["unknownSeconds"]) if "unknownSeconds" in item else None,
        **cost_columns(item.get("estimatedCost")),
    }


def finding_csv_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A finding body's CSV row: its ``estimatedCost`` flattened as for VMs."""
    drift = item.get("drift") or {}
    drift_columns = {"driftDay": drift.get("day"), "billHours": drift.get("billHours"),
                     "ledgerHours": drift.get("ledgerHours")}  # fmt: skip
    return {**item, **cost_columns(item.get("estimatedCost")), **drift_columns}


def cost_columns(cost: Mapping[str, Any] | None) -> dict[str, Any]:
    """An ``estimatedCost`` object as the ``COST_COLUMNS``: the amount to the cent, the price as given."""
    cost = cost or {}
    return {
        "currency": cost.get("currency"),
        "hourlyPrice": money_text(cost.get("hourlyPrice")),
        "estimatedCost": money_text(cost.get("amount"), cents=True),
        "costReason": cost.get("reason"),
    }


def money_text(amount: float | None, *, cents: bool = False) -> str | None:
    """An amount as plain decimal text: two places for costs, as given for prices."""
    if amount is None:
        return None
    return f"{amount:.2f}" if cents else format_decimal(amount)
