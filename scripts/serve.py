"""`make serve`: the app's HTTP API and Event Grid trigger on 127.0.0.1, without Core Tools.

A development stand-in for the Functions host (``func start``), which cannot always be installed: it
starts the persistent Azurite of ``make demo`` (table 10002 and queue 10001, data in ``.azurite/``) or
reuses the one already there, then serves the functions that ``function_app.app`` declares. Nothing is
routed by hand: each HTTP function's route template, methods and user function come from
``app.get_functions()``, and each request reaches it as a real ``func.HttpRequest``. Events POSTed to the
host's Event Grid webhook (``/runtime/webhooks/EventGrid?functionName=on_vm_event``) are decoded by the
worker's own converter. Each queue-triggered function (``record_scale_set_event``, which records the
scale set events ``on_vm_event`` queues) runs on its queue in a background thread, with host.json's
polling, retries and poison queue (``scripts.queue_host``).

Not the host: function keys are not checked, Event Grid deliveries are not retried, there is no scaling,
timeout or logging pipeline, and the timer trigger does not run. Loopback only. Ctrl-C (or SIGTERM)
stops the server, the queue pollers and the Azurite it started, by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from scripts.azurite import PERSISTENT_LOCATION, STANDARD_TABLE_PORT, Azurite, PortBusyError
from scripts.queue_host import QueueTrigger, resolve_binding

HOST = "127.0.0.1"
DEFAULT_PORT = 7071  # the Functions host's local port, so test.http and the README's URLs just work
DEFAULT_TABLE = "vmledger"
DEFAULT_QUEUE = "vmledger-scale-sets"  # local.settings.sample.json's VM_LEDGER_QUEUE
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


def index(app: func.FunctionApp) -> Functions:
    """Read the app's functions once (``get_functions`` may be called once per app)."""
    routes: list[Route] = []
    event_grid: dict[str, Callable[[Any], None]] = {}
    queues: list[QueueFunction] = []
    for function in app.get_functions():
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


class QueuePollers:
    """The queue-triggered functions, each polling its queue in a daemon thread until ``stop``."""

    def __init__(self, functions: Functions, environ: Mapping[str, str] = os.environ) -> None:
        self._stop = threading.Event()
        self.running: list[tuple[QueueFunction, str]] = []
        self.not_polled: list[tuple[QueueFunction, str]] = []  # and why: the stand-in reads Azurite only
        self.threads: list[threading.Thread] = []
        for queue in functions.queues:
            try:
                name, connection_string = resolve_binding(queue.queue_name, queue.connection, environ)
            except ValueError as err:
                self.not_polled.append((queue, str(err)))
                continue
            trigger = QueueTrigger(queue.function, connection_string, name, log=_console)
            thread = threading.Thread(target=trigger.run, args=(self._stop,), name=queue.name, daemon=True)
            self.threads.append(thread)
            self.running.append((queue, name))

    def start(self) -> QueuePollers:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            if thread.ident is not None:  # started
                thread.join(timeout=30)


def _console(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def deliver_events(function: Callable[[Any], None], events: Iterable[Any]) -> int:
    """Hand each event to ``function`` exactly as the Python worker builds the Event Grid argument."""
    count = 0
    for event in events:
        function(
            EventGridEventInConverter.decode(
                data=meta.Datum(type="json", value=json.dumps(event)), trigger_metadata=None
            )
        )
        count += 1
    return count


def make_server(functions: Functions, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
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


def configure(azurite: Azurite, environ: MutableMapping[str, str] = os.environ) -> str:
    """Set the app settings local use needs, unless already set; say where the ledger is."""
    if not (environ.get("VM_LEDGER_STORAGE") or environ.get("VM_LEDGER_STORAGE__tableServiceUri")):
        environ["VM_LEDGER_STORAGE"] = azurite.storage_setting
        where = f"Azurite at {azurite.table_endpoint}"
    else:
        where = "the storage that VM_LEDGER_STORAGE* in your environment names (already set)"
    environ.setdefault("VM_LEDGER_TABLE", DEFAULT_TABLE)
    environ.setdefault("VM_LEDGER_QUEUE", DEFAULT_QUEUE)
    return f"{where}, table {environ['VM_LEDGER_TABLE']}, queue {environ['VM_LEDGER_QUEUE']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="HTTP port (default 7071; 0: any free)"
    )
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=STANDARD_TABLE_PORT,
        help="Azurite table port (default 10002, where UseDevelopmentStorage=true points)",
    )
    parser.add_argument("--azurite-queue-port", type=int, default=None,
                        help="Azurite queue port (default: the table port - 1, i.e. 10001)")  # fmt: skip
    parser.add_argument("--azurite-location", type=Path, default=PERSISTENT_LOCATION,
                        help="folder of Azurite's data (default .azurite/, git-ignored)")  # fmt: skip
    options = parser.parse_args(argv)

    # SIGTERM ends the server like Ctrl-C, so that Azurite is stopped either way. SIGINT is set too:
    # a shell starts background jobs with it ignored, and Python would keep ignoring it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        azurite = Azurite.persistent(
            options.azurite_port, options.azurite_location, queue_port=options.azurite_queue_port
        )
    except (PortBusyError, OSError, RuntimeError) as err:
        print(f"Cannot start Azurite: {err}", file=sys.stderr)
        return 1
    pollers: QueuePollers | None = None
    try:
        print(f"{azurite.describe()}, data in {options.azurite_location}")
        if azurite.table.reused or azurite.queue.reused:
            print("A service already running is used as it is (its data folder is its own; left running).")
        where = configure(azurite)
        import function_app

        functions = index(function_app.app)
        pollers = QueuePollers(functions)
        try:
            server = make_server(functions, options.port)
        except OSError as err:
            print(f"Cannot listen on {HOST}:{options.port} ({err}): is another server running? "
                  "Choose another with --port.", file=sys.stderr)  # fmt: skip
            return 1
        pollers.start()
        with server:
            _print_banner(f"http://{HOST}:{server.server_address[1]}", functions, where, pollers)
            server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping.")
    finally:
        if pollers is not None:
            pollers.stop()
        azurite.stop()
        if azurite.owned():
            print(f"Stopped Azurite ({', '.join(azurite.owned())}).", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_banner(base: str, functions: Functions, where: str, pollers: QueuePollers) -> None:
    print(f"Serving the function app at {base} (loopback only), ledger in {where}.")
    print("This is a development stand-in for the Functions host: `func start` (Core Tools) is the real one.")
    print(
        "Function keys are NOT checked here; in Azure every /api route needs one (?code= or x-functions-key)."
    )
    for route in functions.routes:
        print(
            f"  {'/'.join(sorted(route.methods)):<5} {base}/{ROUTE_PREFIX}/{route.template}   ({route.name})"
        )
    for name in sorted(functions.event_grid):
        print(f"  POST  {base}{EVENT_GRID_WEBHOOK}?functionName={name}   (Event Grid events: a JSON array)")
    for queue, name in pollers.running:
        print(f"  QUEUE {name}   ({queue.name}: polled with host.json's retries and poison queue)")
    for queue, reason in pollers.not_polled:
        print(f"  QUEUE {queue.queue_name}   ({queue.name}: NOT polled: {reason})")
    print(
        f"Open {base}/{ROUTE_PREFIX}/timeline in a browser. Ctrl-C stops the server and Azurite.", flush=True
    )


if __name__ == "__main__":
    raise SystemExit(main())
