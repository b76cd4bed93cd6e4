"""Which events are accepted, and how skipped ones are told apart from broken ones."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import function_app
from devtools.events import ACTION_FAILED, SUB, at, vm_id, wire_event
from devtools.worker import event_grid_argument
from shared.domain.ids import parse_vm_id
from shared.sources import Skipped, VmEvent, inbound_from_binding, inbound_from_json, parse_resource_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def parsed(wire: dict) -> VmEvent | Skipped:
    return parse_resource_event(inbound_from_binding(event_grid_argument(wire)))


@pytest.mark.parametrize("schema", ["EventGrid", "CloudEvents"])
def test_a_vm_action_is_accepted_from_either_schema_with_microsecond_time(schema):
    wire = wire_event("start", at(hours=1, minutes=0.5), schema=schema)
    event = parsed(wire)
    assert isinstance(event, VmEvent)
    assert event.vm.name == "vm1"
    assert event.time == at(hours=1, minutes=0.5)
    assert event.change.power_state == "running"


def test_the_outcome_comes_from_the_event_type_not_from_data_status():
    wire = wire_event("start", at(0), event_type=ACTION_FAILED)
    assert wire["data"]["status"] == "Succeeded"  # as in the published failure samples
    assert parsed(wire).change.provisioning_state == "Failed"


def test_hibernate_is_read_from_a_request_url_given_as_json_text():
    wire = wire_event("deallocate", at(0), url_query="&Hibernate=True")
    wire["data"]["httpRequest"] = __import__("json").dumps(wire["data"]["httpRequest"])
    assert parsed(wire).change.hibernated is True


@pytest.mark.parametrize(
    ("mutate", "reason", "malformed"),
    [
        (lambda w: w.update(eventType="Microsoft.Storage.BlobCreated"), "not a resource", False),
        (
            lambda w: w["data"].update(operationName="Microsoft.Network/networkInterfaces/write"),
            "not on",
            False,
        ),
        (lambda w: w["data"].update(resourceUri=vm_id() + "/extensions/CustomScript"), "child", False),
        (lambda w: w.pop("data"), "no data", True),
        (lambda w: w["data"].pop("operationName"), "operationName", True),
        (lambda w: w["data"].update(resourceUri="/subscriptions/x/rg/vm"), "not a VM id", True),
        (lambda w: w.update(subject=None) or w["data"].pop("resourceUri"), "not a VM id", True),
        (lambda w: w.update(eventType="Microsoft.Resources.ResourceDeleteSuccess"), "delete event", True),
        (lambda w: w.update(id="x" * 300), "id", True),
        (lambda w: w.update(data="{not json"), "no data", True),
    ],
)
def test_out_of_scope_and_malformed_events_are_skipped_with_a_reason(mutate, reason, malformed):
    wire = wire_event("start", at(0))
    mutate(wire)
    result = parsed(wire)
    assert isinstance(result, Skipped)
    assert reason in result.reason
    assert result.malformed is malformed


def test_resource_ids_are_recognised_in_any_casing():
    upper = (
        f"/SUBSCRIPTIONS/{SUB.upper()}/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1"
    )
    event = parsed(wire_event("start", at(0), resource_id=upper))
    assert event.vm.vm_key == "rg-app|vm1"
    assert event.vm.subscription_key == SUB


def test_saved_events_read_from_json_match_the_binding_exactly():
    for schema in ("EventGrid", "CloudEvents"):
        wire = wire_event("deallocate", at(hours=2, minutes=0.25), schema=schema, url_query="&hibernate=true")
        assert parse_resource_event(inbound_from_json(wire)) == parsed(wire)


def test_a_skipped_event_is_logged_with_its_id_and_the_function_returns_normally(ledger_env, caplog):
    wire = wire_event("start", at(0))
    wire.pop("data")
    with caplog.at_level(logging.WARNING):
        function_app.on_vm_event(event_grid_argument(wire))
    assert wire["id"] in caplog.text
    assert "no data" in caplog.text


@pytest.mark.parametrize(
    ("resource_id", "reason"),
    [
        (vm_id("web#01"), "names a VM but is not a valid VM id"),
        (vm_id("x" * 65), "names a VM but is not a valid VM id"),
        (vm_id("web#01") + "/extensions/agent", "names a VM but is not a valid VM id"),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
            "not a VM id",
        ),
    ],
)
def test_a_malformed_vm_id_is_skipped_as_malformed_with_that_reason(resource_id, reason):
    result = parsed(wire_event("start", at(0), resource_id=resource_id))
    assert isinstance(result, Skipped)
    assert reason in result.reason
    assert result.malformed is True


def test_a_malformed_vm_id_is_logged_at_warning(ledger_env, caplog):
    with caplog.at_level(logging.INFO):
        function_app.on_vm_event(event_grid_argument(wire_event("start", at(0), resource_id=vm_id("web#01"))))
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "not a valid VM id" in record.getMessage()


@pytest.mark.parametrize(
    "operation",
    [
        "Microsoft.Compute/virtualMachines/" + "a" * 40_000 + "/action",
        "Microsoft.Compute/virtualMachines/" + "b" * 250 + "/action",
        "Microsoft.Compute/virtualMachines/start/action\x00",
        "Microsoft.Compute/virtualMachines/st art/action",
        "Microsoft.Compute/virtualMachines/start//action",
    ],
)
def test_an_operation_name_that_cannot_be_one_is_skipped_as_malformed(operation):
    wire = wire_event("start", at(0))
    wire["data"]["operationName"] = operation
    result = parsed(wire)
    assert isinstance(result, Skipped) and result.malformed
    assert "operationName" in result.reason


def test_a_new_action_azure_adds_is_still_accepted_and_kept_by_name():
    wire = wire_event("start", at(0))
    wire["data"]["operationName"] = "Microsoft.Compute/virtualMachines/someNewThing_v2/action"
    event = parsed(wire)
    assert isinstance(event, VmEvent)
    assert event.operation_name == "Microsoft.Compute/virtualMachines/someNewThing_v2/action"
    assert event.change.power_state is None


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2016, 12, 31, 23, 59, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        NOW + timedelta(minutes=6),
    ],
)
def test_an_implausible_event_time_is_skipped_as_malformed(when):
    # The binding cannot even decode a year-1 time; saved events (the CLI's replay) can carry one.
    inbound = replace(inbound_from_binding(event_grid_argument(wire_event("deallocate", NOW))), time=when)
    result = parse_resource_event(inbound, now=NOW)
    assert isinstance(result, Skipped) and result.malformed
    assert "event time" in result.reason


@pytest.mark.parametrize("when", [datetime(2017, 1, 1, tzinfo=UTC), NOW + timedelta(minutes=5), NOW])
def test_event_times_from_2017_to_five_minutes_ahead_are_accepted(when):
    result = parse_resource_event(
        inbound_from_binding(event_grid_argument(wire_event("deallocate", when))), now=NOW
    )
    assert isinstance(result, VmEvent)


@pytest.mark.azurite
def test_an_unstorable_event_is_skipped_with_a_warning_and_the_vm_s_next_event_records(ledger, caplog):
    function_app.on_vm_event(event_grid_argument(wire_event("write", at(hours=1))))
    poison = wire_event("start", at(hours=2))
    poison["data"]["operationName"] = "Microsoft.Compute/virtualMachines/" + "a" * 40_000 + "/action"
    with caplog.at_level(logging.WARNING):
        # Returns: Event Grid does not retry it for a day.
        function_app.on_vm_event(event_grid_argument(poison))
    assert "operationName" in caplog.text
    function_app.on_vm_event(event_grid_argument(wire_event("deallocate", at(hours=3))))
    rows = list(ledger.iter_transitions(parse_vm_id(vm_id())))
    assert [row.evidence.operation_name.rsplit("/", 2)[-2:] for row in rows] == [
        ["virtualMachines", "write"], ["deallocate", "action"],
    ]  # fmt: skip


@pytest.mark.azurite
def test_a_future_dated_deallocate_does_not_make_the_vm_read_deallocated_now(ledger):
    function_app.on_vm_event(event_grid_argument(wire_event("write", at(hours=1))))
    function_app.on_vm_event(
        event_grid_argument(wire_event("deallocate", datetime.now(UTC) + timedelta(days=30)))
    )
    assert ledger.get_current(parse_vm_id(vm_id())).condition.state.power_state == "running"
