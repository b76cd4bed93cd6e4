"""Every client mistake is a 400/404 with a JSON error; storage trouble is a 503; never a stack trace."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from scripts.azurite import free_port
from shared import context, settings
from shared.errors import StorageUnavailable
from shared.store import STORAGE_CLIENT_OPTIONS
from tests.factories import SUB, at, binding, wire_event

GOOD = {"subscriptionId": SUB, "resourceGroup": "rg-app", "vmName": "vm1"}


def call(fn, params=None, route=None) -> tuple[int, dict]:
    request = func.HttpRequest(
        "GET", "http://localhost/api/vms", body=b"", params=params or {}, route_params=route or {}
    )
    response = fn(request)
    text = response.get_body().decode()
    assert "Traceback" not in text
    assert response.mimetype == "application/json"
    return response.status_code, json.loads(text)


@pytest.fixture
def recorded(ledger_env):
    function_app.on_vm_event(binding(wire_event("write", at(hours=1))))


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01T00:00:00Z"},
        {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        {"from": "'; DROP TABLE vms --"},
        {"from": "9" * 40},
    ],
)
def test_bad_or_reversed_windows_are_400(recorded, params):
    status, body = call(function_app.get_vm, params, GOOD)
    assert status == 400
    assert body["error"]["code"] in {"InvalidTime", "InvalidWindow"}


@pytest.mark.parametrize("top", ["0", "1001", "-5", "ten", "1.5", "٣"])
def test_a_top_outside_1_to_1000_is_400(recorded, top):
    status, body = call(function_app.list_vm_transitions, {"top": top}, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidTop")


@pytest.mark.parametrize(
    "token", ["garbage", "e30", "eyJhZnRlciI6IDF9", "eyJhZnRlciI6ICJ2bXxvdGhlcnx2bSJ9"]
)  # not base64 JSON; {}; {"after": 1}; a key of another VM
def test_a_continuation_token_we_did_not_issue_is_400(recorded, token):
    status, body = call(function_app.list_vm_transitions, {"continuationToken": token}, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidContinuationToken")


@pytest.mark.parametrize(
    "route",
    [
        {**GOOD, "subscriptionId": "not-a-guid"},
        {**GOOD, "resourceGroup": "rg'app"},
        {**GOOD, "resourceGroup": "rg#1"},
        {**GOOD, "vmName": "vm?x"},
        {**GOOD, "vmName": "a/b"},
        {**GOOD, "vmName": "vm\u0007"},
        {**GOOD, "vmName": "x" * 65},
    ],
)
def test_odd_characters_in_path_parts_are_400(recorded, route):
    status, body = call(function_app.get_vm, {}, route)
    assert (status, body["error"]["code"]) == (400, "InvalidPathPart")
    assert route["vmName"] not in body["error"]["message"] or route["vmName"] == "vm1"


@pytest.mark.parametrize("params", [{"subscriptionId": "nope"}, {"resourceGroup": "a|b"}])
def test_bad_list_filters_are_400(recorded, params):
    status, _ = call(function_app.list_vms, params)
    assert status == 400


def test_an_unknown_vm_is_404_in_the_same_shape(recorded):
    status, body = call(function_app.get_vm, {}, {**GOOD, "vmName": "never-seen"})
    assert (status, body["error"]["code"]) == (404, "VmNotFound")
    status, _ = call(function_app.list_vm_transitions, {}, {**GOOD, "vmName": "never-seen"})
    assert status == 404


def test_transitions_page_through_with_next_links_until_the_end(recorded):
    for hour in range(2, 9):
        function_app.on_vm_event(binding(wire_event("restart", at(hours=hour))))
    seen, params = [], {"top": "3", "code": "k"}
    while True:
        status, body = call(function_app.list_vm_transitions, params, GOOD)
        assert status == 200
        seen += [row["time"] for row in body["value"]]
        if "nextLink" not in body:
            break
        query = body["nextLink"].split("?", 1)[1]
        params = dict(part.split("=", 1) for part in query.split("&"))
        assert params["code"] == "k"  # the caller's other parameters are kept
    assert seen == sorted(seen) and len(seen) == 8


@pytest.fixture
def storage_down(ledger_env, monkeypatch):
    """Storage that refuses connections: nothing listens on the port."""
    port = free_port()
    monkeypatch.setenv(
        settings.STORAGE_CONNECTION,
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    monkeypatch.setitem(STORAGE_CLIENT_OPTIONS, "retry_backoff_factor", 0.01)
    context.reset()


def test_http_answers_503_when_storage_is_down(storage_down):
    for fn, route in (
        (function_app.get_vm, GOOD),
        (function_app.list_vms, {}),
        (function_app.list_costs, {}),
    ):
        status, body = call(fn, {}, route)
        assert (status, body["error"]["code"]) == (503, "StorageUnavailable")


def test_an_event_raises_when_storage_is_down_so_event_grid_redelivers(storage_down):
    with pytest.raises(StorageUnavailable):
        function_app.on_vm_event(binding(wire_event("start", at(hours=2))))


def test_the_timeline_page_still_loads_when_storage_is_down(storage_down):
    request = func.HttpRequest("GET", "http://localhost/api/timeline", body=b"", params={}, route_params={})
    response = function_app.vm_timeline_page(request)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
