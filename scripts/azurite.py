"""Start and stop a real Azurite Table service on a free loopback port (tests, demo, benchmarks).

Azurite comes from npm (``azurite@3.35.0``, installed under ``.tools/`` by ``make``), always runs with
``--disableTelemetry`` on 127.0.0.1 with in-memory persistence, and is stopped by its pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_TABLE = ROOT / ".tools" / "node_modules" / ".bin" / "azurite-table"
# Azurite's published development account; it is not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Azurite:
    """One Azurite table service process; use as a context manager or call ``start``/``stop``."""

    def __init__(self, port: int | None = None, binary: Path = AZURITE_TABLE) -> None:
        self.port = port or free_port()
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def table_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        if not self.binary.exists():
            raise FileNotFoundError(
                f"{self.binary} is missing: run `make` targets, which install azurite@3.35.0"
            )
        command = [
            str(self.binary),
            "--tableHost", "127.0.0.1",
            "--tablePort", str(self.port),
            "--inMemoryPersistence",
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
        """Stop the process by its pid (SIGTERM, then SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

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
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
