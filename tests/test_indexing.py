"""The app indexes as the Functions host will see it: names, triggers, routes, schedule expression."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL_SETTINGS_SAMPLE = ROOT / "local.settings.sample.json"
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
    """The worker imports function_app.py on every cold start: no setting is read (a wrong one fails a
    trigger, not the indexing) and no storage or identity SDK is loaded until a trigger runs. Every
    lookup in ``os.environ`` while importing is recorded, found or not."""
    settings = set(json.loads(LOCAL_SETTINGS_SAMPLE.read_text(encoding="utf-8"))["Values"])
    code = (
        "import json, os, sys\n"
        "looked_up = set()\n"
        "class Recorded(type(os.environ)):\n"
        "    def __getitem__(self, key):\n"
        "        looked_up.add(key)\n"
        "        return super().__getitem__(key)\n"
        "env = os.environ\n"
        "os.environ = Recorded(env._data, env.encodekey, env.decodekey, env.encodevalue, env.decodevalue)\n"
        "import function_app\n"
        "sdks = ('azure.data.tables', 'azure.storage.queue', 'azure.identity', 'azure.eventgrid')\n"
        "print(json.dumps({'looked_up': sorted(looked_up), 'sdks': [m for m in sdks if m in sys.modules]}))\n"
    )
    env = {name: value for name, value in os.environ.items() if name not in settings}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout)
    read = [name for name in seen["looked_up"] if name in settings or name.startswith("VM_LEDGER")]
    assert read == []
    assert seen["sdks"] == []


def test_the_local_settings_sample_holds_every_setting_the_host_resolves_for_a_binding(indexed_functions):
    """``func start`` refuses a function whose ``%SETTING%`` or ``connection`` it cannot resolve."""
    values = json.loads(LOCAL_SETTINGS_SAMPLE.read_text(encoding="utf-8"))["Values"]
    needed = set()
    for function in indexed_functions.values():
        for binding in json.loads(function.get_function_json())["bindings"]:
            needed |= {binding["connection"]} if binding.get("connection") else set()
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    needed.add(value.strip("%"))
    assert {"VM_LEDGER_QUEUE", "VM_LEDGER_STORAGE", "RECONCILE_SCHEDULE"} <= needed
    assert {name for name in needed if not values.get(name)} == set()


def test_every_http_function_has_its_view_in_the_composition_roots_table():
    from shared import context

    assert set(context.HTTP_VIEWS) == set(HTTP_ROUTES)
