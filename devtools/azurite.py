"""Start and stop a real Azurite on loopback: its Table service and its Queue service (tests, demo,
benchmarks, ``make serve``).

Azurite comes from npm (``azurite@3.35.0``, installed under ``.tools/`` by ``make``): ``azurite-table`` holds
the ledger, ``azurite-queue`` the work queue that scale set events go through. Each is its own process,
always with ``--disableTelemetry`` on 127.0.0.1, stopped by its pid. Tests and benchmarks use free ports
and memory. ``make demo`` and ``make serve`` share one persistent store (``Azurite.persistent``): the
standard ports, table 10002 and queue 10001, which ``UseDevelopmentStorage=true`` points at, with the data
of both in the git-ignored ``.azurite/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "node_modules" / ".bin"
AZURITE_TABLE = BIN / "azurite-table"
AZURITE_QUEUE = BIN / "azurite-queue"
# Azurite's published development account; it is not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# What ``UseDevelopmentStorage=true`` means to the storage SDKs: Azurite's services on these ports.
STANDARD_TABLE_PORT = 10002
STANDARD_QUEUE_PORT = 10001
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"  # exactly: a trailing ";" breaks azure-data-tables
PERSISTENT_LOCATION = ROOT / ".azurite"


class PortBusyError(RuntimeError):
    """Something that is not the expected Azurite service listens on the port Azurite should take."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class _Kind:
    name: str  # "table" or "queue": the --<name>Host / --<name>Port options, the Server header
    binary: Path


TABLE = _Kind("table", AZURITE_TABLE)
QUEUE = _Kind("queue", AZURITE_QUEUE)


class _Service:
    """One Azurite service process (or one found already listening, which is not ours to stop)."""

    def __init__(self, kind: _Kind, port: int, location: Path | None) -> None:
        self.kind = kind
        self.port = port
        self.location = location  # None: in memory
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False

    def start(self, timeout: float) -> None:
        if not self.kind.binary.exists():
            raise FileNotFoundError(
                f"{self.kind.binary} is missing: run `make` targets, which install azurite@3.35.0"
            )
        name = self.kind.name
        command = [
            str(self.kind.binary),
            f"--{name}Host", "127.0.0.1",
            f"--{name}Port", str(self.port),
            *(["--location", str(self.location)] if self.location else ["--inMemoryPersistence"]),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]  # fmt: skip
        # A file, not a pipe: a pipe nobody reads would block Azurite once its buffer fills.
        self._errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=self._errors, start_new_session=True
        )
        self._wait_until_listening(timeout)

    def reuse_or_start(self, timeout: float) -> None:
        """Use the same Azurite service already on the port, start one if the port is free; refuse else."""
        if listening(self.port):
            if not is_azurite(self.port, self.kind.name):
                raise PortBusyError(
                    f"something that is not Azurite's {self.kind.name} service already listens on "
                    f"127.0.0.1:{self.port}; stop it, or choose another port"
                )
            self.reused = True
            return
        self.start(timeout)

    def stop(self) -> None:
        """Stop the process by its pid: SIGINT, then SIGTERM and SIGKILL if it lingers.

        SIGINT first because only on SIGINT does Azurite save its data file before exiting; on SIGTERM
        it dies at once and a persistent store loses what it wrote in the last few seconds (it autosaves
        every 5 s).
        """
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self._errors.seek(0)
                error = self._errors.read().decode(errors="replace")
                raise RuntimeError(f"azurite exited with {self.process.returncode}: {error[-2000:]}")
            if listening(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"azurite did not listen on 127.0.0.1:{self.port} within {timeout}s")


class Azurite:
    """Azurite's Table and Queue services; use as a context manager or call ``start``/``stop``."""

    def __init__(
        self, port: int | None = None, *, queue_port: int | None = None, location: Path | None = None
    ) -> None:
        self.table = _Service(TABLE, port or free_port(), location)
        self.queue = _Service(QUEUE, queue_port or free_port(), location)
        self.location = location  # None: in memory. A folder: both data files live there.

    @classmethod
    def persistent(
        cls,
        port: int = STANDARD_TABLE_PORT,
        location: Path = PERSISTENT_LOCATION,
        timeout: float = 30.0,
        *,
        queue_port: int | None = None,
    ) -> Azurite:
        """The shared on-disk store of ``make demo`` and ``make serve``: start each service, or reuse the
        Azurite service already on its port (left running on ``stop``). The queue port defaults to the one
        below the table port, Azurite's own layout (10001 next to 10002).

        Raises ``PortBusyError`` when something else holds a port, rather than talking to it.
        """
        azurite = cls(port, queue_port=queue_port or port - 1, location=location)
        location.mkdir(parents=True, exist_ok=True)
        azurite.table.reuse_or_start(timeout)
        try:
            azurite.queue.reuse_or_start(timeout)
        except BaseException:
            azurite.stop()
            raise
        return azurite

    @property
    def port(self) -> int:
        return self.table.port

    @property
    def queue_port(self) -> int:
        return self.queue.port

    @property
    def reused(self) -> bool:
        """True when both services were already there: nothing here is ours to stop."""
        return self.table.reused and self.queue.reused

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.table.port}/{ACCOUNT}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.queue.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.table.port, self.queue.port)

    @property
    def storage_setting(self) -> str:
        """The value for ``VM_LEDGER_STORAGE``: the short development form on the standard ports."""
        standard = (self.table.port, self.queue.port) == (STANDARD_TABLE_PORT, STANDARD_QUEUE_PORT)
        return DEVELOPMENT_STORAGE if standard else self.connection_string

    @property
    def pid(self) -> int | None:
        """The table service's pid, when this object started it."""
        return _pid(self.table)

    @property
    def queue_pid(self) -> int | None:
        return _pid(self.queue)

    def start(self, timeout: float = 30.0) -> Azurite:
        self.table.start(timeout)
        try:
            self.queue.start(timeout)
        except BaseException:
            self.table.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the processes this object started, by pid; leave reused ones running."""
        self.queue.stop()
        self.table.stop()

    def describe(self) -> str:
        """One line for a console: where each service listens, and its pid or that it was already there."""
        parts = [
            f"{service.kind.name} 127.0.0.1:{service.port} "
            + ("(already running)" if service.reused else f"(pid {_pid(service)})")
            for service in (self.table, self.queue)
        ]
        return "Azurite " + ", ".join(parts)

    def owned(self) -> list[str]:
        """``table pid N``, ``queue pid M``: the processes this object started (and ``stop`` stops)."""
        return [
            f"{service.kind.name} pid {_pid(service)}"
            for service in (self.table, self.queue)
            if service.process is not None
        ]

    def __enter__(self) -> Azurite:
        # ``persistent()`` has already started (or found) its services: starting again would launch
        # second processes that lose the ports to the first and orphan them.
        if self.table.reused or self.table.process is not None:
            return self
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def connection_string(table_port: int, queue_port: int) -> str:
    """Azurite's development account with its Table and Queue services on these loopback ports (or on
    proxies in front of them)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/{ACCOUNT};"
    )


def listening(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def is_azurite(port: int, service: str = "table") -> bool:
    """Whether 127.0.0.1:``port`` is Azurite's ``service`` (it names itself in the Server header)."""
    # No proxy: a loopback question must not leave the machine whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
            server = response.headers.get("Server", "")
    except urllib.error.HTTPError as err:  # Azurite answers "/" with a 400
        server = err.headers.get("Server", "")
    except OSError:
        return False
    return server.startswith(f"Azurite-{service.capitalize()}")


def _pid(service: _Service) -> int | None:
    return service.process.pid if service.process is not None else None
