"""`make serve`: the app's HTTP API and Event Grid trigger on 127.0.0.1, without Core Tools.

A development stand-in for the Functions host (``func start``), which cannot always be installed: it
starts the persistent Azurite of ``make demo`` (table 10002 and queue 10001, data in ``.azurite/``) or
reuses the one already there, then serves the functions that ``function_app.app`` declares
(``devtools.function_host``: HTTP routes and the Event Grid webhook). Each queue-triggered function
(``record_scale_set_event``, which records the scale set events ``on_vm_event`` queues) runs on its queue
in a background thread, with host.json's polling, retries and poison queue (``devtools.queue_host``).

A loopback Event Grid topic (``devtools.fake_topic``, on 127.0.0.1:7072 unless ``--topic-port``) prints each
CloudEvent it receives; the app's settings point ``FINDINGS_TOPIC_ENDPOINT`` at it unless already set
(``test.http`` posts a digest to it).

Not the host: function keys are not checked, Event Grid deliveries are not retried, there is no scaling,
timeout or logging pipeline, and the timer trigger does not run. Loopback only. Ctrl-C (or SIGTERM)
stops the server, the queue pollers and the Azurite it started, by pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from devtools.azurite import PERSISTENT_LOCATION, STANDARD_TABLE_PORT, Azurite, PortBusyError
from devtools.fake_topic import FakeTopic
from devtools.fake_topic.__main__ import print_event
from devtools.function_host import (
    EVENT_GRID_WEBHOOK,
    HOST,
    ROUTE_PREFIX,
    Functions,
    QueueFunction,
    index,
    make_server,
)
from devtools.queue_host import QueueTrigger, resolve_binding

DEFAULT_PORT = 7071  # the Functions host's local port, so test.http and the README's URLs just work
DEFAULT_TABLE = "vmledger"
DEFAULT_QUEUE = "vmledger-scale-sets"  # local.settings.sample.json's VM_LEDGER_QUEUE
DEFAULT_TOPIC_PORT = 7072
TOPIC_KEY = "local-topic-key"  # local.settings.sample.json's FINDINGS_TOPIC_KEY


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
    parser.add_argument("--topic-port", type=int, default=DEFAULT_TOPIC_PORT,
                        help="port of the loopback findings topic (default 7072; 0: any free)")  # fmt: skip
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
    topic: FakeTopic | None = None
    try:
        print(f"{azurite.describe()}, data in {options.azurite_location}")
        if azurite.table.reused or azurite.queue.reused:
            print("A service already running is used as it is (its data folder is its own; left running).")
        where = configure(azurite)
        try:
            topic = FakeTopic(TOPIC_KEY, port=options.topic_port, on_event=print_event).start()
        except OSError as err:
            print(f"Cannot listen on {HOST}:{options.topic_port} for the findings topic ({err}): "
                  "choose another with --topic-port.", file=sys.stderr)  # fmt: skip
            return 1
        os.environ.setdefault("FINDINGS_TOPIC_ENDPOINT", topic.endpoint)
        os.environ.setdefault("FINDINGS_TOPIC_KEY", TOPIC_KEY)
        print(f"Findings topic (loopback, key {TOPIC_KEY}) at {topic.endpoint}: each event it receives is "
              "printed here.", flush=True)  # fmt: skip
        import function_app

        functions = index(function_app.app.get_functions())
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
        if topic is not None:
            topic.stop()
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
