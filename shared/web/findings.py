"""``GET findings``: VMs people should act on (stopped but billed, deallocated for long, failed while
billed, unconfirmed), one entry per VM and kind, then the managed disks no VM owns (``unattachedDisk``), as
JSON or CSV, paged over VMs then disks.

``kind`` (comma list, default every kind of the registry) and ``minHours`` (replaces every kind's minimum
time in state; the staleness that makes a state unconfirmed stays the setting) are validated; thresholds
default to the settings (``FINDINGS_*``), handed in by the composition root. ``subscriptionId``,
``resourceGroup`` and ``scaleSet`` choose the VMs as for ``/vms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.answers import disk_findings_page, findings_page
from shared.domain.findings import ALL_KINDS, RULES, FindingKind, Thresholds
from shared.domain.times import utc_now
from shared.errors import InvalidInput
from shared.store import Ledger, is_current_cursor, is_disk_cursor
from shared.web.bodies import disk_finding_body, finding_body, findings_fields, paged_body
from shared.web.csv_export import CSV_FORMAT, FINDING_COLUMNS, finding_csv_item, requested_format
from shared.web.params import continuation_after, page_size
from shared.web.responses import HttpResult, Request, csv_response
from shared.web.vms import requested_scope

FINDINGS_DEFAULT_TOP = 200
FINDINGS_MAX_TOP = 1000
MAX_MIN_HOURS = 24 * 3660  # ten years
_KINDS = {kind.value.lower(): kind for kind in ALL_KINDS}


def list_findings(
    request: Request, ledger: Ledger, *, currency: str, thresholds: Thresholds
) -> dict[str, Any] | HttpResult:
    params = request.params
    output = requested_format(params)
    subscription, group, scale_set = requested_scope(params)
    kinds = requested_kinds(params)
    asked = requested_thresholds(params, thresholds)
    top = page_size(params, FINDINGS_DEFAULT_TOP, FINDINGS_MAX_TOP)
    after = continuation_after(params)
    disks_after = after if after is not None and is_disk_cursor(after) else None
    if after is not None and not is_current_cursor(after) and disks_after is None:
        raise InvalidInput("continuationToken", "continuationToken does not belong to this query")
    as_of = utc_now()
    items: list[dict[str, Any]] = []
    next_after: str | None = None
    vm_kinds = [kind for kind in kinds if kind in RULES]
    if vm_kinds and disks_after is None:
        page = findings_page(
            ledger, subscription, group, kinds=vm_kinds, thresholds=asked, top=top, after=after, as_of=as_of,
            currency=currency, scale_set=scale_set,
        )  # fmt: skip
        items, next_after = [finding_body(item) for item in page.items], page.next_after
    # Unattached disks come after every VM finding; a scale set holds no unattached disk.
    if next_after is None and FindingKind.UNATTACHED_DISK in kinds and scale_set is None:
        disks = disk_findings_page(
            ledger, subscription, group, thresholds=asked, top=max(top - len(items), 1), after=disks_after,
            as_of=as_of, currency=currency,
        )  # fmt: skip
        items += [disk_finding_body(item) for item in disks.items]
        next_after = disks.next_after
    body = paged_body(items, next_after, request)
    body.update(findings_fields(kinds, asked, as_of))
    if output == CSV_FORMAT:
        rows = {**body, "value": [finding_csv_item(item) for item in items]}
        return csv_response(FINDING_COLUMNS, rows, "findings.csv")
    return body


def requested_kinds(params: Mapping[str, str]) -> list[FindingKind]:
    """``kind``: a comma list of finding kinds (any case), in registry order; absent means all."""
    text = params.get("kind")
    if text is None:
        return list(ALL_KINDS)
    names = [part.strip().lower() for part in text.split(",")]
    if not all(name in _KINDS for name in names):
        raise InvalidInput(
            "kind", f"'kind' must be a comma list of: {', '.join(kind.value for kind in ALL_KINDS)}"
        )
    wanted = {_KINDS[name] for name in names}
    return [kind for kind in ALL_KINDS if kind in wanted]


def requested_thresholds(params: Mapping[str, str], defaults: Thresholds) -> Thresholds:
    """``minHours``: a non-negative decimal in place of every kind's minimum time in state."""
    text = params.get("minHours")
    if text is None:
        return defaults
    stripped = text.strip()
    valid = 0 < len(stripped) <= 12 and stripped.replace(".", "", 1).isdigit() and stripped.isascii()
    if not valid or float(stripped) > MAX_MIN_HOURS:
        raise InvalidInput("minHours", f"'minHours' must be a number of hours from 0 to {MAX_MIN_HOURS}")
    return defaults.with_min_hours(float(stripped))
