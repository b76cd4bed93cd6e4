"""Concurrent invocations on one VM, as the host runs a batch: nothing lost, nothing doubled."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.events import at, vm_id, wire_event
from shared.domain.ids import parse_vm_id
from shared.jobs import handle_event
from shared.sources import inbound_from_json

pytestmark = pytest.mark.azurite

ACTIONS = ["start", "powerOff", "deallocate", "restart"]


@pytest.mark.slow
def test_parallel_writers_on_one_vm_through_separate_instances_keep_every_event_once(fresh_ledger):
    vm = vm_id("busy")
    events = [wire_event("write", at(0), resource_id=vm)] + [
        wire_event(ACTIONS[i % 4], at(minutes=i + 1), resource_id=vm) for i in range(40)
    ]
    deliveries = events + random.Random(3).sample(events, 15)  # some delivered twice
    random.Random(5).shuffle(deliveries)
    instances = [fresh_ledger() for _ in range(4)]  # separate caches, like separate hosts
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda item: handle_event(inbound_from_json(item[1]), instances[item[0] % 4]),
                      enumerate(deliveries)))  # fmt: skip
    ledger = instances[0]
    rows = list(ledger.iter_transitions(parse_vm_id(vm)))
    assert len(rows) == len(events)
    assert [row.time for row in rows] == sorted(row.time for row in rows)
    expected = {"start": "running", "poweroff": "stopped", "deallocate": "deallocated", "restart": "running"}
    for row in rows[1:]:
        assert row.state.power_state == expected[row.evidence.operation_name.split("/")[-2].lower()]
        assert row.prev is not None
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert later.prev == earlier.state  # the chain is consistent after all the races
    current = ledger.get_current(parse_vm_id(vm))
    assert current.condition.state == rows[-1].state
    assert current.span.last_key == rows[-1].key
