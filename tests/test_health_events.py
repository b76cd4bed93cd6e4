"""Health events without storage: the annotation table, and parsing the published samples."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from devtools.events import SUB, at, vm_id
from devtools.worker import event_grid_argument
from shared.domain.health import ANNOTATION_CAUSES, Cause, annotation_cause, health_name
from shared.sources import HealthEvent, Skipped, inbound_from_binding, inbound_from_json, parse_health_event
from tests.health_factories import HEALTH_DIR, health_event, published


def learn_annotation_names() -> list[str]:
    """The ``annotationName`` column of the table in health/SOURCES.md (Learn's list of VM annotations)."""
    text = (HEALTH_DIR / "SOURCES.md").read_text(encoding="utf-8")
    table = text.split("## VM annotation names", 1)[1]
    return re.findall(r"^\| ([A-Za-z]+) \|", table, re.MULTILINE)[1:]  # [0] is the header


def test_every_annotation_learn_lists_has_its_own_entry_and_nothing_else_is_invented():
    names = learn_annotation_names()
    assert len(names) == 30 and len(set(names)) == 30
    assert sorted(ANNOTATION_CAUSES) == sorted(names)


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("VirtualMachineStoppedInternally", Cause.GUEST_SHUTDOWN),
        ("virtualmachinestoppedinternally", Cause.GUEST_SHUTDOWN),
        ("VirtualMachinePreempted", Cause.SPOT_EVICTION),
        ("VirtualMachineRestarted", Cause.GUEST_REBOOT),
        ("VirtualMachineCrashed", Cause.GUEST_CRASH),
        ("VirtualMachineHostCrashed", Cause.PLATFORM),
        ("LiveMigrationSucceeded", Cause.PLATFORM),
        ("VirtualMachineRebootInitiatedForPlannedMaintenance", Cause.PLATFORM),
        ("AccelnetUnhealthy", Cause.PLATFORM),
        ("VirtualMachineDeallocationInitiated", Cause.CONTROL_PLANE),
        ("VirtualMachineStopInitiatedByControlPlane", Cause.CONTROL_PLANE),
        ("VirtualMachineSizeChanged", Cause.CONTROL_PLANE),
    ],
)
def test_an_annotation_name_gives_its_cause(name, cause):
    assert annotation_cause(name) is cause


@pytest.mark.parametrize(
    ("name", "context", "cause"),
    [
        ("VirtualMachineSomethingNew", "Platform Initiated", Cause.PLATFORM),
        ("VirtualMachineSomethingNew", "customer initiated", Cause.CONTROL_PLANE),
        ("VirtualMachineSomethingNew", "VM Initiated", Cause.OTHER),
        ("VirtualMachineSomethingNew", None, Cause.OTHER),
        (None, None, Cause.OTHER),
        # A known name wins over a context that says otherwise.
        ("VirtualMachinePreempted", "Customer Initiated", Cause.SPOT_EVICTION),
    ],
)
def test_an_unknown_annotation_takes_its_cause_from_the_context(name, context, cause):
    assert annotation_cause(name, context) is cause


@pytest.mark.parametrize(
    ("text", "kept"),
    [("VirtualMachinePreempted", "VirtualMachinePreempted"), ("Unavailable", "Unavailable"),
     ("a b", None), ("=cmd()", None), ("x" * 129, None), (7, None), ("", None)],
)  # fmt: skip
def test_only_identifier_like_names_are_kept(text, kept):
    assert health_name(text) == kept


def parsed(wire: dict) -> HealthEvent | Skipped:
    return parse_health_event(inbound_from_binding(event_grid_argument(wire)))


@pytest.mark.parametrize(("kind", "schema"), [("annotated", "EventGrid"), ("annotated", "CloudEvents"),
                                              ("annotated", "spec"), ("availability", "EventGrid"),
                                              ("availability", "CloudEvents")])  # fmt: skip
def test_every_published_sample_parses_as_it_was_published(kind, schema):
    """Only the placeholders are filled in: the ids must be ids for the sample to name a VM."""
    text = published(kind, schema).replace("{subscription-id}", SUB).replace("{rg-name}", "rg-app")
    wire = json.loads(text.replace("{vm-name}", "vm1"))
    event = parsed(wire)
    assert isinstance(event, HealthEvent)
    assert event.vm.resource_id == vm_id()
    assert event.time == datetime(2023, 7, 24, 19, 20, 37, 924507, tzinfo=UTC)
    if kind == "annotated":
        assert event.cause is Cause.CONTROL_PLANE
        assert event.operation_name == "health/ResourceAnnotated/VirtualMachineDeallocationInitiated"
    else:
        assert event.cause is Cause.AVAILABILITY
        assert event.operation_name == "health/AvailabilityStatusChanged/Available"
    # Only these fields come out: free text (reason, summary) is never carried on.
    assert set(vars(event)) == {"event_id", "event_type", "vm", "time", "cause", "operation_name"}


def test_the_change_time_is_occurred_time_then_resource_event_time_then_the_event_time():
    wire = health_event(at(hours=2), delivered=at(hours=3))
    wire["data"]["operationalInfo"]["resourceEventTime"] = "2026-11-23T02:30:00Z"
    assert parsed(wire).time == at(hours=2)
    del wire["data"]["resourceInfo"]["properties"]["occurredTime"]
    assert parsed(wire).time == at(hours=2, minutes=30)
    del wire["data"]["operationalInfo"]
    assert parsed(wire).time == at(hours=3)


def test_the_spec_sample_without_operational_info_takes_occurred_time_then_the_event_time():
    wire = health_event(at(hours=2), schema="spec", delivered=at(hours=5))
    assert "operationalInfo" not in wire["data"]
    assert parsed(wire).time == at(hours=2)
    wire["data"]["resourceInfo"]["properties"]["occurredTime"] = "not a time"
    assert parsed(wire).time == at(hours=5)


def test_a_health_event_read_from_json_as_the_cli_would_is_the_same():
    wire = health_event(at(hours=1), schema="CloudEvents", annotation="VirtualMachinePreempted")
    event = parse_health_event(inbound_from_json(wire))
    assert isinstance(event, HealthEvent) and event.cause is Cause.SPOT_EVICTION and event.time == at(hours=1)


SCALE_SET_INSTANCE = vm_id("ss", "rg-app").replace(
    "/virtualMachines/ss", "/virtualMachineScaleSets/ss/virtualMachines/3"
)


@pytest.mark.parametrize(
    ("mutate", "reason", "malformed"),
    [
        (lambda w: w.update(eventType="Microsoft.Resources.ResourceWriteSuccess"), "not a health", False),
        (lambda w: w["data"]["resourceInfo"]["properties"].update(
            targetResourceId=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
        ), "not a VM", False),
        (lambda w: w["data"].pop("resourceInfo"), "no data", True),
        (lambda w: w.update(data="{not json"), "no data", True),
        (lambda w: w.update(id="x" * 300), "id", True),
        (lambda w: [w["data"]["resourceInfo"]["properties"].pop("occurredTime"),
                    w["data"].pop("operationalInfo"), w.pop("eventTime")], "no time", True),
    ],
)  # fmt: skip
def test_out_of_scope_and_malformed_health_events_are_skipped_with_a_reason(mutate, reason, malformed):
    wire = health_event(at(0))
    mutate(wire)
    result = parse_health_event(inbound_from_json(wire))
    assert isinstance(result, Skipped)
    assert reason in result.reason and result.malformed is malformed


def test_the_subject_names_the_vm_when_the_target_id_is_missing():
    wire = health_event(at(0), resource_id=vm_id("db-02", "rg-data"))
    del wire["data"]["resourceInfo"]["properties"]["targetResourceId"]
    event = parsed(wire)
    assert isinstance(event, HealthEvent) and event.vm.name == "db-02"


def test_an_annotation_name_that_is_not_an_identifier_is_not_carried_into_the_operation_name():
    wire = health_event(at(0), annotation='=HYPERLINK("x")', context="Platform Initiated")
    event = parsed(wire)
    assert event.operation_name == "health/ResourceAnnotated/unknown" and event.cause is Cause.PLATFORM
