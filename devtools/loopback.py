"""The HTTP server the loopback fakes (ARM, Retail Prices) run on: 127.0.0.1 only, in a daemon thread;
the requests they record; how their command lines wait to be stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a fake received it; header names are lower-cased for easy assertions."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class LoopbackServer:
    """Serves ``handler`` on ``127.0.0.1:port`` (0: any free port) from ``start`` until ``stop``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, *, name: str) -> None:
        self._server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self._server.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint to configure, e.g. ``http://127.0.0.1:53817``."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self._name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for_stop_signal(ready: Callable[[], object] = lambda: None) -> None:
    """Block until SIGTERM or SIGINT arrives. ``ready`` (say, printing the URL a caller waits for) runs
    once the handlers are in place, so a caller that stops the process as soon as it reads it stops it
    cleanly rather than killing it."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    ready()
    # A bounded wait keeps the main thread returning to the interpreter, where signal handlers run.
    while not stop.wait(0.5):
        pass
