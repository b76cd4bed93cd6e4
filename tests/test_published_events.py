"""The published Azure Resource Manager event samples, through the real ``on_vm_event`` on a real Azurite.

``tests/data/published/events/`` holds the samples of the Azure REST API specifications untouched, and
``vm/`` the same samples with only the resource id and operation pointed at a VM (see SOURCES.md there).
The untouched ones name no VM, so nothing may be written for them; the VM copies must be recorded with
the state their *event type* implies, whatever ``data.status`` says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import function_app
from devtools.worker import event_grid_argument
from shared.domain.ids import parse_vm_id
from shared.domain.vm_state import UNKNOWN
from shared.sources import VmEvent, inbound_from_binding, inbound_from_json, parse_resource_event

pytestmark = pytest.mark.azurite

PUBLISHED = Path(__file__).parent / "data" / "published" / "events"
SCHEMAS = ("event-grid-schema", "cloud-events-schema")
SAMPLES = sorted(
    path.relative_to(PUBLISHED) for schema in SCHEMAS for path in (PUBLISHED / schema).glob("*.json")
)
VM = parse_vm_id(
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-published"
    "/providers/Microsoft.Compute/virtualMachines/vm-published"
)
# The JSON values SOURCES.md says were rewritten in the VM copies; nothing else may differ.
REWRITTEN = {
    ("subject",),
    ("data", "resourceUri"),
    ("data", "authorization", "scope"),
    ("data", "authorization", "action"),
    ("data", "operationName"),
    ("data", "httpRequest", "url"),
    ("data", "resourceProvider"),
}


def text_of(relative: Path, *, vm: bool = False) -> str:
    return ((PUBLISHED / "vm") if vm else PUBLISHED).joinpath(relative).read_text(encoding="utf-8")


def kind_and_outcome(relative: Path) -> tuple[str, str]:
    """``resource_action_failure.json`` -> ``("action", "Failure")``."""
    _, kind, outcome = relative.stem.split("_")
    return kind, outcome.capitalize()


def as_wire(text: str) -> dict[str, Any]:
    """A sample as CloudEvents 1.0 JSON puts it on the wire: attribute names are lower case."""
    body = json.loads(text)
    if "specVersion" in body:
        body["specversion"] = body.pop("specVersion")
    return body


def run_as_worker(json_text: str) -> None:
    """The worker decodes the request body with the Event Grid converter and calls the function."""
    function_app.on_vm_event(event_grid_argument(json_text))


def entities(ledger) -> list[dict[str, Any]]:
    return list(ledger.table.list_entities())


def flatten(value: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(value, dict):
        return {
            key: leaf for name, item in value.items() for key, leaf in flatten(item, (*path, name)).items()
        }
    return {path: value}


def test_all_nine_event_types_are_kept_in_both_schemas():
    names = {f"resource_{kind}_{outcome}.json" for kind in ("write", "action", "delete")
             for outcome in ("success", "failure", "cancel")}  # fmt: skip
    for schema in SCHEMAS:
        assert {path.name for path in (PUBLISHED / schema).glob("*.json")} == names
        assert {path.name for path in (PUBLISHED / "vm" / schema).glob("*.json")} == names


@pytest.mark.parametrize("relative", SAMPLES, ids=str)
def test_an_untouched_published_sample_names_no_vm_so_nothing_is_written(relative, ledger):
    run_as_worker(text_of(relative))
    assert entities(ledger) == []


@pytest.mark.parametrize("relative", SAMPLES, ids=str)
def test_a_vm_copy_differs_from_its_published_sample_only_in_the_documented_values(relative):
    published, copy = flatten(json.loads(text_of(relative))), flatten(json.loads(text_of(relative, vm=True)))
    assert published.keys() == copy.keys()
    changed = {path for path in published if published[path] != copy[path]}
    assert changed == {path for path in REWRITTEN if path in published}


@pytest.mark.parametrize("relative", SAMPLES, ids=str)
def test_a_vm_copy_is_recorded_with_the_state_its_event_type_implies(relative, ledger):
    kind, outcome = kind_and_outcome(relative)
    wire = as_wire(text_of(relative, vm=True))
    assert wire["data"]["status"] == "Succeeded"  # even in the failure and cancel samples

    run_as_worker(json.dumps(wire))

    current = ledger.get_current(VM)
    assert current is not None, "the VM copy was not recorded"
    state = current.condition.state
    if outcome != "Success":
        # Failed or canceled: the operation did not complete, and this VM was never seen before.
        assert state.provisioning_state == {"Failure": "Failed", "Cancel": "Canceled"}[outcome]
        assert state.power_state == UNKNOWN
        assert not state.deleted
    elif kind == "delete":
        assert state.deleted
    else:  # a creating write, a start action
        assert (state.provisioning_state, state.power_state) == ("Succeeded", "running")
    [row] = ledger.iter_transitions(VM)
    assert row.evidence.event_type == wire.get("eventType", wire.get("type"))
    assert row.evidence.id == wire["id"]
    # The claims (names, UPN, IP address) are never stored.
    stored = json.dumps(entities(ledger), default=str)
    assert "{user-name}" not in stored and "{IP-address}" not in stored and "claims" not in stored


def test_a_write_without_http_request_is_recorded(ledger):
    relative = Path("event-grid-schema/resource_write_success.json")
    wire = as_wire(text_of(relative, vm=True))
    assert "httpRequest" not in wire["data"]  # as published: only updates and deletes carry it
    run_as_worker(json.dumps(wire))
    assert ledger.get_current(VM).condition.state.power_state == "running"


def test_the_write_samples_lower_case_resourcegroups_still_names_the_same_vm(ledger):
    wire = as_wire(text_of(Path("cloud-events-schema/resource_write_success.json"), vm=True))
    assert "/resourcegroups/" in wire["subject"]
    run_as_worker(json.dumps(wire))
    assert ledger.get_current(VM).vm.vm_key == VM.vm_key


CAMEL_CASE = [relative for relative in SAMPLES if '"specVersion"' in text_of(relative)]


def test_some_published_cloud_events_samples_spell_specversion_in_camel_case():
    assert {str(relative) for relative in CAMEL_CASE} == {
        "cloud-events-schema/resource_action_failure.json",
        "cloud-events-schema/resource_delete_success.json",
        "cloud-events-schema/resource_write_cancel.json",
        "cloud-events-schema/resource_write_failure.json",
    }


@pytest.mark.parametrize("relative", CAMEL_CASE, ids=str)
def test_the_worker_binding_reads_camel_case_specversion_as_an_untyped_event_that_is_skipped(
    relative, ledger
):
    """azure-functions' converter recognises only ``specversion``: with ``specVersion`` it builds an
    EventGridEvent with no type and no time. Nothing our code can recover; it must skip without raising.
    Real deliveries follow CloudEvents 1.0 (lower case), as the other samples do."""
    text = text_of(relative, vm=True)
    event = event_grid_argument(json.loads(text))
    assert getattr(event, "event_type", "absent") is None
    run_as_worker(text)
    assert entities(ledger) == []


@pytest.mark.parametrize("relative", SAMPLES, ids=str)
def test_the_cli_path_reads_a_vm_copy_as_the_binding_does(relative):
    wire = as_wire(text_of(relative, vm=True))
    from_json = parse_resource_event(inbound_from_json(wire))
    assert isinstance(from_json, VmEvent)
    assert from_json == parse_resource_event(inbound_from_binding(event_grid_argument(wire)))


@pytest.mark.parametrize("relative", CAMEL_CASE, ids=str)
def test_the_cli_path_reads_a_saved_cloud_event_that_spells_specversion_in_camel_case(relative):
    event = parse_resource_event(inbound_from_json(json.loads(text_of(relative, vm=True))))
    assert isinstance(event, VmEvent)
    outcomes = {"Success": "Succeeded", "Failure": "Failed", "Cancel": "Canceled"}
    assert event.change.provisioning_state == outcomes[kind_and_outcome(relative)[1]]
