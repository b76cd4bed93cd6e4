"""What the benchmarks share: result rows, pointing the function app at a table, building events and rows.

The function app reads its storage from the environment once per process; ``use_table`` points it at a
table (through the counting proxy or straight at Azurite) and drops the cached settings and ledger, the
way a new instance would start.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.data.tables import TableClient

from shared import clients, settings
from shared.clients import open_ledger
from shared.ledger import Ledger
from shared.operations import SUCCEEDED, change_for
from shared.resource_ids import VmId, parse_vm_id
from shared.rows import (
    SOURCE_EVENT,
    SUBSCRIPTIONS_PARTITION,
    CurrentRow,
    NewTransition,
    TransitionRow,
    current_entity,
    new_transition_row,
    transition_entity,
    transition_key,
)
from shared.settings import read_settings
from shared.states import BillingPolicy
from shared.transitions import Change, state_before_first

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
    settings.get_settings.cache_clear()
    clients._process_ledger.cache_clear()


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
):
    """Write a VM's transitions and current row directly, 100 entities per transaction.

    ``history`` is (operation suffix, time) in time order, as ``shared.ledger`` would have recorded it from
    events delivered in order: each state derived from the one before with the same policy.
    """
    vm = parse_vm_id(resource_id)
    assert vm is not None
    table.upsert_entity({"PartitionKey": SUBSCRIPTIONS_PARTITION, "RowKey": vm.subscription_key})
    entities = []
    prev = None
    first: TransitionRow | None = None
    row: TransitionRow | None = None
    for index, (suffix, when) in enumerate(history):
        change: Change = change_for(suffix, SUCCEEDED)
        if index == 0:
            prev = state_before_first(change, when)
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}/{index}"))
        operation, event_type = _CHANGES[suffix]
        new = NewTransition(vm, when, change, SOURCE_EVENT, event_id, operation, event_type)
        row = new_transition_row(new, transition_key(vm, when, event_id), prev, policy)
        state = row.state
        first = first or row
        entities.append(("upsert", transition_entity(row, vm.subscription_key)))
        prev = state
    assert first is not None and row is not None
    current = CurrentRow(vm, row.state, policy.label, first.key, first.time, row.key, row.time, None)
    entities.append(("upsert", current_entity(current)))
    for start in range(0, len(entities), 100):
        table.submit_transaction(entities[start : start + 100])


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
