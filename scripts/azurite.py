"""Start and stop a real Azurite Table service on loopback (tests, demo, benchmarks, ``make serve``).

Azurite comes from npm (``azurite@3.35.0``, installed under ``.tools/`` by ``make``) and always runs with
``--disableTelemetry`` on 127.0.0.1, stopped by its pid. Tests and benchmarks use a free port and memory.
``make demo`` and ``make serve`` share one persistent store (``Azurite.persistent``): the standard table
port 10002, which ``UseDevelopmentStorage=true`` points at, with its data in the git-ignored ``.azurite/``.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_TABLE = ROOT / ".tools" / "node_modules" / ".bin" / "azurite-table"
# Azurite's published development account; it is not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# What ``UseDevelopmentStorage=true`` means to the storage SDKs: Azurite's table service on this port.
STANDARD_TABLE_PORT = 10002
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"  # exactly: a trailing ";" breaks azure-data-tables
PERSISTENT_LOCATION = ROOT / ".azurite"


class PortBusyError(RuntimeError):
    """Something that is not Azurite's table service listens on the port Azurite should take."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Azurite:
    """One Azurite table service process; use as a context manager or call ``start``/``stop``."""

    def __init__(
        self, port: int | None = None, binary: Path = AZURITE_TABLE, *, location: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.binary = binary
        # None: in memory. A folder: Azurite's data file lives there and survives restarts.
        self.location = location
        self.process: subprocess.Popen[bytes] | None = None
        # True when this object found an Azurite already listening and uses it: not ours to stop.
        self.reused = False

    @classmethod
    def persistent(
        cls, port: int = STANDARD_TABLE_PORT, location: Path = PERSISTENT_LOCATION, timeout: float = 30.0
    ) -> Azurite:
        """The shared on-disk store of ``make demo`` and ``make serve``: start it, or reuse the Azurite
        table service already on ``port`` (left running on ``stop``).

        Raises ``PortBusyError`` when something else holds the port, rather than talking to it.
        """
        azurite = cls(port, location=location)
        if listening(port):
            if not is_azurite_table(port):
                raise PortBusyError(
                    f"something that is not Azurite's table service already listens on 127.0.0.1:{port}; "
                    "stop it, or choose another port"
                )
            azurite.reused = True
            return azurite
        location.mkdir(parents=True, exist_ok=True)
        return azurite.start(timeout)

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};"
        )

    @property
    def storage_setting(self) -> str:
        """The value for ``VM_LEDGER_STORAGE``: the short development form on the standard port."""
        return DEVELOPMENT_STORAGE if self.port == STANDARD_TABLE_PORT else self.connection_string

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 30.0) -> Azurite:
        if not self.binary.exists():
            raise FileNotFoundError(
                f"{self.binary} is missing: run `make` targets, which install azurite@3.35.0"
            )
        command = [
            str(self.binary),
            "--tableHost", "127.0.0.1",
            "--tablePort", str(self.port),
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
        return self

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
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"azurite did not listen on 127.0.0.1:{self.port} within {timeout}s")

    def __enter__(self) -> Azurite:
        # ``persistent()`` has already started (or found) its Azurite: starting again would launch a
        # second process that loses the port to the first and orphans it.
        if self.reused or self.process is not None:
            return self
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def listening(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def is_azurite_table(port: int) -> bool:
    """Whether 127.0.0.1:``port`` is an Azurite table service (it names itself in the Server header)."""
    # No proxy: a loopback question must not leave the machine whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
            server = response.headers.get("Server", "")
    except urllib.error.HTTPError as err:  # Azurite answers "/" with a 400
        server = err.headers.get("Server", "")
    except OSError:
        return False
    return server.startswith("Azurite-Table")
