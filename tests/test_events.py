"""Which events are accepted, and how skipped ones are told apart from broken ones."""

from __future__ import annotations

import logging

import pytest

import function_app
from shared.sources import Skipped, VmEvent, inbound_from_binding, inbound_from_json, parse_vm_event
from tests.factories import ACTION_FAILED, SUB, at, binding, vm_id, wire_event


def parsed(wire: dict) -> VmEvent | Skipped:
    return parse_vm_event(inbound_from_binding(binding(wire)))


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
        assert parse_vm_event(inbound_from_json(wire)) == parsed(wire)


def test_a_skipped_event_is_logged_with_its_id_and_the_function_returns_normally(ledger_env, caplog):
    wire = wire_event("start", at(0))
    wire.pop("data")
    with caplog.at_level(logging.WARNING):
        function_app.on_vm_event(binding(wire))
    assert wire["id"] in caplog.text
    assert "no data" in caplog.text
