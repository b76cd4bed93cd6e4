"""The Functions host, stood in for over HTTP: each HTTP function of ``function_app.app`` on its route,
and the host's Event Grid webhook, on 127.0.0.1. ``make serve`` runs it, and so does the browser test.

Nothing is routed by hand: each HTTP function's route template, methods and user function come from
``app.get_functions()``, and each request reaches it as a real ``func.HttpRequest``. Events POSTed to the
webhook (``/runtime/webhooks/EventGrid?functionName=on_vm_event``) are decoded by the worker's own
converter (``devtools.worker``). Not the host: function keys are not checked, Event Grid deliveries are
not retried, there is no scaling, timeout or logging pipeline.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import azure.functions as func
from azure.functions.decorators.function_app import Function

from devtools.worker import event_grid_argument

HOST = "127.0.0.1"
ROUTE_PREFIX = "api"  # host.json sets no extensions.http.routePrefix, so the host's default applies
EVENT_GRID_WEBHOOK = "/runtime/webhooks/eventgrid"
MAX_BODY = 10 * 1024 * 1024
_PARAMETER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Route:
    """One HTTP function: its route template split into segments, its methods and its user function."""

    name: str
    template: str
    segments: tuple[str, ...]
    methods: frozenset[str]
    function: Callable[[func.HttpRequest], func.HttpResponse]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route values for the path ``parts`` (after ``/api``), or None. Literals match in any casing."""
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        for segment, part in zip(self.segments, parts, strict=True):
            parameter = _PARAMETER.match(segment)
            if parameter:
                if not part:
                    return None
                values[parameter.group(1)] = unquote(part)
            elif segment.lower() != unquote(part).lower():
                return None
        return values

    @property
    def literals(self) -> int:
        return sum(not _PARAMETER.match(segment) for segment in self.segments)


@dataclass(frozen=True)
class QueueFunction:
    """One queue-triggered function: its name, its binding's queue name and connection, the function."""

    name: str
    queue_name: str
    connection: str
    function: Callable[[Any], None]


@dataclass(frozen=True)
class Functions:
    """What the stand-in serves: HTTP routes (most literal first), Event Grid functions by name, and the
    queue-triggered functions it polls for."""

    routes: tuple[Route, ...]
    event_grid: Mapping[str, Callable[[Any], None]]
    queues: tuple[QueueFunction, ...] = ()


def index(functions: Iterable[Function]) -> Functions:
    """What to serve of ``app.get_functions()`` (which may be called only once per app, so the caller
    calls it)."""
    routes: list[Route] = []
    event_grid: dict[str, Callable[[Any], None]] = {}
    queues: list[QueueFunction] = []
    for function in functions:
        trigger = function.get_trigger()
        if trigger.type == "httpTrigger":
            template = (trigger.route or function.get_function_name()).strip("/")
            methods = trigger.methods or ["GET", "POST"]  # the host's default when none is declared
            routes.append(
                Route(
                    name=function.get_function_name(),
                    template=template,
                    segments=tuple(template.split("/")),
                    methods=frozenset(str(getattr(m, "value", m)).upper() for m in methods),
                    function=function.get_user_function(),
                )
            )
        elif trigger.type == "eventGridTrigger":
            event_grid[function.get_function_name()] = function.get_user_function()
        elif trigger.type == "queueTrigger":
            queues.append(
                QueueFunction(
                    function.get_function_name(),
                    trigger.queue_name,
                    trigger.connection or "AzureWebJobsStorage",
                    function.get_user_function(),
                )
            )
    routes.sort(key=lambda route: route.literals, reverse=True)
    return Functions(tuple(routes), event_grid, tuple(queues))


def deliver_events(function: Callable[[Any], None], events: Iterable[Any]) -> int:
    """Hand each event to ``function`` exactly as the Python worker builds the Event Grid argument."""
    count = 0
    for event in events:
        function(event_grid_argument(event))
        count += 1
    return count


def make_server(functions: Functions, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0: a free port) that dispatches to ``functions``."""

    class Handler(_Handler):
        served = functions

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    served: Functions
    server_version = "vm-ledger-dev-host"

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_OPTIONS(self) -> None:  # noqa: N802
        # CloudEvents webhook validation (abuse protection): allow the origin that asks.
        if urlsplit(self.path).path.lower().rstrip("/") == EVENT_GRID_WEBHOOK:
            origin = self.headers.get("WebHook-Request-Origin", "*")
            self._send(200, b"", "text/plain", [("WebHook-Allowed-Origin", origin), ("Allow", "POST")])
            return
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        params = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = self._body()
        except ValueError as err:
            self._error(413, "RequestTooLarge", str(err))
            return
        path = parts.path.rstrip("/") or "/"
        if path.lower() == EVENT_GRID_WEBHOOK:
            self._event_grid(params, body)
            return
        segments = path.strip("/").split("/")
        if segments[0].lower() != ROUTE_PREFIX:
            self._error(404, "NotFound", f"no function serves {parts.path}")
            return
        allowed: set[str] = set()
        for route in self.served.routes:
            values = route.match(segments[1:])
            if values is None:
                continue
            if self.command not in route.methods:
                allowed |= route.methods
                continue
            self._call(route, values, params, body)
            return
        if allowed:
            self._error(405, "MethodNotAllowed", f"{self.command} is not allowed here",
                        [("Allow", ", ".join(sorted(allowed)))])  # fmt: skip
        else:
            self._error(404, "NotFound", f"no function serves {parts.path}")

    def _call(self, route: Route, values: dict[str, str], params: dict[str, str], body: bytes) -> None:
        url = f"http://{self.headers.get('Host') or HOST}{self.path}"
        request = func.HttpRequest(
            self.command,
            url,
            headers=dict(self.headers.items()),
            params=params,
            route_params=values,
            body=body,
        )
        try:
            response = route.function(request)
        except Exception:  # the host answers 500 too; locally the trace is worth seeing in the console
            traceback.print_exc()
            self._error(500, "FunctionFailed", f"{route.name} raised; see the server's console")
            return
        headers = [(name, value) for name, value in response.headers.items()]
        self._send(response.status_code, response.get_body(), response.mimetype, headers, response.charset)

    def _event_grid(self, params: dict[str, str], body: bytes) -> None:
        if self.command != "POST":
            self._error(405, "MethodNotAllowed", "the Event Grid webhook takes POST", [("Allow", "POST")])
            return
        name = params.get("functionName", "")
        function = self.served.event_grid.get(name)
        if function is None:
            known = ", ".join(sorted(self.served.event_grid)) or "none"
            self._error(404, "FunctionNotFound", f"functionName must name an Event Grid function ({known})")
            return
        try:
            payload = json.loads(body or b"null")
        except ValueError as err:
            self._error(400, "InvalidJson", f"the body is not JSON: {err}")
            return
        events = payload if isinstance(payload, list) else [payload]
        if not events or not all(isinstance(event, dict) for event in events):
            self._error(400, "InvalidEvents", "the body must be an event object or a JSON array of them")
            return
        validation = _validation_code(events, self.headers.get("aeg-event-type", ""))
        if validation is not None:
            self._json(200, {"validationResponse": validation})
            return
        delivered = 0
        try:
            for event in events:
                delivered += deliver_events(function, [event])
        except Exception as err:  # 500 so that a client retries, as Event Grid does
            traceback.print_exc()
            self._json(500, {"error": {"code": "FunctionFailed", "message": f"{name} raised {err!r}"},
                             "delivered": delivered})  # fmt: skip
            return
        self._json(200, {"delivered": delivered})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"the body may be at most {MAX_BODY} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _error(
        self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self._json(status, {"error": {"code": code, "message": message}}, headers)

    def _json(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers or [], "utf-8")

    def _send(
        self,
        status: int,
        body: bytes,
        mimetype: str | None,
        headers: list[tuple[str, str]],
        charset: str | None = None,
    ) -> None:
        self.send_response(status)
        if not any(name.lower() == "content-type" for name, _ in headers):
            content_type = mimetype or "text/plain"
            self.send_header(
                "Content-Type", f"{content_type}; charset={charset}" if charset else content_type
            )
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _validation_code(events: list[dict[str, Any]], event_type_header: str) -> str | None:
    """The code of an Event Grid subscription validation event, if that is what was delivered."""
    first = events[0]
    kind = first.get("eventType") or first.get("type")
    if (
        kind == "Microsoft.EventGrid.SubscriptionValidationEvent"
        or event_type_header == "SubscriptionValidation"
    ):
        data = first.get("data") or {}
        return str(data.get("validationCode", ""))
    return None
