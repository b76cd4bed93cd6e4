"""Shared fixtures: one real Azurite (table and queue services) per test session, a fresh table and work
queue per test, the indexed app."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from devtools.faultproxy import FaultProxy
from shared import context, settings
from shared.settings import Settings, read_settings
from shared.store import Ledger, open_ledger

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return True  # a socket family without host names (AF_UNIX)
    name = host.decode() if isinstance(host, bytes) else host
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """No test reaches any address but 127.0.0.1: a name that is not loopback fails at once, loudly,
    instead of a DNS lookup (and the SDK's retries) towards Azure."""
    resolve = socket.getaddrinfo

    def loopback_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_loopback(host):
            raise OSError(f"tests talk to loopback only; refused to resolve {host!r}")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = loopback_getaddrinfo
    yield
    socket.getaddrinfo = resolve


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as server:
        yield server


@pytest.fixture
def table_name() -> str:
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture
def queue_name() -> str:
    return "q" + uuid.uuid4().hex[:20]


@pytest.fixture
def ledger_env(
    azurite: Azurite, table_name: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the process-wide settings at Azurite, and at a table and a work queue of this test's own."""
    env = {
        settings.STORAGE_CONNECTION: azurite.connection_string,
        settings.TABLE_NAME: table_name,
        settings.QUEUE_NAME: queue_name,
        # Never the public prices API from a test: a test that needs prices starts devtools.fake_prices.
        settings.RETAIL_PRICES_ENDPOINT: "http://127.0.0.1:9",
    }
    for name in (
        settings.STORAGE_SERVICE_URI,
        settings.STORAGE_QUEUE_SERVICE_URI,
        settings.BILLED_POWER_STATES,
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _reset_process_state()
    yield env
    _reset_process_state()


@pytest.fixture
def counted_app(
    azurite: Azurite, ledger_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """The function app on this test's table through the counting proxy, which sees every request."""
    with FaultProxy(azurite.port, queue_port=azurite.queue_port) as proxy:
        monkeypatch.setenv(settings.STORAGE_CONNECTION, proxy.connection_string)
        _reset_process_state()
        yield proxy
        _reset_process_state()


@pytest.fixture
def app_settings(ledger_env: dict[str, str]) -> Settings:
    return read_settings()


@pytest.fixture
def ledger(ledger_env: dict[str, str]) -> Ledger:
    """The same ledger the function app uses in this process."""
    return context.get_ledger()


@pytest.fixture
def fresh_ledger(app_settings: Settings):
    """Builds further, independent ledgers on the same table (other instances, cold caches)."""
    return lambda **options: open_ledger(app_settings, **options)


@pytest.fixture(scope="session")
def app_functions():
    """``function_app.app.get_functions()``, which may be called only once per app."""
    import function_app

    return function_app.app.get_functions()


@pytest.fixture(scope="session")
def indexed_functions(app_functions):
    return {fn.get_function_name(): fn for fn in app_functions}


def _reset_process_state() -> None:
    context.reset()
