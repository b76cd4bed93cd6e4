"""Month rows (a VM's transitions of one month, kept beside the ledger for fleet answers).

Storage-free: what an in-order append and a late rewrite plan, and that reading them back gives the
state chain. On Azurite: any delivery order leaves exactly the rows in-order delivery leaves.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from devtools.events import at, vm_id, wire_event
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.ids import parse_vm_id
from shared.domain.operations import SUCCEEDED, change_for
from shared.domain.times import months_from
from shared.domain.vm_state import BillingPolicy, state_before_first
from shared.jobs import handle_event, rebuild_month_rows
from shared.sources import inbound_from_json
from shared.store import Condition, CurrentRow, Span, Upkeep
from shared.store._keys import transition_key
from shared.store._month_rows import (
    CHUNK,
    GAP_LIMIT,
    MarkCounter,
    collect,
    month_key,
    plan_append,
    plan_rebuild,
)
from shared.store._records import new_transition_row

POLICY = BillingPolicy.parse(None)
VM = parse_vm_id(vm_id("web-01", "rg-shop"))
PARTITION = VM.subscription_key


def history(*steps: tuple[str, datetime]) -> list:
    """Transition rows of ``VM`` recorded in order from (operation suffix, time) steps."""
    rows = []
    prev, prev_key = None, ""
    for index, (suffix, when) in enumerate(steps):
        new = NewTransition(VM, when, change_for(suffix, SUCCEEDED), ResourceEvent(f"e{index}", suffix))
        prev = state_before_first(new.change, when) if index == 0 else prev
        row = new_transition_row(new, transition_key(VM, when, new.evidence.id), prev, POLICY, prev_key)
        rows.append(row)
        prev, prev_key = row.state, row.key
    return rows


def appended(rows) -> tuple[dict[str, dict], CurrentRow]:
    """The month-row entities that appending ``rows`` one by one writes (merges applied), and the mark."""
    tables: dict[str, dict] = {}
    current = None
    for row in rows:
        operations, mark = plan_append(current, row, VM.vm_key, PARTITION)
        for _, entity, options in operations:
            target = tables.setdefault(entity["RowKey"], {}) if options["mode"] == "merge" else {}
            target.update(entity)
            tables[entity["RowKey"]] = target
        span = Span(row.key, row.time, row.key, row.time)
        first = current or CurrentRow(VM, Condition(row.state, POLICY.label), span, None)
        current = replace(
            first,
            condition=Condition(row.state, POLICY.label),
            span=replace(first.span, last_key=row.key, last_time=row.time),
            upkeep=Upkeep(months=mark),
        )
    return tables, current


def rebuilt(rows) -> tuple[dict[str, dict], object]:
    counter = MarkCounter()
    operations = list(plan_rebuild(counter.seen(rows), VM.vm_key, PARTITION))
    return {entity["RowKey"]: dict(entity) for _, entity, _ in operations}, counter.mark()


NOV = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "steps",
    [
        [("write", NOV + timedelta(hours=8)), ("deallocate/action", NOV + timedelta(hours=9))],
        # across months, with two quiet months between
        [
            ("write", NOV),
            ("deallocate/action", NOV + timedelta(days=40)),
            ("start/action", NOV + timedelta(days=100)),
        ],
        # more transitions in a month than one row holds
        [("write", NOV)]
        + [
            ("deallocate/action" if i % 2 else "start/action", NOV + timedelta(minutes=i))
            for i in range(1, CHUNK + 30)
        ],
        # a gap longer than the quiet rows cover
        [("write", NOV), ("start/action", NOV + timedelta(days=31 * (GAP_LIMIT + 6)))],
    ],
)
def test_appending_in_order_writes_what_rewriting_the_whole_history_writes(steps):
    rows = history(*steps)
    by_append, current = appended(rows)
    by_rebuild, mark = rebuilt(rows)
    assert by_append == by_rebuild
    assert current.upkeep.months == mark
    assert mark.before_first == "null"  # before a creation the VM did not exist


def test_quiet_months_get_a_start_row_up_to_the_limit():
    rows = history(("write", NOV), ("start/action", NOV + timedelta(days=31 * (GAP_LIMIT + 6))))
    entities, _ = rebuilt(rows)
    months = sorted({key.split("|")[1] for key in entities})
    assert months[0] == "2026-11"
    assert months[1 : GAP_LIMIT + 1] == months_from("2026-12", months[GAP_LIMIT])
    assert len(months) == GAP_LIMIT + 2  # the first month, the quiet ones, the month of the start


def test_reading_back_gives_each_months_start_and_entries_in_order():
    steps = [("write", NOV)] + [("start/action" if i % 2 else "deallocate/action", NOV + timedelta(minutes=i))
                                for i in range(1, CHUNK + 5)]  # fmt: skip
    steps.append(("deallocate/action", NOV + timedelta(days=62)))
    rows = history(*steps)
    entities, _ = rebuilt(rows)
    months = collect(reversed(list(entities.values())))  # any order of rows
    november, december, january = (
        months[VM.vm_key]["2026-11"],
        months[VM.vm_key]["2026-12"],
        months[VM.vm_key]["2027-01"],
    )
    assert november.has_start and november.start is None
    assert [entry.time for entry in november.entries] == [row.time for row in rows[:-1]]
    assert [entry.state.power_state for entry in november.entries] == [
        row.state.power_state for row in rows[:-1]
    ]
    assert december.has_start and december.entries == []
    assert december.start.power_state == rows[-2].state.power_state
    assert [entry.origin.operation_name for entry in january.entries] == ["deallocate/action"]
    assert month_key(VM.vm_key, "2026-11", 1) in entities


def test_month_keys_sort_like_the_vms_current_rows():
    names = ["web", "web-01", "web.2", "web_3", "w"]
    by_current = sorted(f"rg|{name}" for name in names)
    by_month = [
        key.split("|", 2)[2].rsplit("!", 1)[0]
        for key in sorted(month_key(f"rg|{n}", "2026-11", 0) for n in names)
    ]
    assert by_month == by_current


@pytest.mark.slow
@pytest.mark.azurite
def test_any_delivery_order_leaves_the_month_rows_in_order_delivery_leaves(fresh_ledger):
    """Two VMs' months, delivered in order into one table and shuffled (with redeliveries) into another."""
    resource_ids = [vm_id("a"), vm_id("b", "rg-other")]
    verbs = ["start", "powerOff", "deallocate", "restart"]
    events = []
    for resource_id in resource_ids:
        events.append(wire_event("write", at(hours=-24 * 40), resource_id=resource_id))
        events += [
            wire_event(verbs[i % 4], at(hours=-24 * 40 + 19 * i), resource_id=resource_id)
            for i in range(1, 60)
        ]
    in_order, shuffled = fresh_ledger(), fresh_ledger()
    in_order_table = _other_table(in_order)
    for wire in events:
        handle_event(inbound_from_json(wire), in_order_table)
    deliveries = events + random.Random(7).sample(events, 20)
    random.Random(11).shuffle(deliveries)
    for wire in deliveries:
        handle_event(inbound_from_json(wire), shuffled)
    late = [row for row in shuffled.iter_current_rows() if row.upkeep.months is None]
    assert late, "the shuffled delivery has late events: their VMs' month rows wait for the rebuild"
    assert rebuild_month_rows(shuffled).rebuilt == len(late)
    assert _rows(shuffled) == _rows(in_order_table)
    months = in_order_table.months.read(VM.subscription_id, ["2026-10", "2026-11", "2026-12"])
    assert set(months) == {"rg-app|a", "rg-other|b"}


def _other_table(ledger):
    """A ledger on a second table of the same Azurite (its own name)."""
    from azure.data.tables import TableServiceClient

    from shared.store import Ledger

    service = TableServiceClient.from_connection_string(os.environ["VM_LEDGER_STORAGE"])
    return Ledger(service.create_table_if_not_exists(ledger.table.table_name + "x"), ledger.policy)


def _rows(ledger) -> dict:
    return {
        entity["RowKey"]: {k: v for k, v in entity.items() if k not in ("PartitionKey",)}
        for entity in ledger.table.list_entities()
    }
