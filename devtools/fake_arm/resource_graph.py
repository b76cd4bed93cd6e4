"""The fake ARM's Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources``, answering the
three queries the app sends (``shared/sources/graph_rows.py``) in the published shape
(``tests/data/published/resource_graph/``): ``totalRecords``, ``count``, ``resultTruncated``, ``$skipToken``
and ``data`` as an object array, with the quota headers Learn documents.

It is no KQL engine: it recognises the table a query starts with (``resources``, ``computeresources``,
``resourcecontainers``) and answers from the fake's own VMs, scale set instances and management groups, so
Resource Graph and Compute agree unless a test says otherwise: ``GraphState.rows`` overrides a resource's row
(a stale row, Resource Graph lagging) or hides it (``None``: a row not there yet, or still there after a
delete is the other way round: list it in ``extra``). Rows are ordered by id, as the query's ``order by``
asks. The quota is ``quota`` queries per ``window`` seconds of real time; a query beyond it answers 429.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2024-04-01"
_TABLES = ("resources", "computeresources", "resourcecontainers")


@dataclass
class GraphState:
    """What the fake Resource Graph serves beyond the fake's VMs, and its quota."""

    rows: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    extra: list[dict[str, Any]] = field(default_factory=list)
    management_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quota: int = 15
    window: float = 5.0
    retry_after_on_429: bool = False
    # Answer x-ms-tenant-subscription-limit-hit: true (a management group of more than 10,000 subscriptions).
    subscription_limit_hit: bool = False
    window_started: float = field(default_factory=time.monotonic)
    used: int = 0
    throttled: int = 0
    # Every query body received, in arrival order (tests check batching and paging).
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[bool, int, float]:
        """Count one query: whether it is within the quota, the queries left and seconds to the reset."""
        with self.lock:
            now = time.monotonic()
            if now - self.window_started >= self.window:
                self.window_started, self.used = now, 0
            allowed = self.used < self.quota
            self.used += allowed
            self.throttled += not allowed
            return allowed, self.quota - self.used, self.window - (now - self.window_started)


def quota_headers(remaining: int, resets_in: float) -> dict[str, str]:
    seconds = max(0, int(resets_in + 0.999))
    return {
        "x-ms-user-quota-remaining": str(max(0, remaining)),
        "x-ms-user-quota-resets-after": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
    }


def answer(
    request: Mapping[str, Any],
    vms: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    graph: GraphState,
) -> tuple[int, dict[str, Any]]:
    """The status and body answering ``request`` (a ``QueryRequest``), given the fake's VMs and instances of
    the requested subscriptions."""
    query = request.get("query")
    options = request.get("options") or {}
    if not isinstance(query, str) or options.get("resultFormat", "objectArray") != "objectArray":
        return 400, _error("BadRequest", "The query or its resultFormat is not one this fake answers.")
    table = query.strip().split(" ", 1)[0].lower()
    if table not in _TABLES:
        return 400, _error("BadRequest", f"The fake answers only {', '.join(_TABLES)}.")
    if table == "resourcecontainers":
        rows = _subscriptions_under(request.get("managementGroups") or [], graph)
    else:
        source = vms if table == "resources" else instances
        rows = _rows(source, request.get("subscriptions") or [], graph, instance=table == "computeresources")
    try:
        offset = _decode(options["$skipToken"]) if "$skipToken" in options else int(options.get("$skip", 0))
    except ValueError:
        return 400, _error("InvalidSkipToken", "The skip token is not valid.")
    top = int(options.get("$top", 100))
    page = rows[offset : offset + top]
    body: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "resultTruncated": "false",
        "facets": [],
        "data": page,
    }
    if offset + top < len(rows):
        body["$skipToken"] = _encode(offset + top)
    return 200, body


def _rows(
    items: list[dict[str, Any]], subscriptions: list[str], graph: GraphState, *, instance: bool
) -> list[dict[str, Any]]:
    wanted = {sub.lower() for sub in subscriptions}
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        row = _row(item)
        key = row["id"].lower()
        override = graph.rows.get(key, row)
        if override is not None:
            rows[key] = override
    for row in graph.extra:
        if ("/virtualmachinescalesets/" in row["id"].lower()) == instance:
            rows[row["id"].lower()] = row
    chosen = (row for key, row in rows.items() if key.split("/")[2] in wanted)
    return sorted(chosen, key=lambda row: row["id"].lower())


def _row(item: Mapping[str, Any]) -> dict[str, Any]:
    """A VM or instance as the sweep's projection shows it: the power state code, the model's provisioning."""
    statuses = item.get("properties", {}).get("instanceView", {}).get("statuses", [])
    codes = [status.get("code", "") for status in statuses]
    power = next((code for code in codes if code.lower().startswith("powerstate/")), "")
    provisioning = next((code for code in codes if code.lower().startswith("provisioningstate/")), "")
    state = provisioning.split("/")[1].capitalize() if provisioning else ""
    sub = item["id"].split("/")[2]
    member_of = item.get("properties", {}).get("virtualMachineScaleSet", {}).get("id", "")
    return {
        "id": item["id"], "subscriptionId": sub, "powerState": power, "provisioningState": state,
        "memberOf": member_of,
    }  # fmt: skip


def make_row(resource_id: str, power: str | None, provisioning: str = "Succeeded") -> dict[str, Any]:
    """A sweep row for ``GraphState.rows`` or ``extra`` (a lagging Resource Graph)."""
    sub = resource_id.split("/")[2]
    code = f"PowerState/{power}" if power else ""
    return {
        "id": resource_id, "subscriptionId": sub, "powerState": code, "provisioningState": provisioning,
        "memberOf": "",
    }  # fmt: skip


def _subscriptions_under(groups: list[str], graph: GraphState) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for group in groups:
        for sub in graph.management_groups.get(group, []):
            if str(sub.get("state", "Enabled")).lower() == "enabled":
                sub_id = sub["subscriptionId"]
                row = {"id": f"/subscriptions/{sub_id}", "subscriptionId": sub_id}
                found[row["id"].lower()] = row
    return [found[key] for key in sorted(found)]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _encode(offset: int) -> str:
    return base64.b64encode(json.dumps({"graphOffset": offset}).encode()).decode()


def _decode(token: Any) -> int:
    try:
        offset = json.loads(base64.b64decode(str(token)))["graphOffset"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError("bad skip token") from err
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("bad skip token")
    return offset
