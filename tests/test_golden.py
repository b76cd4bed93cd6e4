"""Golden record of the sample day: every HTTP answer, log line, table row and CLI output, byte for byte.

Written before ``shared/`` was reorganised into layers, so that moving code around can be shown to change
nothing a user sees. The events, the reconcile listing and its clock are fixed; the only value that moves
with the wall clock, ``asOf``, is replaced by a placeholder. When a change is *meant* to alter an answer,
regenerate the record with ``GOLDEN_UPDATE=1 pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from devtools.events import ACTION_FAILED, SUB, WRITE_FAILED, at, vm_id, wire_event
from devtools.fake_arm import make_vm
from devtools.worker import event_grid_argument
from tests.factories import sample_day

pytestmark = pytest.mark.azurite

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "sample_day.json"
ROOT = Path(__file__).resolve().parent.parent
WEB1, WEB2 = vm_id("web-01", "rg-shop"), vm_id("web-02", "rg-shop")
DB, GONE, ADOPTED = vm_id("db-01", "rg-data"), vm_id("old-build", "rg-ci"), vm_id("legacy", "rg-ci")
FROM, TO = at(0).isoformat(), at(hours=24).isoformat()
_AS_OF = re.compile(r'"asOf": ?"[^"]*"')


def _fixed(wire: dict[str, Any], index: int) -> dict[str, Any]:
    """Event ids and correlation ids from the event's position, so every run writes the same rows."""
    wire["id"] = f"00000000-0000-4000-8000-{index:012d}"
    data = wire["data"]
    data["correlationId"] = f"c0000000-0000-4000-8000-{index:012d}"
    data["httpRequest"]["clientRequestId"] = f"r0000000-0000-4000-8000-{index:012d}"
    return wire


def _deliveries() -> list[dict[str, Any]]:
    day = sample_day(WEB1)
    storage = f"/subscriptions/{SUB}/resourceGroups/rg-shop/providers/Microsoft.Storage/storageAccounts/logs"
    wires = [
        *day,
        day[1],  # redelivered
        wire_event("write", at(hours=7), resource_id=WEB2),
        wire_event("start", at(hours=12), resource_id=DB),  # before its creation arrives: late below
        wire_event("write", at(hours=6), resource_id=DB, schema="CloudEvents"),
        wire_event("deallocate", at(hours=18), resource_id=DB, event_type=ACTION_FAILED),
        wire_event("write", at(hours=1), resource_id=GONE),
        wire_event("write", at(hours=2), resource_id=vm_id("never", "rg-ci"), event_type=WRITE_FAILED),
        wire_event(
            "write",
            at(hours=9),
            resource_id=WEB1 + "/extensions/agent",
            operation="Microsoft.Compute/virtualMachines/extensions/write",
        ),
        wire_event(
            "write", at(hours=9), resource_id=storage, operation="Microsoft.Storage/storageAccounts/write"
        ),
        wire_event("start", at(hours=9), resource_id="/subscriptions/not-a-vm", operation=None),
    ]
    unique: list[dict[str, Any]] = []
    for index, wire in enumerate(wires):
        unique.append(wire if wire in unique else _fixed(wire, index))
    return unique


def _listing() -> dict[str, Any]:
    """What List All says at 20:00: web-02 shut down inside the guest, legacy exists, old-build is gone."""
    return {
        "value": [
            make_vm(*_parts(WEB1), power="deallocated", hibernated=True),
            make_vm(*_parts(WEB2), power="stopped"),
            make_vm(*_parts(DB), power="running", provisioning="failed/AllocationFailed"),
            make_vm(*_parts(ADOPTED), power="running"),
        ]
    }


def _parts(resource_id: str) -> tuple[str, str, str]:
    parts = resource_id.split("/")
    return parts[2], parts[4], parts[8]


def _http(fn: Any, path: str, route: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    request = func.HttpRequest(
        "GET", "http://localhost:7071/api/" + path, body=b"", params=params, route_params=route or {}
    )
    response = fn(request)
    body = response.get_body().decode("utf-8")
    if response.mimetype == "text/html":
        body = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    return {
        "request": {"path": path, "params": params},
        "status": response.status_code,
        "mimetype": response.mimetype,
        "headers": {k: v for k, v in sorted(response.headers.items()) if k.lower() != "content-length"},
        "body": _AS_OF.sub('"asOf": "<asOf>"', body),
    }


def _route(resource_id: str) -> dict[str, str]:
    parts = resource_id.split("/")
    return {"subscriptionId": parts[2], "resourceGroup": parts[4], "vmName": parts[8]}


def _answers() -> list[dict[str, Any]]:
    app = function_app
    window = {"from": FROM, "to": TO}
    answers = [_http(app.get_vm, "vms/x", _route(vm), **window) for vm in (WEB1, WEB2, DB, GONE, ADOPTED)]
    answers += [
        _http(app.get_vm, "vms/x", _route(WEB1.upper().replace("RESOURCEGROUPS", "resourceGroups")), to=TO),
        _http(app.get_vm, "vms/x", _route(vm_id("nobody")), **window),
        _http(app.get_vm, "vms/x", {**_route(WEB1), "subscriptionId": "nope"}, **window),
        _http(app.get_vm, "vms/x", _route(WEB1), **{"from": "yesterday"}),
        _http(app.get_vm, "vms/x", _route(WEB1), **{"from": TO, "to": FROM}),
        _http(app.list_vms, "vms"),
        _http(app.list_vms, "vms", top="2"),
        _http(app.list_vms, "vms", resourceGroup="rg-ci"),
        _http(app.list_vms, "vms", subscriptionId=SUB, format="csv"),
        _http(app.list_vms, "vms", top="0"),
        _http(app.list_vms, "vms", continuationToken="bm90IGEgdG9rZW4"),
        _http(app.list_vm_transitions, "vms/x/transitions", _route(WEB1)),
        _http(app.list_vm_transitions, "vms/x/transitions", _route(DB), top="2"),
        _http(app.list_vm_transitions, "vms/x/transitions", _route(WEB2), format="csv"),
        _http(app.list_vm_timelines, "timelines", **window),
        _http(app.list_vm_timelines, "timelines", top="1", **window),
        _http(app.list_vm_timelines, "timelines", format="csv", **window),
        _http(app.list_vm_timelines, "timelines", **{"from": "2025-01-01", "to": TO}),
        _http(app.vm_timeline_page, "timeline"),
    ]
    for answer in list(answers):
        link = (
            json.loads(answer["body"]).get("nextLink") if answer["mimetype"] == "application/json" else None
        )
        if link:
            token = link.split("continuationToken=")[1]
            fn = {"vms": app.list_vms, "timelines": app.list_vm_timelines}.get(
                answer["request"]["path"], app.list_vm_transitions
            )
            route = _route(DB) if fn is app.list_vm_transitions else None
            params = {**answer["request"]["params"], "continuationToken": token}
            answers.append(_http(fn, answer["request"]["path"], route, **params))
    return answers


def _rows(ledger: Any) -> list[dict[str, Any]]:
    entities = ledger.table.list_entities()
    rows = [{key: value for key, value in entity.items() if key != "Timestamp"} for entity in entities]
    return sorted(rows, key=lambda row: (row["PartitionKey"], row["RowKey"]))


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {"args": list(args), "exit": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def _record(ledger_env: dict[str, str], ledger: Any, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    from shared.jobs import reconcile_subscription
    from shared.sources import parse_listing_page

    caplog.set_level(logging.DEBUG, logger="shared")
    for wire in _deliveries():
        function_app.on_vm_event(event_grid_argument(wire))
    vms, _ = parse_listing_page(_listing())
    clock = iter([at(hours=20), at(hours=20, minutes=1)])
    report = reconcile_subscription(ledger, SUB, [vms], clock=lambda: next(clock))
    logs = [f"{record.levelname} {record.getMessage()}" for record in caplog.records]
    return {
        "reconcile": report.summary(),
        "logs": logs,
        "rows": _rows(ledger),
        "http": _answers(),
        "cli": [
            _cli(ledger_env, "show", "--from", FROM, "--to", TO),
            _cli(
                ledger_env,
                "show",
                WEB1,
                "--from",
                FROM,
                "--to",
                (at(hours=24) + timedelta(hours=1)).isoformat(),
            ),
            _cli(ledger_env, "show", "/not/a/vm"),
        ],
    }


def test_the_sample_day_answers_exactly_as_recorded(ledger_env, ledger, caplog):
    recorded = _record(ledger_env, ledger, caplog)
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for part in ("reconcile", "logs", "rows", "cli"):
        assert recorded[part] == expected[part], part
    assert len(recorded["http"]) == len(expected["http"])
    for got, want in zip(recorded["http"], expected["http"], strict=True):
        assert got == want, got["request"]
