"""The fault suite: the ledger loses nothing and doubles nothing when storage and Event Grid misbehave.

Every test runs the real ``on_vm_event`` (or the ledger it calls) against a real Azurite, either behind
``devtools.faultproxy`` (resets, 5xx, 429, failures after the write reached storage, hung or refused
storage) or a separate Azurite that is stopped mid-run. Deliveries follow Event Grid: at least once, in
any order, in parallel, and again whenever an invocation raised. The result is compared, entity by
entity, with a fault-free run of the same events in time order.

Run alone with ``pytest -m faults``.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

import function_app
from devtools.azurite import Azurite
from devtools.events import ACTION_FAILED, SUB, WRITE_FAILED, at, vm_id, wire_event
from devtools.faultproxy import WRITE_KINDS, FaultProxy, FaultRule
from devtools.worker import event_grid_argument
from shared import context, settings
from shared.answers import vm_report
from shared.domain.ids import parse_vm_id
from shared.errors import StorageUnavailable
from shared.jobs import handle_event, rebuild_month_rows
from shared.settings import read_settings
from shared.sources import inbound_from_binding
from shared.store import Ledger, open_ledger
from shared.store._entities import current_from_entity
from shared.store._keys import CURRENT_PREFIX, SUBSCRIPTIONS_PARTITION, TRANSITION_PREFIX
from shared.store._transition_entities import transition_from_entity

pytestmark = [pytest.mark.faults, pytest.mark.azurite]

OTHER_SUB = "3c1e9b7a-2d4f-4a6b-8e0c-7f5d1a2b3c4d"
MAX_DELIVERIES = 30  # Event Grid's default retry policy
HTTP_BUDGET_SECONDS = 30.0
# Each fault at a few per cent of requests: together roughly one request in six fails in some way.
STORAGE_FAULTS = (
    FaultRule("reset", 0.03),
    FaultRule("500", 0.03),
    FaultRule("503", 0.03),
    FaultRule("429", 0.01, retry_after="1"),
    FaultRule("reset", 0.03, kinds=WRITE_KINDS, after_forward=True),
    FaultRule("500", 0.02, kinds=WRITE_KINDS, after_forward=True),
    FaultRule("503", 0.02, after_forward=True),
)
# What a day of one VM's events looks like: mostly power actions, some updates, failures, hibernation.
_VERBS = (
    ("start", {}),
    ("start", {}),
    ("deallocate", {}),
    ("deallocate", {"url_query": "&hibernate=true"}),
    ("powerOff", {}),
    ("restart", {}),
    ("restart", {"event_type": ACTION_FAILED}),
    ("write", {}),
    ("write", {"event_type": WRITE_FAILED}),
    ("redeploy", {}),
    ("delete", {}),
)


# ---- fixtures and helpers ------------------------------------------------------------------------------


def _reset_process_state() -> None:
    context.reset()


def _point_app_at(monkeypatch: pytest.MonkeyPatch, connection_string: str, table: str) -> None:
    """What ``ledger_env`` does, for a connection string of our choosing (the proxy, a second Azurite)."""
    for name in (settings.STORAGE_SERVICE_URI, settings.BILLED_POWER_STATES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(settings.STORAGE_CONNECTION, connection_string)
    monkeypatch.setenv(settings.TABLE_NAME, table)
    _reset_process_state()


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.port, seed=20261123, queue_port=azurite.queue_port) as server:
        yield server


@pytest.fixture
def proxied_env(proxy: FaultProxy, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The function app's ledger goes through the proxy to a table of this test's own."""
    _point_app_at(monkeypatch, proxy.connection_string, table_name)
    yield table_name
    _reset_process_state()


def reference_ledger(azurite: Azurite, events: list[dict[str, Any]]) -> Ledger:
    """The fault-free run: every event once, straight to Azurite, in a table of its own.

    Each VM's events go in time order, one VM per thread at a time (VMs do not share rows).
    """
    env = {settings.STORAGE_CONNECTION: azurite.connection_string, settings.TABLE_NAME: _new_table()}
    ledger = open_ledger(read_settings(env))
    by_vm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for wire in events:
        by_vm[wire["subject"].lower()].append(wire)

    def record_in_order(history: list[dict[str, Any]]) -> None:
        for wire in sorted(history, key=_event_time):
            handle_event(inbound_from_binding(event_grid_argument(wire)), ledger)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(record_in_order, by_vm.values()))
    return ledger


def _new_table() -> str:
    return "ref" + uuid.uuid4().hex[:20]


def _event_time(wire: dict[str, Any]) -> str:
    return wire.get("eventTime") or wire["time"]


def vm_histories(vm_count: int, events_per_vm: int, *, seed: int) -> list[dict[str, Any]]:
    """Events of ``vm_count`` VMs in two subscriptions: a creation, then random operations over a day.

    Some events of one VM share a time (the ledger orders those by a hash of their id); after a delete
    the name is reused by a new creation. Ids come from ``seed``, so a run can be replayed exactly.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []

    def event(verb: str, when: datetime, resource_id: str, **options: Any) -> dict[str, Any]:
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return wire_event(verb, when, resource_id=resource_id, event_id=event_id, **options)

    for index in range(vm_count):
        resource_id = vm_id(f"vm-{index:04d}", f"rg-{index % 7}", SUB if index % 3 else OTHER_SUB)
        when = at(minutes=rng.randrange(60))
        events.append(event("write", when, resource_id))
        verb = "write"
        for _ in range(events_per_vm - 1):
            if rng.random() > 0.1:
                when += timedelta(minutes=rng.randrange(1, 120), microseconds=rng.randrange(1_000_000))
            verb, options = ("write", {}) if verb == "delete" else rng.choice(_VERBS)
            events.append(event(verb, when, resource_id, **options))
    return events


def snapshot(ledger: Ledger) -> dict[tuple[str, str], dict[str, Any]]:
    """Every entity of the ledger's table by key, properties only (no ETag or timestamp)."""
    return {
        (entity["PartitionKey"], entity["RowKey"]): dict(entity) for entity in ledger.table.list_entities()
    }


def billed_seconds(ledger: Ledger, resource_ids: set[str]) -> dict[str, tuple[float, float]]:
    """Billed and unknown seconds of each VM over two days from the first event, as ``get_vm`` counts."""
    start, end = at(0), at(hours=48)
    totals = {}
    for resource_id in resource_ids:
        report = vm_report(ledger, parse_vm_id(resource_id), start, end, end)
        totals[resource_id] = (report.totals.billed_seconds, report.totals.unknown_seconds)
    return totals


def assert_same_ledger(actual: Ledger, expected: Ledger, events: list[dict[str, Any]]) -> None:
    # Late events leave month rows to the timer's rebuild: compare what both ledgers are once it ran.
    for ledger in (expected, actual):
        rebuild_month_rows(ledger, max_vms=1_000_000)
    expected_rows = snapshot(expected)
    actual_rows = snapshot(actual)
    transitions = [key for key in expected_rows if key[1].startswith(TRANSITION_PREFIX)]
    assert len(transitions) == len({wire["id"] for wire in events}), "the reference run lost events"
    missing = sorted(set(expected_rows) - set(actual_rows))
    extra = sorted(set(actual_rows) - set(expected_rows))
    assert not missing, f"{len(missing)} rows lost, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} rows too many, e.g. {extra[:3]}"
    different = [key for key in expected_rows if actual_rows[key] != expected_rows[key]]
    assert not different, (
        f"{len(different)} rows differ, e.g. {_diff(actual_rows, expected_rows, different[0])}"
    )
    resource_ids = {wire["subject"] for wire in events}
    assert billed_seconds(actual, resource_ids) == billed_seconds(expected, resource_ids)


def _diff(actual: dict, expected: dict, key: tuple[str, str]) -> str:
    fields = sorted(set(actual[key]) | set(expected[key]))
    changed = {name: (actual[key].get(name), expected[key].get(name)) for name in fields}
    return f"{key}: " + json.dumps({k: v for k, v in changed.items() if v[0] != v[1]})


def assert_consistent(ledger: Ledger) -> None:
    """No half-written VM: its current row agrees with its transitions, which chain state to state (each
    row names the row before it), no state before a row starts after that row, and no rewrite is left
    marked as under way."""
    rows = snapshot(ledger)
    by_vm: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    currents: dict[tuple[str, str], dict[str, Any]] = {}
    for (partition, key), entity in rows.items():
        if key.startswith(TRANSITION_PREFIX):
            group, name = key.split("|")[1:3]
            by_vm[(partition, f"{group}|{name}")].append(entity)
        elif key.startswith(CURRENT_PREFIX):
            currents[(partition, key[len(CURRENT_PREFIX) :])] = entity
    assert set(by_vm) == set(currents), "a current row without transitions, or transitions without one"
    subscriptions = {key for partition, key in rows if partition == SUBSCRIPTIONS_PARTITION}
    assert {partition for partition, _ in currents} <= subscriptions
    for vm, entities in by_vm.items():
        transitions = sorted((transition_from_entity(entity) for entity in entities), key=lambda row: row.key)
        current = current_from_entity(currents[vm])
        assert current.span.first_key == transitions[0].key, vm
        assert current.span.last_key == transitions[-1].key, vm
        assert current.condition.state == transitions[-1].state, vm
        assert current.upkeep.pending is None, vm
        assert transitions[0].prev_key == "", vm
        for before, after in zip(transitions, transitions[1:], strict=False):
            assert after.prev == before.state, (vm, after.key)
            assert after.prev_key == before.key, (vm, after.key)
        for row in transitions:
            if row.prev is not None:
                assert row.prev.since <= row.time, ("prevSince after its own time", vm, row.key)


class Deliveries:
    """Event Grid's side: batches delivered in parallel, a whole batch again if any invocation raised."""

    def __init__(self, events: list[dict[str, Any]], *, batch_size: int, seed: int) -> None:
        rng = random.Random(seed)
        shuffled = list(events)
        rng.shuffle(shuffled)
        self.pending: queue.Queue[tuple[int, list[dict[str, Any]]]] = queue.Queue()
        for start in range(0, len(shuffled), batch_size):
            self.pending.put((1, shuffled[start : start + batch_size]))
        self.raised: list[BaseException] = []
        self.abandoned: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def run(self, deliver: Callable[[func.EventGridEvent], None], *, workers: int) -> None:
        threads = [threading.Thread(target=self._work, args=(deliver,)) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _work(self, deliver: Callable[[func.EventGridEvent], None]) -> None:
        while True:
            try:
                attempt, batch = self.pending.get_nowait()
            except queue.Empty:
                return
            failed = False
            for wire in batch:
                try:
                    deliver(event_grid_argument(wire))
                except Exception as err:  # what the Functions host reports to Event Grid as a failure
                    failed = True
                    with self._lock:
                        self.raised.append(err)
            if failed and attempt < MAX_DELIVERIES:
                self.pending.put((attempt + 1, batch))
            elif failed:
                with self._lock:
                    self.abandoned.append(batch)


def get_vm(resource_id: str) -> tuple[int, dict[str, Any], float]:
    """Call the real ``get_vm`` function; also return how long it took (only ever as an upper bound)."""
    parts = resource_id.split("/")
    route = {"subscriptionId": parts[2], "resourceGroup": parts[4], "vmName": parts[8]}
    request = func.HttpRequest(
        "GET", "http://localhost/api/vms/" + "/".join(route.values()), body=b"", route_params=route
    )
    began = time.monotonic()
    response = function_app.get_vm(request)
    return response.status_code, json.loads(response.get_body()), time.monotonic() - began


def list_vms() -> tuple[int, dict[str, Any]]:
    response = function_app.list_vms(func.HttpRequest("GET", "http://localhost/api/vms", body=b""))
    return response.status_code, json.loads(response.get_body())


def deliver_raises(wire: dict[str, Any]) -> bool:
    try:
        function_app.on_vm_event(event_grid_argument(wire))
    except Exception:
        return True
    return False


# ---- redelivery under storage faults --------------------------------------------------------------------


def test_redelivered_events_under_storage_faults_leave_exactly_the_ledger_of_a_fault_free_run(
    azurite, proxy, proxied_env
):
    events = vm_histories(200, 10, seed=1)
    expected = reference_ledger(azurite, events)
    # Event Grid also delivers some events twice although nothing failed.
    deliveries = Deliveries(events + random.Random(2).sample(events, 100), batch_size=4, seed=3)

    proxy.set_faults(STORAGE_FAULTS, seed=4)
    deliveries.run(function_app.on_vm_event, workers=8)
    proxy.heal()

    assert not deliveries.abandoned, "a batch still failed after Event Grid's last retry"
    injected = proxy.faults_injected()
    for fault in ("reset", "500", "503", "429", "reset-after", "500-after", "503-after"):
        assert injected[fault] > 0, f"no {fault} fault was injected: {injected}"
    assert deliveries.raised, "no invocation raised: the faults did not reach the event path"
    assert_consistent(context.get_ledger())
    assert_same_ledger(context.get_ledger(), expected, events)


# ---- stale warm cache ------------------------------------------------------------------------------------
# A warm instance's cached current row goes stale when a write reached storage but its answer was lost, or
# when another instance wrote. The fault run above found the consequence; these two replay it exactly.

STALE_CACHE_VM = vm_id("stale-vm", "rg-cache")


def _deliver_to(ledger: Ledger, verb: str, hours: float, **options: Any) -> dict[str, Any]:
    wire = wire_event(verb, at(hours=hours), resource_id=STALE_CACHE_VM, **options)
    handle_event(inbound_from_binding(event_grid_argument(wire)), ledger)
    return wire


def test_a_late_event_after_a_write_whose_answer_was_lost_keeps_the_current_row_in_step(
    azurite, proxy, proxied_env
):
    ledger = context.get_ledger()
    created = _deliver_to(ledger, "write", 1)
    deallocated = _deliver_to(ledger, "deallocate", 5)  # cached: deallocated since 05:00
    # A late deallocate at 02:00 reaches storage (the current row now says "since 02:00"); its answer is lost.
    proxy.set_faults([FaultRule("reset", 1.0, kinds=frozenset({"batch"}), after_forward=True)])
    late = wire_event("deallocate", at(hours=2), resource_id=STALE_CACHE_VM)
    with pytest.raises(StorageUnavailable):
        handle_event(inbound_from_binding(event_grid_argument(late)), ledger)
    proxy.heal()
    # A later late event puts a start at 03:00: the VM is deallocated since 05:00 again, as cached.
    started = _deliver_to(ledger, "start", 3)
    handle_event(inbound_from_binding(event_grid_argument(late)), ledger)  # Event Grid's redelivery

    assert_consistent(ledger)
    events = [created, deallocated, late, started]
    assert_same_ledger(ledger, reference_ledger(azurite, events), events)


def test_a_late_event_from_an_instance_with_a_stale_cache_keeps_the_current_row_in_step(
    azurite, ledger_env, fresh_ledger
):
    first, second = fresh_ledger(), fresh_ledger()
    events = [
        _deliver_to(first, "write", 1),
        _deliver_to(first, "deallocate", 5),  # first instance caches: deallocated since 05:00
        _deliver_to(second, "deallocate", 2),  # the current row now says "deallocated since 02:00"
        _deliver_to(first, "start", 3),  # deallocated since 05:00 again, as the first instance cached
    ]

    assert_consistent(first)
    assert_same_ledger(first, reference_ledger(azurite, events), events)


# ---- parallel batch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("instances", ["one instance", "sixteen instances"])
def test_sixteen_threads_delivering_one_vms_events_at_once_lose_none_and_double_none(
    azurite, ledger_env, fresh_ledger, instances
):
    resource_id = vm_id("busy-vm", "rg-batch")
    events = vm_histories(1, 48, seed=5)
    events = [wire_event_for(resource_id, wire) for wire in events]
    expected = reference_ledger(azurite, events)
    # Every event twice, so two threads often hold the same event at the same moment.
    work = events + events
    random.Random(6).shuffle(work)
    ledgers = [fresh_ledger() for _ in range(16)] if instances == "sixteen instances" else None
    gate = threading.Barrier(16)

    def thread(index: int) -> None:
        gate.wait()
        for wire in work[index::16]:
            for _ in range(MAX_DELIVERIES):
                try:
                    if ledgers is None:
                        function_app.on_vm_event(event_grid_argument(wire))
                    else:
                        handle_event(inbound_from_binding(event_grid_argument(wire)), ledgers[index])
                    break
                except Exception:  # redelivered, as Event Grid would
                    continue
            else:
                raise AssertionError(f"event {wire['id']} never got recorded")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(thread, range(16)))

    assert_consistent(context.get_ledger())
    assert_same_ledger(context.get_ledger(), expected, events)


def wire_event_for(resource_id: str, wire: dict[str, Any]) -> dict[str, Any]:
    """The same event about another VM."""
    data = dict(wire["data"], resourceUri=resource_id)
    return dict(wire, subject=resource_id, data=data)


# ---- storage outage --------------------------------------------------------------------------------------


def test_an_outage_that_cuts_writes_in_flight_leaves_nothing_half_written_and_redelivery_completes(
    azurite, proxy, proxied_env
):
    events = sorted(vm_histories(30, 6, seed=7), key=_event_time)
    expected = reference_ledger(azurite, events)
    before, during = events[:90], events[90:]
    for wire in before:
        function_app.on_vm_event(event_grid_argument(wire))

    # The storage applies the next write, then the network dies before the answer comes back.
    proxy.set_faults([FaultRule("reset", 1.0, kinds=frozenset({"batch"}), after_forward=True)])
    assert deliver_raises(during[0])
    proxy.refuse()
    assert all(deliver_raises(wire) for wire in during[1:])
    status, body, _ = get_vm(during[1]["subject"])
    assert (status, body["error"]["code"]) == (503, "StorageUnavailable")
    assert list_vms()[0] == 503

    proxy.heal()
    assert_consistent(context.get_ledger())
    recorded = snapshot(context.get_ledger())
    assert sum(key.startswith(TRANSITION_PREFIX) for _, key in recorded) == len(before) + 1
    random.Random(8).shuffle(during)
    for wire in during:  # Event Grid's retries after the outage
        function_app.on_vm_event(event_grid_argument(wire))
    assert_same_ledger(context.get_ledger(), expected, events)


def test_hung_storage_answers_http_with_503_within_30_seconds_and_makes_events_raise(proxy, proxied_env):
    resource_id = vm_id("hung-vm")
    function_app.on_vm_event(event_grid_argument(wire_event("write", at(hours=1), resource_id=resource_id)))
    proxy.black_hole()
    with ThreadPoolExecutor(2) as pool:
        answer = pool.submit(get_vm, resource_id)
        event = pool.submit(deliver_raises, wire_event("start", at(hours=2), resource_id=resource_id))
        status, body, seconds = answer.result()
        raised = event.result()
    proxy.heal()
    assert (status, body["error"]["code"]) == (503, "StorageUnavailable")
    assert seconds < HTTP_BUDGET_SECONDS
    assert "Traceback" not in json.dumps(body)
    assert raised


@pytest.mark.parametrize("instance", ["warm instance", "cold instance"])
def test_a_stopped_azurite_makes_events_raise_and_http_answer_503_within_30_seconds(
    table_name, monkeypatch, instance
):
    resource_id = vm_id("outage-vm")
    with Azurite() as storage:
        _point_app_at(monkeypatch, storage.connection_string, table_name)
        function_app.on_vm_event(
            event_grid_argument(wire_event("write", at(hours=1), resource_id=resource_id))
        )
        status, _, _ = get_vm(resource_id)
        assert status == 200
        storage.stop()
        if instance == "cold instance":
            _reset_process_state()  # a new instance: building the clients fails as well

        assert deliver_raises(wire_event("start", at(hours=2), resource_id=resource_id))
        status, body, seconds = get_vm(resource_id)
        assert (status, body["error"]["code"]) == (503, "StorageUnavailable")
        assert seconds < HTTP_BUDGET_SECONDS
        assert list_vms()[0] == 503
    _reset_process_state()
