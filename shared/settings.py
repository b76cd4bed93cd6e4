"""Settings of the ledger, read from the environment (app settings / ``local.settings.json`` Values).

Only the composition root (``shared.context``) reads them, when first needed, never at import, so
importing ``function_app`` stays cheap and a bad value surfaces as a clear ``ConfigurationError`` naming
the setting.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from shared.domain.findings import (
    DEFAULT_DEALLOCATED_MIN_DAYS,
    DEFAULT_STOPPED_MIN_HOURS,
    DEFAULT_UNCONFIRMED_AFTER_MINUTES,
    Thresholds,
)
from shared.domain.ids import is_subscription_id
from shared.domain.pushed_events import DEFAULT_DIGEST_HOUR_UTC
from shared.domain.times import parse_period
from shared.domain.vm_state import BillingPolicy
from shared.domain.watch import ReconcileSource, parse_management_group, parse_reconcile_source
from shared.errors import ConfigurationError

STORAGE_CONNECTION = "VM_LEDGER_STORAGE"
STORAGE_SERVICE_URI = "VM_LEDGER_STORAGE__tableServiceUri"
STORAGE_CLIENT_ID = "VM_LEDGER_STORAGE__clientId"
# The queue trigger reads the same connection (``VM_LEDGER_STORAGE``): the host takes this URI with the
# identity, the code sends to the queue through it.
STORAGE_QUEUE_SERVICE_URI = "VM_LEDGER_STORAGE__queueServiceUri"
TABLE_NAME = "VM_LEDGER_TABLE"
# Also read by the host, as the queue trigger's %VM_LEDGER_QUEUE% binding expression.
QUEUE_NAME = "VM_LEDGER_QUEUE"
BILLED_POWER_STATES = "BILLED_POWER_STATES"
RECONCILE_SUBSCRIPTION_IDS = "RECONCILE_SUBSCRIPTION_IDS"
ARM_ENDPOINT = "ARM_ENDPOINT"
COMPUTE_API_VERSION = "COMPUTE_API_VERSION"
INVENTORY_REFRESH = "INVENTORY_REFRESH"
ACTUALS_REFRESH = "ACTUALS_REFRESH"
RETAIL_PRICES_ENDPOINT = "RETAIL_PRICES_ENDPOINT"
PRICES_CURRENCY = "PRICES_CURRENCY"
# Read by the Functions host through the %RECONCILE_SCHEDULE% binding expression, not by Python.
RECONCILE_SCHEDULE = "RECONCILE_SCHEDULE"
FINDINGS_STOPPED_MIN_HOURS = "FINDINGS_STOPPED_MIN_HOURS"
FINDINGS_DEALLOCATED_MIN_DAYS = "FINDINGS_DEALLOCATED_MIN_DAYS"
FINDINGS_UNCONFIRMED_AFTER_MINUTES = "FINDINGS_UNCONFIRMED_AFTER_MINUTES"
BACKFILL_ON_ADOPT_DAYS = "BACKFILL_ON_ADOPT_DAYS"
BACKFILL_ON_ADOPT_MAX_VMS = "BACKFILL_ON_ADOPT_MAX_VMS"
FINDINGS_TOPIC_ENDPOINT = "FINDINGS_TOPIC_ENDPOINT"
FINDINGS_TOPIC_KEY = "FINDINGS_TOPIC_KEY"
DIGEST_HOUR_UTC = "DIGEST_HOUR_UTC"
RECONCILE_SOURCE = "RECONCILE_SOURCE"
WATCH_MANAGEMENT_GROUP = "WATCH_MANAGEMENT_GROUP"
TRANSITION_RETENTION_DAYS = "TRANSITION_RETENTION_DAYS"

T = TypeVar("T")
DEFAULT_TABLE_NAME = "vmledger"
DEFAULT_QUEUE_NAME = "vmledger-scale-sets"
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_COMPUTE_API_VERSION = "2024-07-01"
DEFAULT_BACKFILL_ON_ADOPT_DAYS = 90  # the Activity Log's retention
DEFAULT_BACKFILL_ON_ADOPT_MAX_VMS = 50
MAX_BACKFILL_DAYS = 90
DEFAULT_INVENTORY_REFRESH = timedelta(hours=6)
DEFAULT_ACTUALS_REFRESH = timedelta(days=1)
DEFAULT_RETAIL_PRICES_ENDPOINT = "https://prices.azure.com"
DEFAULT_PRICES_CURRENCY = "USD"

_TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
# Azure's queue name rule, at most 56 characters so that the host's "<name>-poison" queue fits in 63.
_QUEUE_NAME_PATTERN = re.compile(r"^(?=.{3,56}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
_LOOPBACK_HOSTS = {"localhost"}
_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class StorageSettings:
    """Where the ledger table lives: a connection string (Azurite, dev) or a URI used with an identity."""

    connection_string: str | None
    table_service_uri: str | None
    client_id: str | None
    queue_service_uri: str | None = None


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    table_name: str
    billing_policy: BillingPolicy
    reconcile_subscription_ids: tuple[str, ...]
    arm_endpoint: str
    compute_api_version: str
    findings: Thresholds = Thresholds()
    # Activity Log backfill of VMs reconcile adopts: how far back (0: off), and at most how many per run.
    backfill_on_adopt_days: int = DEFAULT_BACKFILL_ON_ADOPT_DAYS
    backfill_on_adopt_max_vms: int = DEFAULT_BACKFILL_ON_ADOPT_MAX_VMS
    inventory_refresh: timedelta = DEFAULT_INVENTORY_REFRESH
    actuals_refresh: timedelta = DEFAULT_ACTUALS_REFRESH
    retail_prices_endpoint: str = DEFAULT_RETAIL_PRICES_ENDPOINT
    prices_currency: str = DEFAULT_PRICES_CURRENCY
    # The queue that hands scale-set-level events from the Event Grid function to the queue function.
    queue_name: str = DEFAULT_QUEUE_NAME
    # The findings topic (``None``: none), its key (``None``: the identity), when the digest is due (UTC).
    findings_topic_endpoint: str | None = None
    findings_topic_key: str | None = field(default=None, repr=False)
    digest_hour_utc: int = DEFAULT_DIGEST_HOUR_UTC
    # List All per subscription, a Resource Graph sweep, or the sweep above 20 subscriptions.
    reconcile_source: ReconcileSource = ReconcileSource.LIST
    # The enabled subscriptions under this management group are watched too (refreshed with the inventory).
    watch_management_group: str | None = None
    # Transitions older than this many days (rounded down to a UTC month) are removed; 0: all kept.
    transition_retention_days: int = 0


def read_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build ``Settings`` from ``environ`` (default ``os.environ``); ``ConfigurationError`` if invalid."""
    env = os.environ if environ is None else environ
    return Settings(
        storage=_read_storage(env),
        table_name=_read_table_name(env),
        billing_policy=_parsed(env, BILLED_POWER_STATES, BillingPolicy.parse),
        reconcile_subscription_ids=_read_subscriptions(env),
        arm_endpoint=_read_endpoint(env, ARM_ENDPOINT, DEFAULT_ARM_ENDPOINT),
        compute_api_version=_value(env, COMPUTE_API_VERSION) or DEFAULT_COMPUTE_API_VERSION,
        findings=_read_thresholds(env),
        backfill_on_adopt_days=_whole(
            env, BACKFILL_ON_ADOPT_DAYS, DEFAULT_BACKFILL_ON_ADOPT_DAYS, MAX_BACKFILL_DAYS
        ),
        backfill_on_adopt_max_vms=_whole(
            env, BACKFILL_ON_ADOPT_MAX_VMS, DEFAULT_BACKFILL_ON_ADOPT_MAX_VMS, 10_000
        ),
        inventory_refresh=_read_period(env, INVENTORY_REFRESH, DEFAULT_INVENTORY_REFRESH),
        actuals_refresh=_read_period(env, ACTUALS_REFRESH, DEFAULT_ACTUALS_REFRESH, off=True),
        retail_prices_endpoint=_read_endpoint(env, RETAIL_PRICES_ENDPOINT, DEFAULT_RETAIL_PRICES_ENDPOINT),
        prices_currency=_read_currency(env),
        queue_name=_read_queue_name(env),
        findings_topic_endpoint=_value(env, FINDINGS_TOPIC_ENDPOINT),  # checked by the topic's client
        findings_topic_key=_value(env, FINDINGS_TOPIC_KEY),
        digest_hour_utc=_whole(env, DIGEST_HOUR_UTC, DEFAULT_DIGEST_HOUR_UTC, 23),
        reconcile_source=_parsed(env, RECONCILE_SOURCE, parse_reconcile_source),
        watch_management_group=_parsed(env, WATCH_MANAGEMENT_GROUP, parse_management_group),
        transition_retention_days=_whole(env, TRANSITION_RETENTION_DAYS, 0, 36_600),
    )


def _parsed(env: Mapping[str, str], name: str, parse: Callable[[str | None], T]) -> T:
    try:
        return parse(_value(env, name))
    except ValueError as err:
        raise ConfigurationError(f"{name}: {err}") from err


def _read_thresholds(env: Mapping[str, str]) -> Thresholds:
    """The findings' thresholds; defaults in ``shared.domain.findings``."""
    return Thresholds(
        stopped_min_hours=_number(env, FINDINGS_STOPPED_MIN_HOURS, DEFAULT_STOPPED_MIN_HOURS, 24 * 366),
        deallocated_min_hours=24
        * _number(env, FINDINGS_DEALLOCATED_MIN_DAYS, DEFAULT_DEALLOCATED_MIN_DAYS, 3660),
        unconfirmed_after_hours=_number(
            env, FINDINGS_UNCONFIRMED_AFTER_MINUTES, DEFAULT_UNCONFIRMED_AFTER_MINUTES, 60 * 24 * 366
        )
        / 60,
    )


def _number(
    env: Mapping[str, str], name: str, default: float, maximum: float, *, whole: bool = False
) -> float:
    """A non-negative number (``whole``: an integer) up to ``maximum``; ``ConfigurationError`` otherwise."""
    text = _value(env, name)
    if text is None:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if not 0 <= value <= maximum:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(f"{name} must be {kind} from 0 to {maximum:g}, got {text!r}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    return int(_number(env, name, default, maximum, whole=True))


def is_loopback_http(endpoint: str) -> bool:
    """True for ``http://`` on 127.0.0.1, ::1 or localhost: the local emulation mode that sends no token."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _read_storage(env: Mapping[str, str]) -> StorageSettings:
    connection = _value(env, STORAGE_CONNECTION)
    uri = _value(env, STORAGE_SERVICE_URI)
    if bool(connection) == bool(uri):
        state = "both are set" if connection else "neither is set"
        raise ConfigurationError(
            f"set exactly one of {STORAGE_CONNECTION} (a connection string, 'UseDevelopmentStorage=true' "
            f"for Azurite) or {STORAGE_SERVICE_URI} (with a managed identity); {state}"
        )
    queue_uri = _value(env, STORAGE_QUEUE_SERVICE_URI)
    for name, value in ((STORAGE_SERVICE_URI, uri), (STORAGE_QUEUE_SERVICE_URI, queue_uri)):
        if value and urlsplit(value).scheme != "https" and not is_loopback_http(value):
            raise ConfigurationError(f"{name} must be an https:// endpoint, got {value!r}")
    return StorageSettings(
        connection_string=connection,
        table_service_uri=uri,
        client_id=_value(env, STORAGE_CLIENT_ID),
        queue_service_uri=queue_uri,
    )


def _read_table_name(env: Mapping[str, str]) -> str:
    name = _value(env, TABLE_NAME) or DEFAULT_TABLE_NAME
    if not _TABLE_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"{TABLE_NAME} must be 3-63 letters and digits starting with a letter, got {name!r}"
        )
    return name


def _read_queue_name(env: Mapping[str, str]) -> str:
    name = _value(env, QUEUE_NAME) or DEFAULT_QUEUE_NAME
    if not _QUEUE_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"{QUEUE_NAME} must be 3-56 lowercase letters, digits and single hyphens, starting and ending "
            f"with a letter or digit, got {name!r}"
        )
    return name


def _read_subscriptions(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _value(env, RECONCILE_SUBSCRIPTION_IDS) or ""
    ids = [part.strip().lower() for part in raw.split(",") if part.strip()]
    bad = [value for value in ids if not is_subscription_id(value)]
    if bad:
        raise ConfigurationError(f"{RECONCILE_SUBSCRIPTION_IDS}: not subscription ids: {', '.join(bad)}")
    return tuple(dict.fromkeys(ids))


def check_endpoint(endpoint: str, name: str) -> bool:
    """``True`` for local emulation (loopback http: no token is sent), ``False`` for https.

    Anything else raises ``ConfigurationError`` naming ``name``: plain http elsewhere would carry tokens
    and answers in clear text.
    """
    if is_loopback_http(endpoint):
        return True
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return False
    raise ConfigurationError(
        f"{name} must be https://, or http:// on a loopback address for local emulation; got {endpoint!r}"
    )


def _read_endpoint(env: Mapping[str, str], name: str, default: str) -> str:
    endpoint = (_value(env, name) or default).rstrip("/")
    check_endpoint(endpoint, name)
    return endpoint


def _read_period(env: Mapping[str, str], name: str, default: timedelta, *, off: bool = False) -> timedelta:
    """An ISO-8601 duration or a number of hours, at least 5 minutes; with ``off``, ``0`` is off."""
    text = _value(env, name)
    if text is None or (off and text == "0"):
        return default if text is None else timedelta(0)
    try:
        return parse_period(text, minimum=timedelta(minutes=5))
    except ValueError as err:
        raise ConfigurationError(f"{name} {err}{' (or 0: off)' if off else ''}") from err


def _read_currency(env: Mapping[str, str]) -> str:
    currency = (_value(env, PRICES_CURRENCY) or DEFAULT_PRICES_CURRENCY).upper()
    if not _CURRENCY_PATTERN.match(currency):
        raise ConfigurationError(f"{PRICES_CURRENCY} must be a three-letter currency code such as USD")
    return currency
