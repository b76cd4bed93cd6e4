"""``FakeTopic``: an Event Grid custom topic on loopback that takes CloudEvents batches as the service
does (``tests/data/published/findings_topic``), records them, and can fail or hang on demand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devtools.loopback import LoopbackServer, RecordedRequest
from devtools.published import PUBLISHED

SHAPE = json.loads((PUBLISHED / "findings_topic" / "request_shape.json").read_text(encoding="utf-8"))


@dataclass
class _State:
    key: str
    on_event: Callable[[dict[str, Any]], None] | None
    fail_status: int | None = None
    hang_seconds: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeTopic(LoopbackServer):
    """The topic on 127.0.0.1 (a free port unless ``port``), taking requests that carry ``key``."""

    def __init__(
        self, key: str, *, port: int = 0, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self._state = _State(key, on_event)
        super().__init__(_handler_for(self._state), port, name="fake-topic")

    @property
    def endpoint(self) -> str:
        """What ``FINDINGS_TOPIC_ENDPOINT`` is set to, as a topic's endpoint ends in ``/api/events``."""
        return f"{self.url}{SHAPE['path']}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of every batch the topic took (answered 200), in order."""
        with self._state.lock:
            return list(self._state.events)

    def fail_with(self, status: int | None) -> None:
        """Answer every request with ``status`` from now on (``None``: take events again)."""
        with self._state.lock:
            self._state.fail_status = status

    def hang_for(self, seconds: float) -> None:
        """Answer nothing for ``seconds`` before each answer (0: answer at once)."""
        with self._state.lock:
            self._state.hang_seconds = seconds


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(_TopicHandler):
        shared = state

    return Handler


class _TopicHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 10
    shared: _State

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length", "0") or 0))
        query = dict(parse_qsl(parts.query))
        with self.shared.lock:
            self.shared.requests.append(RecordedRequest("POST", parts.path, query, headers))
            fail_status, hang = self.shared.fail_status, self.shared.hang_seconds
        if hang:
            time.sleep(hang)
        status, events = self._verdict(parts.path, query, headers, body)
        if status == 200 and fail_status is not None:
            status = fail_status
        if status == 200:
            with self.shared.lock:
                self.shared.events += events
            for event in events:
                if self.shared.on_event is not None:
                    self.shared.on_event(event)
        self._send(status)

    def _verdict(
        self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, list[dict[str, Any]]]:
        if path != SHAPE["path"] or query.get("api-version") != SHAPE["apiVersion"]:
            return 404, []
        if headers.get(SHAPE["keyHeader"]) != self.shared.key:
            return 401, []
        if headers.get("content-type") != SHAPE["contentType"]:
            return 415, []
        if len(body) > SHAPE["maxRequestBytes"]:
            return 413, []
        try:
            events = json.loads(body)
        except ValueError:
            return 400, []
        valid = isinstance(events, list) and all(
            isinstance(event, dict) and all(event.get(name) for name in SHAPE["requiredAttributes"])
            for event in events
        )
        return (200, events) if valid else (400, [])

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``FakeTopic.events``; the command prints them."""

    def _send(self, status: int) -> None:
        payload = (
            b"" if status == 200 else json.dumps({"error": {"code": str(status), "message": "fake"}}).encode()
        )
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            if payload:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (a hanging topic): nothing to answer
