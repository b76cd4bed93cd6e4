"""A small fake Azure Resource Manager that serves "Virtual Machines - List All" on loopback.

With ``statusOnly=true`` it answers each VM's instance view (the status listing reconcile reads);
without, each VM's model (size, OS disk, priority, license, tags: the inventory listing), shaped like the
published ``VirtualMachine_ListAll_MaximumSet_Gen.json`` (tests/data/published/vm_models).

Tests and the demo use it instead of management.azure.com: it answers with responses shaped like real
ones (``value`` + ``nextLink`` with an opaque ``$skiptoken``), can inject the faults a reconcile must
survive (throttling with ``Retry-After``, a page that always fails, a dropped connection, a body that is
not JSON), and records every request so tests can check what the client sent.

As a script (for the demo), it serves a JSON listing file ``{"<subscriptionId>": [vm, ...]}``, re-read
at the start of every listing so the demo can change VM states between two reconciles::

    python -m tests.fake_arm --port 0 --listing listing.json

It prints the URL it serves on as its first line and stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

LOOPBACK = "127.0.0.1"
_LIST_ALL_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/virtualMachines/?$", re.IGNORECASE
)
_PROVISIONING_TIME = "2024-10-01T08:00:00.1234567+00:00"

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
    ``garbage_page`` answers 200 with a body that is not JSON.
    """

    throttle_first: int = 0
    retry_after: str | None = "0"
    fail_page: int | None = None
    fail_status: int = 500
    drop_page: int | None = None
    garbage_page: int | None = None


@dataclass
class _State:
    listings: dict[str, list[dict[str, Any]]]
    page_size: int
    faults: Faults
    listing_file: Path | None
    requests: list[RecordedRequest] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeArm:
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
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._state = _State(
            listings=_normalized(listings or {}),
            page_size=page_size,
            faults=faults or Faults(),
            listing_file=listing_file,
        )
        if listing_file is not None:
            self._state.listings = load_listing_file(listing_file)
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler_for(self._state))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ARM endpoint to configure, e.g. ``http://127.0.0.1:53817``."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

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

    def set_vms(self, subscription_id: str, vms: Sequence[Mapping[str, Any]]) -> None:
        """Replace the VMs listed for a subscription (e.g. a VM shut down from inside its guest)."""
        with self._state.lock:
            self._state.listings[subscription_id.lower()] = [dict(vm) for vm in vms]

    def start(self) -> FakeArm:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-arm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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


def status_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What ``statusOnly=true`` returns of a VM: no model, no tags."""
    properties = vm.get("properties") or {}
    view = {key: vm[key] for key in ("name", "id", "type", "location") if key in vm}
    view["properties"] = {"instanceView": properties.get("instanceView", {})}
    return view


def model_view(vm: Mapping[str, Any]) -> dict[str, Any]:
    """What List All without ``statusOnly`` returns of a VM: its model, no instance view."""
    view = dict(vm)
    view["properties"] = {k: v for k, v in (vm.get("properties") or {}).items() if k != "instanceView"}
    return view


def load_listing_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read ``{"<subscriptionId>": [vm, ...]}``; raise ``ValueError`` if it has another shape."""
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


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(_ListAllHandler):
        shared = state

    return Handler


class _ListAllHandler(BaseHTTPRequestHandler):
    """Answers GET List All; everything else is a 404 in ARM's error shape."""

    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections end on their own, so stopping the server never waits on them.
    timeout = 10
    shared: _State

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self._record(parts.path, query)
        match = _LIST_ALL_PATH.match(parts.path)
        if not match:
            self._send_error(404, "InvalidResourceType", "The resource type could not be found.")
            return
        if not query.get("api-version"):
            self._send_error(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
            return
        self._serve_listing(match["sub"], query)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``FakeArm.requests`` instead of a stderr log."""

    def _record(self, path: str, query: dict[str, str]) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.shared.lock:
            self.shared.requests.append(RecordedRequest(self.command, path, query, headers))

    def _serve_listing(self, subscription_id: str, query: dict[str, str]) -> None:
        try:
            offset = _decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        except ValueError:
            self._send_error(400, "InvalidSkipToken", "The skip token is not valid.")
            return
        page = offset // self.shared.page_size + 1
        if self._inject_fault(page):
            return
        vms = self._vms(subscription_id, reload=offset == 0)
        if vms is None:
            self._send_error(
                404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
            )
            return
        end = offset + self.shared.page_size
        view = status_view if query.get("statusOnly", "").lower() == "true" else model_view
        body: dict[str, Any] = {"value": [view(vm) for vm in vms[offset:end]]}
        if end < len(vms):
            body["nextLink"] = self._next_link(query, end)
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
            self._send_error(faults.fail_status, "InternalServerError", "An internal error occurred.")
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

    def _next_link(self, query: dict[str, str], offset: int) -> str:
        # Built from the Host the client used, as ARM does, so the link stays on the client's endpoint.
        host = self.headers.get("Host") or f"{LOOPBACK}:{self.server.server_address[1]}"
        params = {key: value for key, value in query.items() if key != "$skiptoken"}
        params["$skiptoken"] = _encode_skiptoken(offset)
        return f"http://{host}{urlsplit(self.path).path}?{urlencode(params, safe='$')}"

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
    parser.add_argument("--page-size", type=int, default=100, help="VMs per page (default 100)")
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
    with FakeArm(page_size=args.page_size, faults=faults, listing_file=args.listing, port=args.port) as fake:
        print(fake.url, flush=True)
        _wait_for_stop_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
