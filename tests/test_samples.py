"""``samples/`` and the test factories look like what Azure sends, and ``make samples`` is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.events import vm_id, wire_event
from scripts import make_samples

VM = vm_id("vm1", "rg-app")
ARM = "https://management.azure.com"


@pytest.mark.parametrize(
    ("verb", "method", "url"),
    [
        ("write", "PUT", f"{ARM}{VM}?api-version=2024-07-01"),
        ("delete", "DELETE", f"{ARM}{VM}?api-version=2024-07-01"),
        ("start", "POST", f"{ARM}{VM}/start?api-version=2024-07-01"),
        ("powerOff", "POST", f"{ARM}{VM}/powerOff?api-version=2024-07-01"),
    ],
)
def test_factory_events_carry_the_method_and_url_azure_resource_manager_records(verb, method, url):
    request = wire_event(verb, make_samples.T0, resource_id=VM)["data"]["httpRequest"]
    assert (request["method"], request["url"]) == (method, url)


def test_a_hibernating_deallocate_keeps_its_query_after_the_api_version():
    request = wire_event("deallocate", make_samples.T0, resource_id=VM, url_query="&hibernate=true")
    assert request["data"]["httpRequest"]["url"].endswith("/deallocate?api-version=2024-07-01&hibernate=true")


def test_a_seed_fixes_every_id_of_an_event_and_no_seed_leaves_them_random():
    first, again = (wire_event("start", make_samples.T0, seed="s") for _ in range(2))
    assert first == again
    other = wire_event("start", make_samples.T0)
    assert other["id"] != first["id"]
    assert other["data"]["correlationId"] != first["data"]["correlationId"]


def test_make_samples_gives_the_same_files_twice_and_they_are_the_committed_ones():
    files = make_samples.sample_files()
    assert files == make_samples.sample_files()
    for name, text in files.items():
        assert (make_samples.SAMPLES / name).read_text() == text, f"run `make samples` to refresh {name}"


def test_sample_event_ids_are_unique_except_the_deliberate_duplicate():
    events = json.loads((make_samples.SAMPLES / "events-day.json").read_text())
    ids = [event["id"] for event in events]
    assert len(ids) - len(set(ids)) == 1  # the powerOff delivered twice


def test_every_sample_event_uses_the_method_its_operation_implies():
    events = json.loads(Path(make_samples.SAMPLES / "events-day.json").read_text())
    for event in events:
        operation = event["data"]["operationName"].lower()
        expected = (
            "POST" if operation.endswith("/action") else "DELETE" if operation.endswith("/delete") else "PUT"
        )
        assert event["data"]["httpRequest"]["method"] == expected, operation
