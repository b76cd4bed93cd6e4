"""What the benchmarks share: result rows, pointing the function app at a table, building events and rows.

The function app reads its storage from the environment once per process; ``use_table`` points it at a
table (through the counting proxy or straight at Azurite) and drops the cached settings and ledger, the
way a new instance would start.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import azure.functions as func
from azure.data.tables import TableClient

from devtools.faultproxy import FaultProxy
from shared import context, settings
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import VmId, parse_vm_id
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.vm_state import BillingPolicy
from shared.settings import read_settings
from shared.store import Ledger, open_ledger
from shared.store.seeding import seed_histories

PASS, FAIL, INFO = "pass", "FAIL", "info"


@dataclass(frozen=True)
class Result:
    """One line of the results table."""

    measure: str
    value: str
    target: str = "-"
    verdict: str = INFO


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the table."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def new_table(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:16]


def use_table(connection_string: str, table: str) -> None:
    """Point ``function_app`` at ``table`` behind ``connection_string``, as a freshly started instance."""
    os.environ.pop(settings.STORAGE_SERVICE_URI, None)
    os.environ.pop(settings.BILLED_POWER_STATES, None)
    os.environ[settings.STORAGE_CONNECTION] = connection_string
    os.environ[settings.TABLE_NAME] = table
    context.reset()


def timed_call(
    proxy: FaultProxy,
    function: Callable[[func.HttpRequest], func.HttpResponse],
    path: str,
    params: dict[str, str],
) -> tuple[int, float, func.HttpResponse]:
    """Call an HTTP function of the app: the round trips the proxy saw, the seconds, the 200 response."""
    request = func.HttpRequest("GET", f"http://localhost:7071/api/{path}", body=b"", params=params)
    proxy.reset_counts()
    began = time.monotonic()
    response = function(request)
    seconds = time.monotonic() - began
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.get_body()[:300]!r}")
    return proxy.total(), seconds, response


def ledger_for(connection_string: str, table: str) -> Ledger:
    """An independent ledger (another instance) with the app's client options."""
    env = {settings.STORAGE_CONNECTION: connection_string, settings.TABLE_NAME: table}
    return open_ledger(read_settings(env))


def cold_ledger(ledger: Ledger) -> Ledger:
    """The same table with no warm-instance cache: every event reads the current row first."""
    return Ledger(ledger.table, ledger.policy, cache_size=0)


# ---- seeding in the ledger's row format ----------------------------------------------------------------

_CHANGES = {
    "write": ("Microsoft.Compute/virtualMachines/write", "Microsoft.Resources.ResourceWriteSuccess"),
    "start/action": (
        "Microsoft.Compute/virtualMachines/start/action",
        "Microsoft.Resources.ResourceActionSuccess",
    ),
    "deallocate/action": (
        "Microsoft.Compute/virtualMachines/deallocate/action",
        "Microsoft.Resources.ResourceActionSuccess",
    ),
}


def seed_rows(
    table: TableClient, policy: BillingPolicy, resource_id: str, history: Iterable[tuple[str, datetime]]
) -> None:
    """Write a VM's transitions and current row directly, 100 entities per transaction.

    ``history`` is (operation suffix, time) in time order, as the ledger would have recorded it from
    events delivered in order: each state derived from the one before with the same policy.
    """
    vm = vm_of(resource_id)
    news = []
    for index, (suffix, when) in enumerate(history):
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}/{index}"))
        operation, event_type = _CHANGES[suffix]
        change = change_for(suffix, SUCCEEDED)
        news.append(NewTransition(vm, when, change, ResourceEvent(event_id, operation, event_type)))
    seed_histories(table, policy, [news])


def alternating_history(count: int, end: datetime, step: timedelta) -> list[tuple[str, datetime]]:
    """A creation, then deallocate and start in turn, ``step`` apart, the last one at ``end``."""
    start = end - step * (count - 1)
    history = [("write", start)]
    for index in range(1, count):
        history.append(("deallocate/action" if index % 2 else "start/action", start + step * index))
    return history


def verb_of(suffix: str) -> str:
    """``start/action`` -> ``start`` (the factory's verbs)."""
    return suffix.split("/")[0]


def vm_of(resource_id: str) -> VmId:
    vm = parse_vm_id(resource_id)
    assert vm is not None
    return vm
