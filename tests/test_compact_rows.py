"""Transition rows and month-row entries are written compact since issue 24; rows written before read back
the same, and a ledger holding both answers as it did.

``tests/data/stored_rows_51ef880.json`` holds every entity the code at commit 51ef880 wrote for the
storage bench's workload (a month of three VMs, every source of evidence), captured by
``python -m bench.storage_size --capture`` before the layout changed. Today's code writes the same
workload compact; each captured row must read back to exactly the record today's row reads back to.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bench.storage_size import captured, entity_size, per_transition, sizes, workload, written_entities
from shared.domain.evidence import NewTransition, ResourceEvent
from shared.domain.operations import SUCCEEDED, change_for
from shared.store import Outcome
from shared.store._compact import long_name, policy_label, policy_mask, short_name
from shared.store._entities import current_from_entity
from shared.store._month_rows import collect
from shared.store._transition_entities import transition_entity, transition_from_entity

OLD = {(entity["PartitionKey"], entity["RowKey"]): entity for entity in captured()}
NEW = {(entity["PartitionKey"], entity["RowKey"]): entity for entity in written_entities()}


def _of(rows: dict, prefix: str) -> dict:
    return {key: entity for key, entity in rows.items() if key[1].startswith(prefix)}


def test_the_capture_and_today_s_rows_have_the_same_keys():
    assert OLD.keys() == NEW.keys()
    assert len(_of(OLD, "tx|")) == sum(len(history) for history in workload())


def test_every_captured_transition_row_reads_back_as_today_s_row_of_the_same_transition():
    for key, old in _of(OLD, "tx|").items():
        assert "stateExists" in old  # the older, wide layout
        assert transition_from_entity(old) == transition_from_entity(NEW[key])
        # Written again, an older row comes out exactly as today's code writes it.
        assert transition_entity(transition_from_entity(old), key[0]) == NEW[key]


def test_captured_month_rows_read_back_as_today_s_entries():
    def entries(rows: dict) -> dict:
        found = collect(_of(rows, "mo|").values())
        return {
            (vm, month): (data.has_start, data.start, [(e.time, e.state, e.origin) for e in data.entries])
            for vm, months in found.items()
            for month, data in months.items()
        }

    old, new = entries(OLD), entries(NEW)
    assert old == new and old
    assert all(entity_size(NEW[key]) < entity_size(OLD[key]) for key in _of(OLD, "mo|"))


def test_day_rows_and_current_rows_keep_their_layout():
    for prefix in ("dy|", "vm|"):
        assert _of(OLD, prefix) == _of(NEW, prefix)


def test_a_transition_is_stored_in_under_half_the_bytes():
    assert per_transition(sizes(NEW.values())) < per_transition(sizes(OLD.values())) / 2


@pytest.mark.parametrize(
    "value",
    ["Microsoft.Compute/virtualMachines/start/action", "Microsoft.Resources.ResourceActionSuccess",
     "reconcile/listAll", "~v/start/action", "~~", "~", "", "health/ResourceAnnotated/X"],
)  # fmt: skip
def test_a_short_name_gives_back_exactly_the_name(value):
    assert long_name(short_name(value)) == value


@pytest.mark.parametrize("label", ["starting,running,stopping,stopped", "running", "", "running,bogus"])
def test_a_policy_mask_gives_back_exactly_the_label(label):
    assert policy_label(policy_mask(label)) == label


def _plain(rows):
    return [replace(row, etag=None) for row in rows]


@pytest.mark.azurite
def test_a_ledger_of_captured_rows_answers_as_before_and_records_on_top_of_them(ledger):
    for entity in OLD.values():
        ledger.table.upsert_entity(entity)
    vm = workload()[0][0].vm
    today = sorted(
        (transition_from_entity(entity) for key, entity in _of(NEW, "tx|").items() if key[1].startswith(
            f"tx|{vm.vm_key}|")),
        key=lambda row: row.key,
    )  # fmt: skip
    assert _plain(ledger.iter_transitions(vm)) == today
    current_key = (vm.subscription_key, f"vm|{vm.vm_key}")
    assert ledger.get_current(vm).with_etag(None) == current_from_entity(NEW[current_key])

    last, middle = today[-1], today[len(today) // 2]
    start = "Microsoft.Compute/virtualMachines/start/action"
    power_off = "Microsoft.Compute/virtualMachines/powerOff/action"
    after = NewTransition(
        vm,
        last.time + timedelta(hours=1),
        change_for("start/action", SUCCEEDED),
        ResourceEvent("after-the-capture", start),
    )
    late = NewTransition(vm, middle.time + timedelta(minutes=1), change_for("powerOff/action", SUCCEEDED),
                         ResourceEvent("late", power_off))  # fmt: skip
    assert ledger.record(after) == Outcome.RECORDED
    assert ledger.record(late) == Outcome.RECORDED
    assert ledger.record(late) == Outcome.DUPLICATE

    rows = list(ledger.iter_transitions(vm))
    assert len(rows) == len(today) + 2
    for before, row in zip(rows, rows[1:], strict=False):
        assert (row.prev_key, row.prev) == (before.key, before.state)  # one chain through old rows and new
    stored = {entity["RowKey"]: entity for entity in ledger.table.list_entities()}
    assert "S" in stored[rows[-1].key] and "stateExists" not in stored[rows[-1].key]
    assert ledger.get_current(vm).span.last_key == rows[-1].key
