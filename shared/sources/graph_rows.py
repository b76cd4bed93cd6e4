"""Azure Resource Graph: the queries the sweep sends and its answers reduced to what reconcile compares.

Shapes from the published spec (``stable/2024-04-01``, ``tests/data/published/resource_graph/``): an answer is
``{totalRecords, count, resultTruncated: "true"|"false", $skipToken?, data: [...]}`` with ``data`` an object
array (``resultFormat: objectArray``). A body of another shape raises ``ValueError``: a page read as empty by
mistake would make every VM look gone. A page always projects ``id``, which Resource Graph needs to page in a
stable order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.ids import is_subscription_id
from shared.domain.vm_state import normalize_power_state
from shared.sources._pager import page_parts
from shared.sources.vm_listing import ListedVm

logger = logging.getLogger(__name__)

_PROJECTION = (
    "| project id, subscriptionId, powerState = tostring(properties.extended.instanceView.powerState.code), "
    "provisioningState = tostring(properties.provisioningState), "
    "memberOf = tostring(properties.virtualMachineScaleSet.id) | order by id asc"
)
# VMs (single and Flexible members) from ``resources``; Uniform scale set instances from ``computeresources``.
VM_QUERY = f"resources | where type =~ 'microsoft.compute/virtualmachines' {_PROJECTION}"
_INSTANCE_TYPE = "microsoft.compute/virtualmachinescalesets/virtualmachines"
INSTANCE_QUERY = f"computeresources | where type =~ '{_INSTANCE_TYPE}' {_PROJECTION}"
SWEEP_QUERIES = (VM_QUERY, INSTANCE_QUERY)
# Enabled subscriptions, asked at a management group's scope (``managementGroups`` in the request).
SUBSCRIPTIONS_QUERY = (
    "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
    "| where tostring(properties.state) =~ 'Enabled' | project id, subscriptionId | order by id asc"
)
_RESETS_AFTER = re.compile(r"^(?P<h>\d{1,3}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class GraphPage:
    """One answer: its rows, the token of the next page (``None`` on the last) and ``totalRecords``."""

    rows: list[Any]
    skip_token: str | None
    total_records: int | None


@dataclass(frozen=True)
class Quota:
    """Resource Graph's throttling headers on an answer: queries left, and seconds until the quota resets."""

    remaining: int | None
    resets_after: float | None


def parse_graph_page(body: Any) -> GraphPage:
    """The rows and ``$skipToken`` of one answer; ``ValueError`` for any other shape, and for a result cut
    short with no token to read the rest (``resultTruncated`` without ``$skipToken``)."""
    # ``data`` as an array: ``objectArray``, the format asked for (``table`` answers an object).
    data, token = page_parts(body, "Resource Graph", items="data", link="$skipToken")
    if str(body.get("resultTruncated", "false")).lower() == "true" and not token:
        raise ValueError("the result was truncated and carries no $skipToken")
    total = body.get("totalRecords")
    return GraphPage(data, token, total if isinstance(total, int) else None)


def listed_from_row(row: Any, index: int) -> ListedVm | None:
    """A sweep row as a listed VM: the power state from its code (``PowerState/running``), ``None`` when
    missing; the provisioning state as the model has it (``Succeeded``); a Flexible member's scale set.
    Hibernation is not projected: the
    sweep's caller compares without it. ``None`` (with a warning) for a row without an id."""
    if not isinstance(row, Mapping) or not isinstance(row.get("id"), str) or not row["id"].strip():
        logger.warning("Skipping Resource Graph row %s: it has no id", index)
        return None
    power, provisioning = row.get("powerState"), _text(row.get("provisioningState"))
    return ListedVm(
        resource_id=row["id"].strip(),
        provisioning_state=provisioning,
        power_state=normalize_power_state(power) if isinstance(power, str) else None,
        hibernated=False,
        scale_set_id=_text(row.get("memberOf")),
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def subscription_from_row(row: Any) -> str | None:
    """The subscription id of a ``resourcecontainers`` row, lower-cased; ``None`` if it is not one."""
    value = row.get("subscriptionId") if isinstance(row, Mapping) else None
    return value.lower() if isinstance(value, str) and is_subscription_id(value.lower()) else None


def read_quota(headers: Mapping[str, str]) -> Quota:
    """``x-ms-user-quota-remaining`` (int) and ``x-ms-user-quota-resets-after`` (``hh:mm:ss``); ``None`` for
    an absent or unreadable value."""
    remaining_text = headers.get("x-ms-user-quota-remaining")
    remaining = int(remaining_text) if remaining_text and remaining_text.strip().isdigit() else None
    return Quota(remaining, resets_after_seconds(headers.get("x-ms-user-quota-resets-after")))


def resets_after_seconds(text: str | None) -> float | None:
    """``00:00:03`` -> 3.0; ``None`` for anything else."""
    match = _RESETS_AFTER.match(text.strip()) if text else None
    if match is None:
        return None
    return int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
