"""The fake ARM's HTTP answers: List All (status or models), instance views, scale sets and their
instances, the Activity Log; paging with opaque skip tokens and the injected faults."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from devtools.fake_arm import cost_management, resource_graph
from devtools.fake_arm.bodies import instance_view_body, model_view, status_view
from devtools.fake_arm.state import ArmState, load_attached_file, load_listing_file
from devtools.loopback import LOOPBACK, RecordedRequest

_LIST_ALL_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/virtualMachines/?$", re.IGNORECASE
)
_INSTANCE_VIEW_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)/instanceView$",
    re.IGNORECASE,
)
_INSTANCE_INSTANCE_VIEW_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute"
    r"/virtualMachineScaleSets/(?P<ss>[^/]+)/virtualMachines/(?P<id>[^/]+)/instanceView$",
    re.IGNORECASE,
)
_SCALE_SETS_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/virtualMachineScaleSets/?$", re.IGNORECASE
)
_INSTANCES_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute"
    r"/virtualMachineScaleSets/(?P<ss>[^/]+)/virtualMachines/?$",
    re.IGNORECASE,
)
_COST_QUERY_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.CostManagement/query/?$", re.IGNORECASE
)
_ACTIVITY_LOG_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Insights/eventtypes/management/values/?$",
    re.IGNORECASE,
)
# Disks - List, Network Interfaces - List All, Public IP Addresses - List All: the api-version each answers.
_ATTACHED_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/(?P<provider>Microsoft\.Compute/disks"
    r"|Microsoft\.Network/networkInterfaces|Microsoft\.Network/publicIPAddresses)/?$",
    re.IGNORECASE,
)
_ATTACHED_API_VERSIONS = {
    "microsoft.compute/disks": ("disks", "2024-03-02"),
    "microsoft.network/networkinterfaces": ("networkInterfaces", "2024-05-01"),
    "microsoft.network/publicipaddresses": ("publicIPAddresses", "2024-05-01"),
}
# The only shape of $filter the Activity Log accepts for one resource (SOURCES.md of activity_log/).
_ACTIVITY_FILTER = re.compile(
    r"^eventTimestamp ge '(?P<start>[^']+)' and eventTimestamp le '(?P<end>[^']+)'"
    r"(?: and resourceUri eq '(?P<uri>(?:[^']|'')+)')?$"
)


# A scale set that does not exist: ARM answers 404 ResourceNotFound (a distinct list, compared by identity).
_NOT_FOUND: list[dict[str, Any]] = []


def handler_for(state: ArmState) -> type[BaseHTTPRequestHandler]:
    class Handler(_ListAllHandler):
        shared = state

    return Handler


class _ListAllHandler(BaseHTTPRequestHandler):
    """Answers GET List All; everything else is a 404 in ARM's error shape."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's
    # delayed ACK (about 40 ms a request here, 0.9 ms without it).
    disable_nagle_algorithm = True
    # Idle keep-alive connections end on their own, so stopping the server never waits on them.
    timeout = 10
    shared: ArmState

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self._record(parts.path, query) > self.shared.faults.stop_after and self.shared.faults.endless:
            self._send_error(500, "InternalServerError", "The fake's endless listing was stopped.")
            return
        view = _INSTANCE_VIEW_PATH.match(parts.path)
        if view and query.get("api-version"):
            self._serve_instance_view(view["sub"], view["rg"], view["name"])
            return
        instance_view = _INSTANCE_INSTANCE_VIEW_PATH.match(parts.path)
        if instance_view and query.get("api-version"):
            found = self._instances_of(instance_view["rg"], instance_view["ss"])(
                instance_view["sub"], reload=True
            )
            instance = next(
                (
                    i
                    for i in found or []
                    if isinstance(i, dict) and i.get("instanceId") == instance_view["id"]
                ),
                None,
            )
            if instance is None:
                self._send_error(404, "ResourceNotFound", "The Resource was not found.")
            else:
                self._send_json(200, instance_view_body(instance))
        attached = _ATTACHED_PATH.match(parts.path)
        if attached:
            kind, version = _ATTACHED_API_VERSIONS[attached["provider"].lower()]
            if query.get("api-version") != version:
                self._send_error(400, "InvalidApiVersionParameter", "The api-version is not supported.")
            else:
                self._serve_listing(attached["sub"], query, self._attached_of(kind))
            return
        activity = _ACTIVITY_LOG_PATH.match(parts.path)
        if activity:
            self._serve_activity_log(activity["sub"], query)
            return
        match = _LIST_ALL_PATH.match(parts.path)
        scale_sets = _SCALE_SETS_PATH.match(parts.path)
        instances = _INSTANCES_PATH.match(parts.path)
        if not (match or scale_sets or instances):
            self._send_error(404, "InvalidResourceType", "The resource type could not be found.")
            return
        if not query.get("api-version"):
            self._send_error(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
            return
        if match:
            # Virtual Machines - List All: status only, or the models (the inventory listing).
            view = status_view if query.get("statusOnly", "").lower() == "true" else model_view
            self._serve_listing(match["sub"], query, self._vms, view)
        elif scale_sets:
            self._serve_listing(scale_sets["sub"], query, self._scale_sets)
        elif instances:
            self._serve_listing(instances["sub"], query, self._instances_of(instances["rg"], instances["ss"]))

    def do_POST(self) -> None:
        """Resource Graph's query endpoint (``resource_graph``) and Cost Management's
        (``cost_management``); any other POST is a 404."""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self._record(parts.path, query)
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cost_query = _COST_QUERY_PATH.match(parts.path)
        if cost_query:
            self._serve_cost_query(cost_query["sub"], parts.path, query, payload)
            return
        if parts.path.rstrip("/").lower() != "/providers/microsoft.resourcegraph/resources":
            self._send_error(404, "InvalidResourceType", "The resource type could not be found.")
            return
        request = self._query_body(query, payload, resource_graph.API_VERSION)
        if request is None:
            return
        graph = self.shared.graph
        with graph.lock:
            graph.received.append(request)
        allowed, remaining, resets_in = graph.take()
        headers = resource_graph.quota_headers(remaining, resets_in)
        if not allowed:
            if graph.retry_after_on_429:
                headers["Retry-After"] = str(max(0, int(resets_in + 0.999)))
            self._send_error(429, "RateLimiting", "Too many requests; retry later.", headers)
            return
        if self._inject_fault(0):
            return
        subs = [str(sub) for sub in request.get("subscriptions") or []]
        vms = [vm for sub in subs for vm in self._vms(sub, reload=True) or []]
        entries = [entry for sub in subs for entry in self._scale_set_entries(sub, reload=True) or []]
        instances = [instance for entry in entries for instance in entry.get("instances", [])]
        status, body = resource_graph.answer(request, vms, instances, graph)
        if graph.subscription_limit_hit and request.get("managementGroups"):
            headers["x-ms-tenant-subscription-limit-hit"] = "true"
        self._send_json(status, body, headers)

    def _query_body(self, query: dict[str, str], payload: bytes, api_version: str) -> Any:
        """A query's JSON body, or ``None`` once a 400 has been sent (wrong api-version, not JSON)."""
        if query.get("api-version") != api_version:
            self._send_error(400, "InvalidApiVersionParameter", "The api-version is not supported.")
            return None
        try:
            return json.loads(payload)
        except ValueError:
            self._send_error(400, "BadRequest", "The request body is not JSON.")
            return None

    def _serve_cost_query(self, sub: str, path: str, query: dict[str, str], payload: bytes) -> None:
        request = self._query_body(query, payload, cost_management.API_VERSION)
        if request is None:
            return
        token = query.get("$skiptoken", "0")
        if not token.isdigit():
            self._send_error(400, "BadRequest", "The skip token is not valid.")
            return
        offset = int(token)
        costs = self.shared.costs
        with costs.lock:
            costs.received.append(request)
        throttled = costs.take_throttle()
        if throttled is not None:
            self._send_error(429, "429", "Too many requests. Please retry.", throttled)
            return
        base = f"http://{self.headers.get('Host', '127.0.0.1')}{path}"
        status, body = cost_management.answer(base, sub, request, offset, costs)
        self._send_json(status, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``FakeArm.requests`` instead of a stderr log."""

    def _record(self, path: str, query: dict[str, str]) -> int:
        """Record the request; the number of requests received so far."""
        request = RecordedRequest(self.command, path, query, {k.lower(): v for k, v in self.headers.items()})
        with self.shared.lock:
            self.shared.requests.append(request)
            count, hook = len(self.shared.requests), self.shared.on_request
        if hook is not None:
            hook(request)
        return count

    def _serve_listing(
        self,
        subscription_id: str,
        query: dict[str, str],
        items_of: Callable[..., list[dict[str, Any]] | None],
        view: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    ) -> None:
        try:
            offset = _decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        except ValueError:
            self._send_error(400, "InvalidSkipToken", "The skip token is not valid.")
            return
        page = offset // self.shared.page_size + 1
        if self._inject_fault(page):
            return
        vms = items_of(subscription_id, reload=offset == 0)
        if vms is None:
            self._send_error(
                404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
            )
            return
        if vms is _NOT_FOUND:
            self._send_error(404, "ResourceNotFound", "The Resource was not found.")
            return
        end = offset + self.shared.page_size
        body: dict[str, Any] = {"value": [view(vm) for vm in vms[offset:end]]}
        if end < len(vms) or self.shared.faults.endless:
            body["nextLink"] = self._next_link(query, end)
        self._send_json(200, body)

    def _serve_instance_view(self, subscription_id: str, group: str, name: str) -> None:
        with self.shared.lock:
            faults = self.shared.faults
            self.shared.served += 1
            throttled = self.shared.served <= faults.throttle_first
        if throttled:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            self._send_error(429, "TooManyRequests", "Too many requests; retry later.", headers)
            return
        if faults.fail_instance_view is not None:
            self._send_fault(faults.fail_instance_view, faults.fail_code)
            return
        suffix = f"/resourcegroups/{group}/providers/microsoft.compute/virtualmachines/{name}".lower()
        vm = next(
            (vm for vm in self._vms(subscription_id, reload=True) or [] if vm["id"].lower().endswith(suffix)),
            None,
        )
        if vm is None:
            self._send_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{group}' "
                "was not found.",
            )
            return
        self._send_json(200, instance_view_body(vm))

    def _serve_activity_log(self, subscription_id: str, query: dict[str, str]) -> None:
        """Management events filtered as the real API filters them, newest first, ``$select`` applied."""
        if query.get("api-version") != "2015-04-01":
            self._send_error(400, "InvalidApiVersionParameter", "The api-version is not supported.")
            return
        match = _ACTIVITY_FILTER.match(query.get("$filter", ""))
        if not match:
            self._send_error(400, "BadRequest", "The $filter is not one the Activity Log accepts.")
            return
        try:
            offset = _decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        except ValueError:
            self._send_error(400, "InvalidSkipToken", "The skip token is not valid.")
            return
        if self._inject_fault(offset // self.shared.page_size + 1):
            return
        with self.shared.lock:
            if offset == 0 and self.shared.activity_file is not None:
                self.shared.activity = load_listing_file(self.shared.activity_file)
            records = list(self.shared.activity.get(subscription_id.lower(), []))
        start, end, uri = match["start"], match["end"], (match["uri"] or "").replace("''", "'")
        unfiltered = self.shared.faults.unfiltered_times
        chosen = [
            record for record in records
            if (unfiltered or start <= record["eventTimestamp"] <= end)
            and (not uri or record["resourceId"].lower() == uri.lower())
        ]  # fmt: skip
        chosen.sort(key=lambda record: record["eventTimestamp"], reverse=True)
        fields = [name.strip() for name in query["$select"].split(",")] if "$select" in query else None
        page = chosen[offset : offset + self.shared.page_size]
        body: dict[str, Any] = {
            "value": [{k: v for k, v in r.items() if fields is None or k in fields} for r in page]
        }
        if offset + self.shared.page_size < len(chosen) or self.shared.faults.endless:
            body["nextLink"] = self._next_link(query, offset + self.shared.page_size)
        self._send_json(200, body)

    def _inject_fault(self, page: int) -> bool:
        """Answer with the configured fault for this request, if any; True when one was sent."""
        with self.shared.lock:
            faults = self.shared.faults
            self.shared.served += 1
            throttled = self.shared.served <= faults.throttle_first
        if throttled:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            self._send_error(429, "TooManyRequests", "Too many requests; retry later.", headers)
        elif page == faults.drop_page:
            self.close_connection = True
        elif page == faults.fail_page:
            self._send_fault(faults.fail_status, faults.fail_code)
        elif page == faults.garbage_page:
            self._send_bytes(200, b"<html>upstream proxy error</html>", "text/html")
        else:
            return False
        return True

    def _vms(self, subscription_id: str, *, reload: bool) -> list[dict[str, Any]] | None:
        with self.shared.lock:
            if reload and self.shared.listing_file is not None:
                self.shared.listings = load_listing_file(self.shared.listing_file)
            vms = self.shared.listings.get(subscription_id.lower())
            return None if vms is None else list(vms)

    def _attached_of(self, kind: str) -> Callable[..., list[dict[str, Any]] | None]:
        def entries(subscription_id: str, *, reload: bool) -> list[dict[str, Any]] | None:
            sub = subscription_id.lower()
            with self.shared.lock:
                if reload and self.shared.attached_file is not None:
                    self.shared.attached = load_attached_file(self.shared.attached_file)
                if sub not in self.shared.attached and sub not in self.shared.listings:
                    return None
                return list(self.shared.attached.get(sub, {}).get(kind, []))

        return entries

    def _scale_set_entries(self, subscription_id: str, *, reload: bool) -> list[dict[str, Any]] | None:
        with self.shared.lock:
            if reload and self.shared.scale_set_file is not None:
                self.shared.scale_sets = load_listing_file(self.shared.scale_set_file)
            entries = self.shared.scale_sets.get(subscription_id.lower())
            if entries is None and subscription_id.lower() not in self.shared.listings:
                return None
            return list(entries or [])

    def _scale_sets(self, subscription_id: str, *, reload: bool) -> list[dict[str, Any]] | None:
        entries = self._scale_set_entries(subscription_id, reload=reload)
        return None if entries is None else [entry["scaleSet"] for entry in entries]

    def _instances_of(self, group: str, name: str) -> Callable[..., list[dict[str, Any]] | None]:
        def instances(subscription_id: str, *, reload: bool) -> list[dict[str, Any]] | None:
            entries = self._scale_set_entries(subscription_id, reload=reload)
            if entries is None:
                return None
            provider = "providers/microsoft.compute/virtualmachinescalesets"
            wanted = f"/resourcegroups/{group.lower()}/{provider}/{name.lower()}"
            for entry in entries:
                if entry["scaleSet"]["id"].lower().endswith(wanted):
                    return list(entry.get("instances", []))
            return _NOT_FOUND

        return instances

    def _next_link(self, query: dict[str, str], offset: int) -> str:
        # Built from the Host the client used, as ARM does, so the link stays on the client's endpoint.
        host = self.headers.get("Host") or f"{LOOPBACK}:{self.server.server_address[1]}"
        params = {key: value for key, value in query.items() if key != "$skiptoken"}
        params["$skiptoken"] = _encode_skiptoken(offset)
        return f"http://{host}{urlsplit(self.path).path}?{urlencode(params, safe='$')}"

    def _send_fault(self, status: int, code: str | None) -> None:
        if code is None:
            self._send_bytes(status, b"", "application/json; charset=utf-8")
        else:
            self._send_error(status, code, f"An injected {code} error.")

    def _send_error(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}}, headers)

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    """The offset inside an opaque skip token; ``ValueError`` when it is not one of ours."""
    padded = token + "=" * (-len(token) % 4)
    try:
        offset = json.loads(base64.urlsafe_b64decode(padded))["o"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError("bad skip token") from err
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("bad skip token")
    return offset
