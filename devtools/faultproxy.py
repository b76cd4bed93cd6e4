"""A loopback HTTP proxy in front of Azurite that counts Table requests and injects storage faults.

The benchmarks point the ledger at it to count round trips by what actually crosses the wire (not by
reading the code); the fault suite uses it to fail requests the way a real storage account and network
do. It forwards each request to the upstream Azurite over a persistent connection and relays the answer,
unless a fault rule fires:

- ``reset``: the client's connection is reset (RST) without an answer;
- ``500``, ``503``: an error answer in the Table service's JSON error shape;
- ``429``: "too many requests" with a ``Retry-After`` header.

A rule fires before forwarding (storage never saw the request) or, with ``after_forward``, after
Azurite has processed it (the write happened, the client only sees a failure). ``black_hole`` accepts
requests and never answers (hung storage); ``refuse`` resets every request (storage or network down).
``heal`` ends both and clears the rules.

Request kinds (``kind_of``): ``point_read``, ``query``, ``batch``, ``insert``, ``update``, ``merge``,
``delete`` for entities, and ``table`` for table-level operations (create, list, delete a table).
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

from devtools.azurite import ACCOUNT, ACCOUNT_KEY

LOOPBACK = "127.0.0.1"
FAULTS = ("reset", "500", "503", "429")
WRITE_KINDS = frozenset({"batch", "insert", "update", "merge", "delete"})
# Headers that belong to one connection, not to the message: never relayed.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
_ENTITY_PATH = re.compile(r"^/[^/]+/[^/()]+\(PartitionKey='.*',RowKey='.*'\)$", re.DOTALL)
_TABLE_PATH = re.compile(r"^/[^/]+/[^/()]+(\(\))?$")


@dataclass(frozen=True)
class FaultRule:
    """Fail a request with ``fault`` with ``probability``; ``kinds`` limits it to those request kinds, and
    ``path_contains`` to requests whose decoded path holds that text (one entity's key, say)."""

    fault: str
    probability: float
    kinds: frozenset[str] | None = None
    after_forward: bool = False
    retry_after: str = "1"
    path_contains: str | None = None

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    def applies_to(self, kind: str, target: str = "") -> bool:
        if self.path_contains is not None and self.path_contains not in unquote(urlsplit(target).path):
            return False
        return self.kinds is None or kind in self.kinds


@dataclass(frozen=True)
class SeenRequest:
    """A request the proxy received: method, kind, path and query, and the fault it got (if any)."""

    method: str
    kind: str
    path: str
    query: str
    fault: str | None
    after_forward: bool


def kind_of(method: str, target: str) -> str:
    """Classify a Table service request by its method and path (``/account/table...``)."""
    path = unquote(urlsplit(target).path)
    method = method.upper()
    if path.endswith("/$batch"):
        return "batch"
    if path.rstrip("/").lower().endswith("/tables") or "/Tables(" in path:
        return "table"
    if _ENTITY_PATH.match(path):
        return {
            "GET": "point_read",
            "PUT": "update",
            "MERGE": "merge",
            "PATCH": "merge",
            "DELETE": "delete",
        }.get(method, "other")
    if _TABLE_PATH.match(path):
        return {"GET": "query", "POST": "insert"}.get(method, "other")
    return "other"


class FaultProxy:
    """A threaded proxy on 127.0.0.1 forwarding to ``upstream_port``; a context manager.

    Thread-safe: rules and switches may be changed while clients are using it.
    """

    def __init__(self, upstream_port: int, *, seed: int = 0, queue_port: int | None = None) -> None:
        self.upstream_port = upstream_port
        # Azurite's queue service, named in ``connection_string`` (not proxied): without it the queue SDK
        # would take the account's public queue endpoint.
        self.queue_port = queue_port
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: tuple[FaultRule, ...] = ()
        self._seen: list[SeenRequest] = []
        self._healed = threading.Event()
        self._healed.set()
        self._refusing = False
        self._stopping = threading.Event()
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.proxy = self
        # A short poll: stopping waits for the loop's next turn (0.5 s by default, once per test using it).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="faultproxy", daemon=True
        )

    # ---- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def table_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """The shape of ``devtools.azurite.Azurite.connection_string``, on the proxy's port."""
        queue = f"QueueEndpoint=http://{LOOPBACK}:{self.queue_port}/{ACCOUNT};" if self.queue_port else ""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};{queue}"
        )

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._healed.set()  # release black-holed requests so their threads end
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- configuration ------------------------------------------------------------------------------

    def set_faults(self, rules: Iterable[FaultRule], *, seed: int | None = None) -> None:
        """Replace the fault rules; the first rule that fires for a request decides its fault."""
        with self._lock:
            self._rules = tuple(rules)
            if seed is not None:
                self._random.seed(seed)

    def black_hole(self) -> None:
        """Accept requests and never answer them, until ``heal``."""
        self._healed.clear()

    def refuse(self) -> None:
        """Reset every request without forwarding it, until ``heal``."""
        with self._lock:
            self._refusing = True

    def heal(self) -> None:
        """Forward everything again: no rules, no black hole, no refusing."""
        with self._lock:
            self._rules = ()
            self._refusing = False
        self._healed.set()

    # ---- what was seen ------------------------------------------------------------------------------

    def reset_counts(self) -> None:
        with self._lock:
            self._seen.clear()

    @property
    def seen(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    def counts(self) -> Counter[str]:
        """Requests per kind since the last ``reset_counts``."""
        return Counter(request.kind for request in self.seen)

    def total(self) -> int:
        return len(self.seen)

    def faults_injected(self) -> Counter[str]:
        """Faults per ``<fault>`` or ``<fault>-after`` (answered after Azurite processed the request)."""
        return Counter(
            f"{request.fault}{'-after' if request.after_forward else ''}"
            for request in self.seen
            if request.fault
        )

    # ---- used by the handler ------------------------------------------------------------------------

    def _decide(self, method: str, target: str) -> tuple[str, FaultRule | None, bool]:
        kind = kind_of(method, target)
        with self._lock:
            if self._refusing:
                return kind, FaultRule("reset", 1.0), True
            for rule in self._rules:
                if rule.applies_to(kind, target) and self._random.random() < rule.probability:
                    return kind, rule, False
        return kind, None, False

    def _record(self, method: str, kind: str, target: str, fault: str | None, after: bool = False) -> None:
        parts = urlsplit(target)
        seen = SeenRequest(method, kind, unquote(parts.path), parts.query, fault, after)
        with self._lock:
            self._seen.append(seen)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout, reset) is expected here; nothing to report.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and delayed ACKs
        # add some 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ValueError):
            # The client went away, or the connection was reset on purpose.
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()

    def _serve(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not proxy._healed.is_set():
            # Hung storage: the request was accepted and is never answered.
            proxy._record(self.command, kind_of(self.command, self.path), self.path, "hang")
            proxy._healed.wait()
            self._reset()
            return
        kind, rule, refused = proxy._decide(self.command, self.path)
        if refused:
            proxy._record(self.command, kind, self.path, "refused")
        else:
            proxy._record(
                self.command, kind, self.path, rule.fault if rule else None, bool(rule and rule.after_forward)
            )
        if rule is not None and not rule.after_forward:
            self._fail(rule)
            return
        try:
            status, reason, headers, payload = self._forward(body)
        except (OSError, http.client.HTTPException):
            # Azurite is down: the client sees what it would see without the proxy, a dead connection.
            self._reset()
            return
        if rule is not None:
            self._fail(rule)
            return
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_MERGE = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    LOOPBACK, self.server.proxy.upstream_port, timeout=60
                )
                self._upstream.connect()
                self._upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                payload = response.read()
                return response.status, response.reason, response.getheaders(), payload
            except (OSError, http.client.HTTPException):
                # A kept-alive upstream connection may have been closed by Azurite: retry once, fresh.
                self._upstream.close()
                self._upstream = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def _fail(self, rule: FaultRule) -> None:
        if rule.fault == "reset":
            self._reset()
            return
        status = int(rule.fault)
        code = {500: "InternalError", 503: "ServerBusy", 429: "TooManyRequests"}[status]
        payload = json.dumps(
            {"odata.error": {"code": code, "message": {"lang": "en-US", "value": "injected by faultproxy"}}}
        ).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
        )
        self.send_header("x-ms-error-code", code)
        if status == 429:
            self.send_header("Retry-After", rule.retry_after)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        """Close the client connection with a TCP reset (SO_LINGER 0), as a crashed peer would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
