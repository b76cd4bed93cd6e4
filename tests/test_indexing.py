"""The app indexes as the Functions host will see it: names, triggers, routes, schedule expression."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HTTP_ROUTES = {
    "get_vm": "vms/{subscriptionId}/{resourceGroup}/{vmName}",
    "list_vm_transitions": "vms/{subscriptionId}/{resourceGroup}/{vmName}/transitions",
    "get_vm_instance": "vms/{subscriptionId}/{resourceGroup}/{scaleSetName}/instances/{instanceId}",
    "list_vm_instance_transitions": (
        "vms/{subscriptionId}/{resourceGroup}/{scaleSetName}/instances/{instanceId}/transitions"
    ),
    "list_vms": "vms",
    "list_vm_timelines": "timelines",
    "list_findings": "findings",
    "list_costs": "costs",
    "vm_timeline_page": "timeline",
}


def trigger_of(fn) -> dict:
    """The trigger binding as the host receives it (the function's JSON)."""
    bindings = json.loads(fn.get_function_json())["bindings"]
    return next(binding for binding in bindings if binding["type"].endswith("Trigger"))


def test_every_contracted_function_is_registered(indexed_functions):
    assert {"on_vm_event", "record_scale_set_event", "reconcile_vms", *HTTP_ROUTES} <= set(indexed_functions)


@pytest.mark.parametrize(("name", "route"), sorted(HTTP_ROUTES.items()))
def test_http_functions_use_function_keys_get_and_their_contracted_route(indexed_functions, name, route):
    trigger = trigger_of(indexed_functions[name])
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == route
    assert trigger["methods"] == ["GET"]
    assert trigger["authLevel"] == "FUNCTION"


def test_the_event_function_is_an_event_grid_trigger(indexed_functions):
    assert trigger_of(indexed_functions["on_vm_event"])["type"] == "eventGridTrigger"


def test_the_scale_set_queue_function_reads_the_configured_queue_through_the_ledgers_connection(
    indexed_functions,
):
    function = indexed_functions["record_scale_set_event"]
    bindings = json.loads(function.get_function_json())["bindings"]
    assert bindings == [
        {
            "direction": "IN",
            "type": "queueTrigger",
            "name": "message",
            "queueName": "%VM_LEDGER_QUEUE%",
            "connection": "VM_LEDGER_STORAGE",
        }
    ]


def test_the_reconcile_timer_takes_its_schedule_from_the_setting(indexed_functions):
    trigger = trigger_of(indexed_functions["reconcile_vms"])
    assert trigger["type"] == "timerTrigger"
    assert trigger["schedule"] == "%RECONCILE_SCHEDULE%"


def test_importing_the_app_reads_no_settings_and_loads_no_storage_sdk():
    code = (
        "import os, sys\n"
        "for name in list(os.environ):\n"
        "    if name.startswith(('VM_LEDGER', 'BILLED', 'RECONCILE', 'ARM_')): del os.environ[name]\n"
        "import function_app\n"
        "sdks = ('azure.data.tables', 'azure.storage.queue', 'azure.identity', 'azure.eventgrid')\n"
        "heavy = [m for m in sdks if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_local_settings_sample_holds_every_setting_the_host_resolves_for_a_binding(indexed_functions):
    """``func start`` refuses a function whose ``%SETTING%`` or ``connection`` it cannot resolve."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "local.settings.sample.json"
    values = json.loads(sample.read_text(encoding="utf-8"))["Values"]
    needed = set()
    for function in indexed_functions.values():
        for binding in json.loads(function.get_function_json())["bindings"]:
            needed |= {binding["connection"]} if binding.get("connection") else set()
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    needed.add(value.strip("%"))
    assert {"VM_LEDGER_QUEUE", "VM_LEDGER_STORAGE", "RECONCILE_SCHEDULE"} <= needed
    assert {name for name in needed if not values.get(name)} == set()
