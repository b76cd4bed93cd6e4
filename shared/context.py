"""The composition root: the one place that reads the settings and builds what the app runs with.

``function_app.py`` and the command line start here. The settings are read once, on first use (never at
import: importing ``function_app`` stays cheap, and a wrong setting fails a trigger, not the indexing);
the ledger, the work queue and the Resource Manager, Resource Graph, Cost Management and Retail Prices
clients are each built once per process, on first use. In Azure one ``DefaultAzureCredential`` (the app's
managed identity) serves the ledger table, the work queue, Resource Manager, Resource Graph and Cost
Management alike; with Azurite and a loopback fake of ARM none is built.

Each entry point below hands its step what it needs as plain arguments (the ledger, a client, the
currency, the thresholds, the subscriptions): no view, job or command reads a setting itself
(``tests/test_architecture.py`` holds that). ``reset()`` forgets the settings and every client, as a
freshly started instance would (tests, benchmarks). The command line also reads ``local.settings.json``'s
``Values`` (``use_local_settings``), as Core Tools does, so it finds the same store as the local host.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential

from shared import answers, jobs, web
from shared.domain.findings import Thresholds
from shared.domain.watch import ReconcileSource
from shared.errors import ConfigurationError
from shared.settings import Settings, read_settings
from shared.sources import (
    ArmClient,
    CostManagementClient,
    FindingsTopic,
    InboundEvent,
    ResourceGraphClient,
    RetailPricesClient,
)
from shared.store import (
    Ledger,
    Outbox,
    Outcome,
    RunRecords,
    WatchedSubscriptions,
    WorkQueue,
    open_ledger,
    open_work_queue,
)
from shared.web import HttpResult, Request


class Root:
    """What the app runs with, from one reading of the settings: plain values, and clients built once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self.currency: str = settings.prices_currency
        self.thresholds: Thresholds = settings.findings
        self.subscriptions: tuple[str, ...] = settings.reconcile_subscription_ids
        self.inventory_every: timedelta = settings.inventory_refresh
        self.backfill_days: int = settings.backfill_on_adopt_days
        self.backfill_max_vms: int = settings.backfill_on_adopt_max_vms
        self.reconcile_source: ReconcileSource = settings.reconcile_source
        self.management_group: str | None = settings.watch_management_group
        self.actuals_every: timedelta = settings.actuals_refresh
        self._credential: TokenCredential | None = None
        self._ledger: Ledger | None = None
        self._work_queue: WorkQueue | None = None
        self._arm: ArmClient | None = None
        self._prices: RetailPricesClient | None = None
        self._findings: jobs.FindingsPush | None = None
        self._graph: ResourceGraphClient | None = None
        self._costs: CostManagementClient | None = None

    def ledger(self) -> Ledger:
        """The ledger; built on first use, tried again on the next call if building failed."""
        with self._lock:
            if self._ledger is None:
                self._ledger = open_ledger(self._settings, self._storage_identity())
            return self._ledger

    def work_queue(self) -> WorkQueue:
        """The work queue (scale set events), created if missing on first use; like the ledger."""
        with self._lock:
            if self._work_queue is None:
                self._work_queue = open_work_queue(self._settings, self._storage_identity())
            return self._work_queue

    def arm(self) -> ArmClient:
        """The client of the configured Resource Manager endpoint; it asks for the credential only when it
        needs a token."""
        with self._lock:
            if self._arm is None:
                settings = self._settings
                self._arm = ArmClient(settings.arm_endpoint, settings.compute_api_version, self.credential)
            return self._arm

    def prices(self) -> RetailPricesClient:
        """The Retail Prices client (anonymous: it never uses the credential)."""
        with self._lock:
            if self._prices is None:
                self._prices = RetailPricesClient(self._settings.retail_prices_endpoint, self.currency)
            return self._prices

    def findings_push(self) -> jobs.FindingsPush | None:
        """The findings topic and what publishing to it needs; ``None`` when no topic is configured."""
        endpoint = self._settings.findings_topic_endpoint
        if endpoint is None:
            return None
        with self._lock:
            if self._findings is None:
                ledger, thresholds, currency = self.ledger(), self.thresholds, self.currency
                key = self._settings.findings_topic_key
                self._findings = jobs.FindingsPush(
                    outbox=Outbox(ledger.table),
                    topic=FindingsTopic(endpoint, key=key, credential=None if key else self.credential),
                    occurrences=lambda now: web.finding_occurrences(
                        ledger, thresholds=thresholds, currency=currency, as_of=now
                    ),
                    digest_data=lambda day, now: web.digest_data(
                        ledger, day, now, thresholds=thresholds, currency=currency
                    ),
                    digest_hour=self._settings.digest_hour_utc,
                )
            return self._findings

    def graph(self) -> ResourceGraphClient:
        """The Resource Graph client, on the Resource Manager endpoint with the same identity."""
        with self._lock:
            if self._graph is None:
                self._graph = ResourceGraphClient(self._settings.arm_endpoint, self.credential)
            return self._graph

    def actuals(self) -> jobs.Actuals | None:
        """The actuals step's source unless ``ACTUALS_REFRESH`` is 0: the Cost Management client (built
        once, on the ARM endpoint with the same identity), the ledger's hours per day as answers count."""
        if not self.actuals_every:
            return None
        with self._lock:
            self._costs = self._costs or CostManagementClient(self._settings.arm_endpoint, self.credential)
        return jobs.Actuals(self._costs, self.actuals_every, answers.daily_billed_hours)

    def watch(self) -> jobs.Watch | None:
        """How reconcile reads the fleet beyond List All, when a setting asks for more than the default."""
        if self.reconcile_source is ReconcileSource.LIST and self.management_group is None:
            return None
        stored = WatchedSubscriptions(self.ledger().table)
        return jobs.Watch(self.reconcile_source, self.graph(), stored, self.management_group)

    def run_records(self) -> RunRecords:
        """The timer steps' run records, in the ledger's table."""
        return RunRecords(self.ledger().table)

    def credential(self) -> TokenCredential:
        """The app's one identity, built on first use."""
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential  # heavy import, needed only in Azure

                self._credential = DefaultAzureCredential(
                    managed_identity_client_id=self._settings.storage.client_id
                )
            return self._credential

    def uses_development_storage(self) -> bool:
        """Whether the ledger is Azurite at its standard ports (``UseDevelopmentStorage=true``)."""
        connection = (self._settings.storage.connection_string or "").replace(" ", "").lower()
        return "usedevelopmentstorage=true" in connection

    def _storage_identity(self) -> TokenCredential | None:
        return None if self._settings.storage.connection_string else self.credential()


_lock = threading.Lock()
_local_settings: Path | None = None


def use_local_settings(path: Path) -> None:
    """From now on, settings the environment does not set are taken from the ``Values`` of ``path``, a
    Core Tools ``local.settings.json``, when it exists: Core Tools' rule too (the environment wins), so a
    command finds the store that ``func start`` or ``make serve`` use with no variable set."""
    global _local_settings
    with _lock:
        _local_settings = path
        _process_root.cache_clear()


def _local_values(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except (ValueError, AttributeError, OSError) as err:
        raise ConfigurationError(f"{path} is not a local.settings.json: {err}") from err
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ConfigurationError(f"{path}: Values must be an object of strings")
    return values


def _environment() -> Mapping[str, str]:
    if _local_settings is None:
        return os.environ
    return {**_local_values(_local_settings), **os.environ}


@functools.cache
def _process_root() -> Root:
    return Root(read_settings(_environment()))


def root() -> Root:
    """The process-wide root: the settings are read on first use, and again on the next call if they
    were wrong."""
    with _lock:
        return _process_root()


def reset() -> None:
    """Forget the settings and every client, as a freshly started instance would (tests, benchmarks)."""
    global _local_settings
    with _lock:
        _local_settings = None
        _process_root.cache_clear()


def get_ledger() -> Ledger:
    return root().ledger()


def get_work_queue() -> WorkQueue:
    return root().work_queue()


def get_arm_client() -> ArmClient:
    return root().arm()


def get_prices_client() -> RetailPricesClient:
    return root().prices()


# ---- the entry points: function_app.py's triggers ----------------------------------------------------
# They call the jobs through the ``jobs`` module at each call, so the demo can count what they return.


def handle_event(event: InboundEvent) -> Outcome:
    """``on_vm_event``: record one delivery; scale-set-level events go to the work queue."""
    app = root()
    return jobs.handle_event(event, app.ledger(), app.arm, queue=app.work_queue)


def handle_scale_set_message(body: str | bytes, dequeue_count: int | None) -> Outcome:
    """``record_scale_set_event``: list a scale set's instances after a scale-set-level event."""
    app = root()
    return jobs.handle_scale_set_message(body, dequeue_count, app.ledger(), app.arm)


def run_timer() -> None:
    """``reconcile_vms``: every step of the timer's table (``jobs.refresh``), within the run's deadline."""
    app = root()
    ledger = app.ledger()
    steps = jobs.timer_steps(
        ledger, app.arm(), app.prices(),
        subscriptions=app.subscriptions, inventory_every=app.inventory_every,
        backfill_days=app.backfill_days, backfill_max_vms=app.backfill_max_vms, watch=app.watch(),
        actuals=app.actuals(), findings=app.findings_push(),
    )  # fmt: skip
    jobs.run_timer(steps, app.run_records())


Answer = dict[str, Any] | HttpResult

# Each HTTP function's view, given what it needs. The page needs nothing built, so it answers even when
# storage is down or a setting is wrong.
HTTP_VIEWS: dict[str, Callable[[Request], Answer]] = {
    "get_vm": lambda request: web.get_vm(request, get_ledger(), currency=root().currency),
    "get_vm_instance": lambda request: web.get_vm(request, get_ledger(), currency=root().currency),
    "list_vm_transitions": lambda request: web.list_vm_transitions(request, get_ledger()),
    "list_vm_instance_transitions": lambda request: web.list_vm_transitions(request, get_ledger()),
    "list_vms": lambda request: web.list_vms(request, get_ledger(), currency=root().currency),
    "list_vm_timelines": lambda request: web.list_vm_timelines(
        request, get_ledger(), currency=root().currency
    ),
    "list_findings": lambda request: web.list_findings(
        request, get_ledger(), currency=root().currency, thresholds=root().thresholds
    ),
    "list_costs": lambda request: web.list_costs(request, get_ledger(), currency=root().currency),
    "vm_timeline_page": web.vm_timeline_page,
}


def answer(function_name: str, request: Request) -> HttpResult:
    """The HTTP function ``function_name``'s answer to ``request``; every failure mapped to a status."""
    view = HTTP_VIEWS[function_name]
    return web.respond(lambda: view(request))
