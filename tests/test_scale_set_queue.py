"""Scale-set-level events leave the Event Grid invocation: ``on_vm_event`` sends one queue message and
``record_scale_set_event`` (the queue trigger) lists and records, on a real Azurite (table and queue) with
the loopback fake ARM. Round trips are counted on the wire by counting proxies, never timed.

Event Grid waits 30 s for an answer (Learn, "Event Grid message delivery and retry"); a deallocate of a
5,000-instance set once took 184 s inside the event invocation.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

import function_app
from devtools.azurite import connection_string
from devtools.events import SUB, at, instance_id, scale_set_id, scale_set_operation, vm_id, wire_event
from devtools.fake_arm import FakeArm, Faults, make_instance, make_scale_set
from devtools.faultproxy import FaultProxy, FaultRule
from devtools.queue_host import QueueSettings, QueueTrigger
from devtools.worker import event_grid_argument, queue_argument
from shared import context, settings
from shared.domain.ids import parse_vm_id
from shared.errors import ConfigurationError, StorageUnavailable
from shared.jobs import MAX_DEQUEUE_COUNT, reconcile_subscription
from shared.settings import read_settings
from shared.sources import (
    ArmClient,
    ScaleSetEvent,
    inbound_from_json,
    parse_resource_event,
    read_scale_set_message,
    scale_set_message,
)
from shared.sources.scale_set_messages import MAX_MESSAGE_BYTES
from tests.factories import deliver, run_queued

pytestmark = pytest.mark.azurite

SMALL = make_scale_set(SUB, "rg-app", "small-ss", capacity=3)
LARGE = make_scale_set(SUB, "rg-app", "large-ss", capacity=120)
HOST_JSON = QueueSettings.from_host_json()


def listed(scale_set: dict, count: int, power: str = "deallocated") -> list[dict]:
    return [make_instance(scale_set, str(n), power=power) for n in range(count)]


def set_event(verb: str, hours: float, name: str = "web-ss", **options) -> dict:
    return wire_event(verb, at(hours=hours), resource_id=scale_set_id(name),
                      operation=scale_set_operation(verb), **options)  # fmt: skip


@pytest.fixture
def fake(ledger_env, monkeypatch) -> Iterator[FakeArm]:
    with FakeArm({SUB: []}) as server:
        server.set_scale_sets(SUB, [{"scaleSet": SMALL, "instances": listed(SMALL, 3)},
                                    {"scaleSet": LARGE, "instances": listed(LARGE, 120)}])  # fmt: skip
        monkeypatch.setenv(settings.ARM_ENDPOINT, server.url)
        context.reset()
        yield server


@pytest.fixture
def counted(azurite, fake, monkeypatch) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """The app's table and queue both behind counting proxies."""
    with FaultProxy(azurite.port) as tables, FaultProxy(azurite.queue_port) as queues:
        monkeypatch.setenv(settings.STORAGE_CONNECTION, connection_string(tables.port, queues.port))
        context.reset()
        yield tables, queues


def queue_messages(queue_name: str, azurite) -> list[str]:
    client = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    return [base64.b64decode(message.content).decode() for message in client.peek_messages(max_messages=32)]


# ---- the event invocation ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_scale_set_event_costs_the_invocation_one_queue_send_whatever_the_set_size(fake, counted):
    tables, queues = counted
    # A warm instance: its ledger open and its queue created by earlier events.
    deliver(wire_event("write", at(hours=7), resource_id=vm_id("warm-up")))
    function_app.on_vm_event(event_grid_argument(set_event("write", 8, "small-ss")))
    costs = {}
    for name, verb, hours in (("small-ss", "deallocate", 9), ("large-ss", "deallocate", 9)):
        for proxy in (tables, queues):
            proxy.reset_counts()
        before = len(fake.requests)
        function_app.on_vm_event(event_grid_argument(set_event(verb, hours, name)))
        costs[name] = (len(fake.requests) - before, tables.total(), queues.total())
    assert costs == {"small-ss": (0, 0, 1), "large-ss": (0, 0, 1)}  # (ARM, Table, Queue) round trips

    deliveries = run_queued()
    assert [delivery.outcome for delivery in deliveries] == ["done"] * 3
    for n in range(120):
        current = fake_current(instance_id(str(n), "large-ss"))
        assert current.condition.state.power_state == "deallocated" and current.span.last_time == at(hours=9)


def fake_current(resource_id: str):
    return context.get_ledger().get_current(parse_vm_id(resource_id))


@pytest.mark.slow
def test_a_queue_that_does_not_take_the_message_fails_the_invocation_so_event_grid_retries(
    azurite, fake, monkeypatch
):
    with FaultProxy(azurite.queue_port) as queues:
        monkeypatch.setenv(settings.STORAGE_CONNECTION, connection_string(azurite.port, queues.port))
        context.reset()
        queues.set_faults([FaultRule("503", 1.0)])
        with pytest.raises(StorageUnavailable):
            function_app.on_vm_event(event_grid_argument(set_event("deallocate", 9, "small-ss")))
        assert len(queues.seen) == 3  # the first try and the SDK's two retries, then it raises
        queues.heal()
        # Event Grid's retry.
        function_app.on_vm_event(event_grid_argument(set_event("deallocate", 9, "small-ss")))
        assert fake.requests == []
        assert [delivery.outcome for delivery in run_queued()] == ["done"]


# ---- the queue function ---------------------------------------------------------------------------------


def test_the_same_event_twice_and_the_same_message_twice_record_nothing_twice(
    fake, ledger, queue_name, azurite
):
    event = set_event("deallocate", 9, "small-ss")
    function_app.on_vm_event(event_grid_argument(event))
    function_app.on_vm_event(event_grid_argument(event))  # Event Grid redelivers: a second message
    message = queue_messages(queue_name, azurite)[0]
    QueueClient.from_connection_string(azurite.connection_string, queue_name).send_message(
        base64.b64encode(message.encode()).decode()  # the host hands one message out again
    )
    assert [delivery.outcome for delivery in run_queued()] == ["done"] * 3
    rows = sorted((e["PartitionKey"], e["RowKey"]) for e in ledger.table.list_entities())
    assert len(rows) == len(set(rows))
    once = [row for row in ledger.iter_transitions(parse_vm_id(instance_id("0", "small-ss")))]
    assert [(row.time, row.evidence.source) for row in once] == [(at(hours=9), "event")]


@pytest.mark.slow
def test_a_message_that_fails_is_retried_with_its_dequeue_count_and_then_recorded(fake, ledger, caplog):
    fake.faults = Faults(fail_page=1, fail_status=500)
    function_app.on_vm_event(event_grid_argument(set_event("deallocate", 9, "small-ss")))
    app = read_settings()
    trigger = QueueTrigger(function_app.record_scale_set_event, app.storage.connection_string,
                           app.queue_name, QueueSettings(visibility_timeout=0))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        first = trigger.poll_once()
    assert [(d.outcome, d.dequeue_count) for d in first] == [("retry", 1)]
    assert "attempt 1 of 5 failed" in caplog.text and "the host tries again" in caplog.text
    fake.faults = Faults()
    assert [(d.outcome, d.dequeue_count) for d in trigger.drain()] == [("done", 2)]
    assert fake_current(instance_id("2", "small-ss")).span.last_time == at(hours=9)


@pytest.mark.slow
def test_a_message_that_fails_every_time_goes_to_the_poison_queue_logged_and_reconcile_still_converges(
    fake, ledger, queue_name, azurite, caplog
):
    fake.faults = Faults(fail_page=1, fail_status=403)
    event = set_event("deallocate", 9, "small-ss")
    function_app.on_vm_event(event_grid_argument(event))
    sent = queue_messages(queue_name, azurite)
    with caplog.at_level(logging.WARNING):
        deliveries = run_queued()
    assert [(d.outcome, d.dequeue_count) for d in deliveries] == [
        *(("retry", n) for n in range(1, MAX_DEQUEUE_COUNT)),
        ("poison", MAX_DEQUEUE_COUNT),
    ]
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "shared.jobs.scale_set_queue"
    ]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert event["id"] in text and scale_set_id("small-ss") in text and "poison queue" in text
    assert "next reconcile" in text
    assert queue_messages(queue_name + "-poison", azurite) == sent  # kept as it was, for a look or a replay
    assert list(ledger.table.list_entities()) == []

    fake.faults = Faults()
    client = ArmClient(fake.url, "2024-07-01", retry_total=0)
    report = reconcile_subscription(ledger, SUB, client.iter_fleet_pages(SUB))
    assert report.failure is None
    assert fake_current(instance_id("1", "small-ss")).condition.state.power_state == "deallocated"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"version": 2}),
        json.dumps({"version": 1, "eventId": "x", "hibernate": False}),
        "x" * (MAX_MESSAGE_BYTES + 1),
    ],
    ids=["not-json", "other-version", "no-scale-set", "too-long"],
)
def test_a_malformed_message_is_logged_and_skipped_not_retried(
    fake, ledger, queue_name, azurite, caplog, body
):
    client = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    client.create_queue()
    client.send_message(base64.b64encode(body.encode()).decode())
    with caplog.at_level(logging.WARNING):
        assert [delivery.outcome for delivery in run_queued()] == ["done"]
    assert "queue message skipped" in caplog.text
    assert fake.requests == [] and list(ledger.table.list_entities()) == []


def test_the_queue_function_takes_the_workers_queue_message_binding(fake, ledger, queue_name, azurite):
    function_app.on_vm_event(event_grid_argument(set_event("deallocate", 9, "small-ss")))
    client = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    message = next(iter(client.receive_messages()))
    message.content = base64.b64decode(message.content).decode()  # what the host hands the worker
    argument = queue_argument(message)
    assert argument.dequeue_count == 1 and argument.id == message.id
    function_app.record_scale_set_event(argument)
    assert fake_current(instance_id("0", "small-ss")).span.last_time == at(hours=9)


# ---- the message ----------------------------------------------------------------------------------------


def parsed(wire: dict) -> ScaleSetEvent:
    event = parse_resource_event(inbound_from_json(wire))
    assert isinstance(event, ScaleSetEvent)
    return event


def test_the_message_carries_what_the_listing_needs_and_no_caller_data():
    wire = set_event("deallocate", 9, url_query="&hibernate=true")
    text = scale_set_message(parsed(wire))
    fields = json.loads(text)
    assert set(fields) == {"version", "eventId", "eventType", "eventTime", "scaleSetId", "operationName",
                           "hibernate"}  # fmt: skip
    assert fields["hibernate"] is True and fields["eventTime"] == "2026-11-23T09:00:00.000000Z"
    data = wire["data"]
    private = ["Ada Lovelace", "ada@contoso.example", "203.0.113.7", "5c8f3f2d0a1b4c5d9e8f7a6b5c4d3e2f",
               data["correlationId"], data["httpRequest"]["clientRequestId"], data["tenantId"]]  # fmt: skip
    assert [value for value in private if value in text] == []
    assert read_scale_set_message(text) == parsed(wire)


def test_a_message_is_far_below_the_queues_64_kib_with_every_field_at_its_longest():
    group = "\U0001d4d0" * 89 + "g"  # letters outside the BMP: 12 escaped characters each
    operation = "Microsoft.Compute/virtualMachineScaleSets/performMaintenance/action"
    wire = wire_event("deallocate", at(hours=9), event_id="\U0001f600" * 256,
                      resource_id=scale_set_id("\u00fc" * 64, group=group), operation=operation)  # fmt: skip
    text = scale_set_message(parsed(wire))
    assert len(text) <= MAX_MESSAGE_BYTES and text.isascii()
    assert len(base64.b64encode(text.encode())) < 64 * 1024 // 4
    assert read_scale_set_message(text) == parsed(wire)


def test_host_json_retries_as_the_code_says_and_sends_base64():
    assert HOST_JSON.max_dequeue_count == MAX_DEQUEUE_COUNT
    assert HOST_JSON.visibility_timeout > 0 and HOST_JSON.max_polling_interval <= 10
    assert HOST_JSON.batch_size <= 8


@pytest.mark.parametrize(
    "name", ["ab", "Upper-case", "two--hyphens", "-edge", "edge-", "x" * 57, "under_score"]
)
def test_a_queue_name_azure_or_the_poison_suffix_would_refuse_is_a_configuration_error(name):
    with pytest.raises(ConfigurationError, match="VM_LEDGER_QUEUE"):
        read_settings({settings.STORAGE_CONNECTION: "UseDevelopmentStorage=true", settings.QUEUE_NAME: name})


def test_the_queue_uri_must_be_https_and_is_required_only_when_a_scale_set_event_needs_it():
    env = {settings.STORAGE_SERVICE_URI: "https://acct.table.core.windows.net"}
    with pytest.raises(ConfigurationError, match="VM_LEDGER_STORAGE__queueServiceUri"):
        read_settings({**env, settings.STORAGE_QUEUE_SERVICE_URI: "http://acct.queue.core.windows.net"})
    assert read_settings(env).storage.queue_service_uri is None
    from shared.store import work_queue_client

    with pytest.raises(ConfigurationError, match="VM_LEDGER_STORAGE__queueServiceUri is not set"):
        work_queue_client(read_settings(env), credential=object())  # type: ignore[arg-type]
    uri = "https://acct.queue.core.windows.net"
    assert read_settings({**env, settings.STORAGE_QUEUE_SERVICE_URI: uri}).storage.queue_service_uri == uri


def test_without_a_queue_the_command_lines_replay_lists_and_records_in_the_call(fake, ledger):
    from shared.jobs import handle_event
    from shared.store import Outcome

    wire = set_event("deallocate", 9, "small-ss")
    assert handle_event(inbound_from_json(wire), ledger, context.get_arm_client) == Outcome.RECORDED
    assert fake_current(instance_id("1", "small-ss")).span.last_time == at(hours=9)
    event = inbound_from_json(wire)
    assert handle_event(event, ledger, context.get_arm_client, queue=context.get_work_queue) == Outcome.QUEUED
