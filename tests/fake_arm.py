"""A small fake Azure Resource Manager on loopback: "Virtual Machines - List All" (``statusOnly=true``
answers each VM's instance view, the status listing reconcile reads; without it, each VM's model: size,
OS disk, priority, license, tags, the inventory listing), "Virtual Machines - Instance View", the scale
set listings ("Virtual Machine Scale Sets - List All", "Virtual Machine Scale Set VMs - List" with
``$expand=instanceView``) and the Activity Log's management events (``eventtypes/management/values``),
shaped like the published examples in ``tests/data/published/``.

Tests and the demo use it instead of management.azure.com: it answers with responses shaped like real
ones (``value`` + ``nextLink`` with an opaque ``$skiptoken``), can inject the faults a reconcile must
survive (throttling with ``Retry-After``, a page that always fails, a dropped connection, a body that is
not JSON), and records every request so tests can check what the client sent. An instance view is the
published example body (``tests/data/published/instance_view/VirtualMachine_Get_InstanceView.json``)
with the listed VM's ``statuses``: one source of truth for both APIs.

As a script (for the demo), it serves a JSON listing file ``{"<subscriptionId>": [vm, ...]}``, re-read
at the start of every listing so the demo can change VM states between two reconciles::

    python -m tests.fake_arm --port 0 --listing listing.json [--scale-sets scale-sets.json]

``scale-sets.json`` is ``{"<subscriptionId>": [{"scaleSet": {...}, "instances": [...]}, ...]}`` (see
``make_scale_set`` and ``make_instance``), re-read at the start of every scale set listing too.

It prints the URL it serves on as its first line and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import copy
import functools
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.loopback import LOOPBACK, LoopbackServer

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
_PROVISIONING_TIME = "2024-10-01T08:00:00.1234567+00:00"
_PUBLISHED_INSTANCE_VIEW = (
    Path(__file__).resolve().parent / "data/published/instance_view/VirtualMachine_Get_InstanceView.json"
)
_ACTIVITY_LOG_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Insights/eventtypes/management/values/?$",
    re.IGNORECASE,
)
# The only shape of $filter the Activity Log accepts for one resource (SOURCES.md of activity_log/).
_ACTIVITY_FILTER = re.compile(
    r"^eventTimestamp ge '(?P<start>[^']+)' and eventTimestamp le '(?P<end>[^']+)'"
    r"(?: and resourceUri eq '(?P<uri>(?:[^']|'')+)')?$"
)
PUBLISHED_ACTIVITY_LOG = (
    Path(__file__).resolve().parent / "data" / "published" / "activity_log" / "GetActivityLogsFiltered.json"
)

Listings = Mapping[str, Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; header names are lower-cased for easy assertions."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Faults:
    """Failures to inject. Pages count from 1 within one listing; requests count across the server.

    ``throttle_first`` requests answer 429 (with ``Retry-After: retry_after`` unless that is ``None``);
    ``fail_page`` always answers ``fail_status``; ``drop_page`` closes the connection without an answer;
    ``garbage_page`` answers 200 with a body that is not JSON. ``fail_instance_view`` is the status every
    instance view request answers (``None``: served normally). Both failures carry ARM's error body with
    ``fail_code`` as ``error.code`` (``None``: an empty body, as a gateway may answer). ``endless``: every
    page of every listing links a next page with a new skip token, forever (a service caught in a paging
    loop); then ``stop_after`` requests end it with 500s, so that a client that never stops fails instead
    of hanging the test. ``unfiltered_times``: the Activity Log answers records outside its ``$filter``'s
    time range.
    """

    throttle_first: int = 0
    retry_after: str | None = "0"
    fail_page: int | None = None
    fail_status: int = 500
    drop_page: int | None = None
    garbage_page: int | None = None
    fail_instance_view: int | None = None
    fail_code: str | None = "InternalServerError"
    endless: bool = False
    stop_after: int = 20_000
    unfiltered_times: bool = False


@dataclass
class _State:
    listings: dict[str, list[dict[str, Any]]]
    page_size: int
    faults: Faults
    listing_file: Path | None
    scale_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scale_set_file: Path | None = None
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    activity_file: Path | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_request: Callable[[RecordedRequest], None] | None = None


class FakeArm(LoopbackServer):
    """The fake server, bound to 127.0.0.1 on a free port (or ``port``) and run in a background thread.

    Use it as a context manager. ``listings`` maps subscription ids (any case) to recorded-shape VM
    objects (see ``make_vm``); ``listing_file`` instead names a JSON file of that shape, re-read at the
    start of each listing. ``faults`` may also be replaced while the server runs.
    """

    def __init__(
        self,
        listings: Listings | None = None,
        *,
        page_size: int = 100,
        faults: Faults | None = None,
        listing_file: Path | None = None,
        port: int = 0,
        scale_sets: Listings | None = None,
        scale_set_file: Path | None = None,
        activity_log: Listings | None = None,
        activity_log_file: Path | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._state = _State(
            listings=_normalized(listings or {}),
            page_size=page_size,
            faults=faults or Faults(),
            listing_file=listing_file,
            scale_sets=_normalized(scale_sets or {}),
            scale_set_file=scale_set_file,
        )
        if listing_file is not None:
            self._state.listings = load_listing_file(listing_file)
        if scale_set_file is not None:
            self._state.scale_sets = load_listing_file(scale_set_file)
        self._state.activity = _normalized(activity_log or {})
        self._state.activity_file = activity_log_file
        if activity_log_file is not None:
            self._state.activity = load_listing_file(activity_log_file)
        super().__init__(_handler_for(self._state), port, name="fake-arm")

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self._state.lock:
            self._state.faults = value
            self._state.served = 0

    def on_request(self, hook: Callable[[RecordedRequest], None] | None) -> None:
        """Call ``hook`` with each request as it arrives, before it is answered (a test starts a storage
        outage when a given listing begins, say)."""
        with self._state.lock:
            self._state.on_request = hook

    def set_vms(self, subscription_id: str, vms: Sequence[Mapping[str, Any]]) -> None:
        """Replace the VMs listed for a subscription (e.g. a VM shut down from inside its guest)."""
        with self._state.lock:
            self._state.listings[subscription_id.lower()] = [dict(vm) for vm in vms]

    def set_scale_sets(self, subscription_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Replace a subscription's scale sets: ``{"scaleSet": make_scale_set(...), "instances": [...]}``."""
        with self._state.lock:
            self._state.scale_sets[subscription_id.lower()] = [dict(entry) for entry in entries]

    def set_activity_log(self, subscription_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace the Activity Log records served for a subscription."""
        with self._state.lock:
            self._state.activity[subscription_id.lower()] = [dict(record) for record in records]


def make_vm(
    subscription_id: str,
    resource_group: str,
    name: str,
    *,
    power: str | None = "running",
    provisioning: str = "succeeded",
    hibernated: bool = False,
    location: str = "westeurope",
    vm_size: str | None = None,
    os_type: str = "Linux",
    priority: str | None = None,
    license_type: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A VM object shaped like one entry of a real statusOnly List All page.

    ``power=None`` leaves out the PowerState status, as ARM does "due to intermittent issues". With
    ``vm_size`` it also carries the model fields the listing without ``statusOnly`` returns.
    """
    statuses = [_provisioning_status(provisioning)]
    if power is not None:
        statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
    if hibernated:
        statuses.append(
            {"code": "HibernationState/Hibernated", "level": "Info", "displayStatus": "VM hibernated"}
        )
    vm: dict[str, Any] = {
        "name": name,
        "id": (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{name}"
        ),
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
        "properties": {"instanceView": {"statuses": statuses}},
    }
    if vm_size is not None:
        vm["tags"] = dict(tags or {})
        model: dict[str, Any] = {
            "hardwareProfile": {"vmSize": vm_size},
            "storageProfile": {"osDisk": {"osType": os_type, "createOption": "FromImage"}},
            "provisioningState": provisioning.split("/", 1)[0].capitalize(),
        }
        if priority is not None:
            model["priority"] = priority
        if license_type is not None:
            model["licenseType"] = license_type
        vm["properties"].update(model)
    return vm


_MODEL_FIELDS = ("hardwareProfile", "storageProfile", "provisioningState", "priority", "licenseType")


def status_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What ``statusOnly=true`` returns of a VM: its instance view (and scale set), no model, no tags."""
    view = {key: vm[key] for key in ("name", "id", "type", "location") if key in vm}
    properties = vm.get("properties") or {}
    view["properties"] = {k: v for k, v in properties.items() if k not in _MODEL_FIELDS}
    return view


def model_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What List All without ``statusOnly`` returns of a VM: its model, no instance view."""
    view = dict(vm)
    view["properties"] = {k: v for k, v in (vm.get("properties") or {}).items() if k != "instanceView"}
    return view


def instance_view_body(vm: Mapping[str, Any]) -> dict[str, Any]:
    """The published instance view example with ``vm``'s name and top-level statuses."""
    published = json.loads(_PUBLISHED_INSTANCE_VIEW.read_text(encoding="utf-8"))["responses"]["200"]["body"]
    statuses = vm.get("properties", {}).get("instanceView", {}).get("statuses", [])
    return {**published, "computerName": vm["name"], "statuses": [dict(status) for status in statuses]}


def make_scale_set(
    subscription_id: str,
    resource_group: str,
    name: str,
    *,
    capacity: int = 2,
    size: str = "Standard_D2ls_v5",
    mode: str | None = "Uniform",
    location: str = "westeurope",
    os_type: str = "Linux",
    priority: str = "Regular",
    license_type: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A scale set shaped like one entry of ``VirtualMachineScaleSet_ListAll_MaximumSet_Gen.json``, with
    real values instead of its generated filler; ``mode=None`` leaves ``orchestrationMode`` out, as in
    the MinimumSet example."""
    profile: dict[str, Any] = {
        "storageProfile": {"osDisk": {"osType": os_type, "createOption": "FromImage"}},
        "priority": priority,
    }
    if license_type is not None:
        profile["licenseType"] = license_type
    properties: dict[str, Any] = {"provisioningState": "Succeeded", "virtualMachineProfile": profile}
    if mode is not None:
        properties["orchestrationMode"] = mode
    return {
        "name": name,
        "id": (
            f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
        ),
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": location,
        "tags": dict(tags or {}),
        "sku": {"name": size, "tier": "Standard", "capacity": capacity},
        "properties": properties,
    }


def make_instance(
    scale_set: Mapping[str, Any],
    instance_id: str,
    *,
    power: str | None = "running",
    provisioning: str = "succeeded",
    hibernated: bool = False,
) -> dict[str, Any]:
    """A Uniform instance shaped like ``VirtualMachineScaleSetVM_List_WithResiliencyView.json`` (name
    ``{scaleSet}_{instanceId}``, ``sku``, ``hardwareProfile``, ``osType``) with the
    ``properties.instanceView.statuses`` that ``$expand=instanceView`` adds. The published list example
    that has an instance view carries placeholder codes, so the codes here are the documented
    ``ProvisioningState/...`` and ``PowerState/...`` ones, as in the published GetInstanceView example."""
    statuses = make_vm("", "", "", power=power, provisioning=provisioning, hibernated=hibernated)
    sku = scale_set.get("sku", {})
    os_type = scale_set["properties"]["virtualMachineProfile"]["storageProfile"]["osDisk"]["osType"]
    return {
        "name": f"{scale_set['name']}_{instance_id}",
        "id": f"{scale_set['id']}/virtualMachines/{instance_id}",
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": scale_set.get("location"),
        "instanceId": instance_id,
        "sku": {"name": sku.get("name"), "tier": sku.get("tier")},
        "properties": {
            "latestModelApplied": True,
            "provisioningState": "Succeeded",
            "hardwareProfile": {"vmSize": sku.get("name")},
            "storageProfile": {"osDisk": {"osType": os_type}},
            "instanceView": statuses["properties"]["instanceView"],
        },
    }


def activity_record(
    resource_id: str,
    operation: str,
    status: str,
    when: datetime,
    *,
    correlation_id: str,
    operation_id: str,
    event_data_id: str,
    uri_query: str = "",
) -> dict[str, Any]:
    """One Activity Log record in the published shape (azure-rest-api-specs GetActivityLogsFiltered.json):
    the example's record, caller and claims included, pointed at ``resource_id`` and ``operation``."""
    record = copy.deepcopy(_published_record())
    subscription = resource_id.split("/")[2]
    group = resource_id.split("/")[4]
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    action = operation.rsplit("/", 2)
    method = "POST" if action[-1].lower() == "action" else ("DELETE" if action[-1] == "delete" else "PUT")
    path = f"{resource_id}/{action[-2]}" if method == "POST" else resource_id
    record.update(
        authorization={**record["authorization"], "action": operation, "scope": resource_id},
        correlationId=correlation_id,
        eventDataId=event_data_id,
        eventName={"value": "BeginRequest" if status == "Started" else "EndRequest",
                   "localizedValue": "Begin request" if status == "Started" else "End request"},
        httpRequest={**record["httpRequest"], "method": method,
                     "uri": f"https://management.azure.com{path}?api-version=2024-07-01{uri_query}"},
        id=f"{resource_id}/events/{event_data_id}/ticks/{int(when.timestamp() * 10**7) + 621355968000000000}",
        resourceGroupName=group,
        resourceProviderName={"value": "Microsoft.Compute", "localizedValue": "Microsoft.Compute"},
        operationId=operation_id,
        operationName={"value": operation, "localizedValue": operation},
        status={"value": status, "localizedValue": status},
        subStatus={"value": {"Started": "", "Accepted": "Accepted"}.get(status, "OK"), "localizedValue": ""},
        eventTimestamp=stamp,
        submissionTimestamp=stamp,
        subscriptionId=subscription,
        resourceId=resource_id,
    )  # fmt: skip
    return record


def operation_records(
    resource_id: str, operation: str, ended: datetime, *, seed: str, status: str = "Succeeded",
    took: timedelta = timedelta(seconds=40), uri_query: str = "", correlation_id: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One operation as the Activity Log shows it: ``Started``, ``Accepted`` (actions), then the final
    record at ``ended``; one ``operationId`` and ``correlationId``, an ``eventDataId`` each."""
    ids = {name: str(uuid.uuid5(_ACTIVITY_NAMESPACE, f"{seed}/{name}")) for name in ("c", "o", "1", "2", "3")}
    common = {"correlation_id": correlation_id or ids["c"], "operation_id": ids["o"], "uri_query": uri_query}
    started = ended - took
    records = [activity_record(resource_id, operation, "Started", started, event_data_id=ids["1"], **common)]
    if operation.lower().endswith("/action"):
        accepted = started + timedelta(seconds=1)
        records.append(
            activity_record(resource_id, operation, "Accepted", accepted, event_data_id=ids["2"], **common)
        )
    records.append(activity_record(resource_id, operation, status, ended, event_data_id=ids["3"], **common))
    return records


_ACTIVITY_NAMESPACE = uuid.UUID("6a0c1e3f-2b4d-4f6a-8c9e-0b1d2f3a4c5e")


@functools.cache
def _published_record() -> dict[str, Any]:
    body = json.loads(PUBLISHED_ACTIVITY_LOG.read_text(encoding="utf-8"))
    record: dict[str, Any] = body["responses"]["200"]["body"]["value"][0]
    return record


def load_listing_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read ``{"<subscriptionId>": [item, ...]}``; raise ``ValueError`` if it has another shape."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(vms, list) for vms in data.values()):
        raise ValueError(f"{path}: expected an object mapping subscription ids to arrays of VMs")
    return _normalized(data)


def _provisioning_status(provisioning: str) -> dict[str, Any]:
    state = provisioning.split("/", 1)[0]
    return {
        "code": f"ProvisioningState/{provisioning}",
        "level": "Error" if state.lower() == "failed" else "Info",
        "displayStatus": f"Provisioning {state.lower()}",
        "time": _PROVISIONING_TIME,
    }


def _normalized(listings: Listings) -> dict[str, list[dict[str, Any]]]:
    return {sub.lower(): [dict(vm) for vm in vms] for sub, vms in listings.items()}


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


# A scale set that does not exist: ARM answers 404 ResourceNotFound (a distinct list, compared by identity).
_NOT_FOUND: list[dict[str, Any]] = []


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
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
    shared: _State

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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_arm", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--listing", type=Path, required=True, help='JSON file {"<subscriptionId>": [vm, ...]}'
    )
    parser.add_argument(
        "--scale-sets",
        type=Path,
        help='JSON file {"<subscriptionId>": [{"scaleSet": ..., "instances": [...]}]}',
    )
    parser.add_argument("--page-size", type=int, default=100, help="VMs per page (default 100)")
    parser.add_argument(
        "--activity-log", type=Path, help='JSON file {"<subscriptionId>": [Activity Log record, ...]}'
    )
    parser.add_argument("--throttle-first", type=int, default=0, help="answer 429 to the first N requests")
    return parser.parse_args(argv)


def _wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT arrives."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    # A bounded wait keeps the main thread returning to the interpreter, where signal handlers run.
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a listing file until SIGTERM; print the URL first so the caller can read it."""
    args = _parse_args(argv)
    faults = Faults(throttle_first=args.throttle_first)
    with FakeArm(
        page_size=args.page_size,
        faults=faults,
        listing_file=args.listing,
        port=args.port,
        scale_set_file=args.scale_sets,
        activity_log_file=args.activity_log,
    ) as fake:
        print(fake.url, flush=True)
        _wait_for_stop_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
