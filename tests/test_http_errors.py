"""Every client mistake is a 400/404 with a JSON error; storage trouble is a 503; never a stack trace."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

import function_app
from devtools.azurite import free_port
from devtools.events import SUB, at, wire_event
from devtools.worker import event_grid_argument
from shared import context, settings
from shared.domain.times import parse_time
from shared.errors import StorageUnavailable
from shared.store import STORAGE_CLIENT_OPTIONS

PAGE = Path(__file__).resolve().parent.parent / "shared" / "web" / "static" / "timeline.html"
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
    function_app.on_vm_event(event_grid_argument(wire_event("write", at(hours=1))))


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


@pytest.mark.parametrize(
    ("params", "named"),
    [({"subscriptionId": "nope"}, "subscriptionId"), ({"resourceGroup": "a|b"}, "resourceGroup")],
)
def test_bad_list_filters_are_400(recorded, params, named):
    status, body = call(function_app.list_vms, params)
    assert (status, body["error"]["code"]) == (400, "InvalidPathPart")
    assert body["error"]["message"] == f"{named} is not a valid Azure {named}"


def test_an_unknown_vm_is_404_in_the_same_shape(recorded):
    status, body = call(function_app.get_vm, {}, {**GOOD, "vmName": "never-seen"})
    assert (status, body["error"]["code"]) == (404, "VmNotFound")
    status, _ = call(function_app.list_vm_transitions, {}, {**GOOD, "vmName": "never-seen"})
    assert status == 404


def test_transitions_page_through_with_next_links_until_the_end(recorded):
    for hour in range(2, 9):
        function_app.on_vm_event(event_grid_argument(wire_event("restart", at(hours=hour))))
    seen, params = [], {"top": "3", "code": "k"}
    while True:
        status, body = call(function_app.list_vm_transitions, params, GOOD)
        assert status == 200
        seen += [row["time"] for row in body["value"]]
        if "nextLink" not in body:
            break
        query = body["nextLink"].split("?", 1)[1]
        params = dict(part.split("=", 1) for part in query.split("&"))
        assert "code" not in params  # a function key is never echoed: clients send x-functions-key
    assert seen == sorted(seen) and len(seen) == 8


def _token(after) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _nested_token(depth: int) -> str:
    return base64.urlsafe_b64encode(("[" * depth).encode()).decode().rstrip("=")


FORGED_TOKENS = {
    "lone surrogate": _token("tx|rg-app|vm1|\ud800"),
    "deeply nested JSON": _nested_token(100_000),
    "nested within the length cap": _nested_token(3000),
    "200,000 characters of after": _token("tx|rg-app|vm1|" + "a" * 200_000),
    "a key of this VM with a bad tail": _token("tx|rg-app|vm1|2026-11-23T01:00:00.000000Z|zz"),
    "extra fields": base64.urlsafe_b64encode(b'{"after": "x", "more": 1}').decode().rstrip("="),
    "padding and other base64": "eyJhZnRlciI6IDF9==",
}
FORGED_LIST_TOKENS = {
    "lone surrogate": _token(f"{SUB}/vm|rg-app|\ud800"),
    "200,000 characters": _token(f"{SUB}/vm|rg-app|" + "a" * 200_000),
    "not a subscription": _token("nope/vm|rg-app|vm1"),
    "a forbidden character": _token(f"{SUB}/vm|rg#app|vm1"),
}


@pytest.mark.parametrize("token", list(FORGED_TOKENS.values()), ids=list(FORGED_TOKENS))
def test_a_forged_transitions_token_is_400_not_500_or_503(recorded, token):
    status, body = call(function_app.list_vm_transitions, {"continuationToken": token}, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidContinuationToken")


@pytest.mark.parametrize("token", list(FORGED_LIST_TOKENS.values()), ids=list(FORGED_LIST_TOKENS))
@pytest.mark.parametrize(
    "fn", [function_app.list_vms, function_app.list_vm_timelines], ids=["vms", "timelines"]
)
def test_a_forged_vm_list_token_is_400_not_500_or_503(recorded, fn, token):
    status, body = call(fn, {"continuationToken": token})
    assert (status, body["error"]["code"]) == (400, "InvalidContinuationToken")


@pytest.mark.parametrize(
    "text",
    ["1" * 5000, "2026-11-23\x00", "2026-11-23T01:00:00Z\x00", " 2026-11-23", "20261123", "2026-W48-1",
     "2026-11-23T01:00:00.12345678Z", "2026-11-23T01:00:00+0100", "0001-01-01T00:00:00+01:00"],
)  # fmt: skip
@pytest.mark.parametrize("name", ["from", "to"])
def test_times_are_parsed_strictly_and_anything_else_is_invalid_time(recorded, name, text):
    status, body = call(function_app.get_vm, {name: text}, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidTime")


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-23", "2026-11-23T00:00:00.000000Z"),  # a date is its midnight, UTC
        ("2026-11-23T02:00", "2026-11-23T02:00:00.000000Z"),  # no offset: UTC
        ("2026-11-23T02:00:00", "2026-11-23T02:00:00.000000Z"),
        ("2026-11-23T02:00:00.1234567Z", "2026-11-23T02:00:00.123456Z"),  # Event Grid's 7 digits, to 6
        ("2026-11-23t02:00:00z", "2026-11-23T02:00:00.000000Z"),
        ("2026-11-23T03:00:00+01:00", "2026-11-23T02:00:00.000000Z"),
    ],
)
def test_the_documented_time_forms_are_accepted(recorded, text, instant):
    """Accepted as the instant they denote: the window ends there, and the VM created at 01:00 has billed
    since then."""
    status, body = call(function_app.get_vm, {"to": text}, GOOD)
    assert status == 200, body
    assert body["window"]["to"] == instant
    billed = (parse_time(instant) - at(hours=1)).total_seconds()
    assert body["billedSeconds"] == max(billed, 0)


@pytest.mark.parametrize("name", ["from", "to"])
def test_an_offset_sent_unencoded_arrives_as_a_space_and_the_error_says_to_write_it_2b(recorded, name):
    query = f"{name}=2026-11-23T03:00:00+01:00"  # as typed into a browser's address bar or curl
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    assert params[name] == "2026-11-23T03:00:00 01:00"
    status, body = call(function_app.get_vm, params, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidTime")
    assert "%2B01:00" in body["error"]["message"]
    assert "03:00:00" not in body["error"]["message"]  # the input is never echoed back
    status, body = call(function_app.get_vm, {name: "2026-11-23 03:00"}, GOOD)
    assert "%2B" not in body["error"]["message"]  # a space that stands for no '+' gets no such hint


def test_a_default_window_that_would_start_before_the_year_1_is_invalid_window_not_500(recorded):
    status, body = call(function_app.list_vm_timelines, {"to": "0001-01-05"})
    assert (status, body["error"]["code"]) == (400, "InvalidWindow")
    status, body = call(function_app.get_vm, {"to": "0001-01-05"}, GOOD)
    assert status == 200  # no bound is needed before the year 1: the window starts at 'to'


def test_get_vm_windows_are_bounded_like_timelines(recorded):
    status, body = call(function_app.get_vm, {"from": "2025-11-01", "to": "2026-11-24"}, GOOD)
    assert (status, body["error"]["code"]) == (400, "InvalidWindow")
    status, body = call(function_app.get_vm, {"from": "2025-11-24", "to": "2026-11-24"}, GOOD)
    assert status == 200


def test_get_vm_without_from_looks_back_at_most_366_days(recorded):
    status, body = call(function_app.get_vm, {"to": "2028-01-01"}, GOOD)
    assert status == 200
    assert body["window"] == {"from": "2026-12-31T00:00:00.000000Z", "to": "2028-01-01T00:00:00.000000Z"}


def test_a_next_link_keeps_only_the_query_s_own_parameters(recorded):
    for hour in range(2, 5):
        function_app.on_vm_event(event_grid_argument(wire_event("restart", at(hours=hour))))
    params = {"top": "1", "code": "secret-key", "from": "2026-11-23", "other": "x"}
    request = func.HttpRequest(
        "GET", "https://ledger.example.net/api/vms/x/transitions", body=b"", params=params, route_params=GOOD
    )
    body = json.loads(function_app.list_vm_transitions(request).get_body())
    link = urlsplit(body["nextLink"])
    assert (link.scheme, link.netloc, link.path) == ("https", "ledger.example.net", "/api/vms/x/transitions")
    assert set(parse_qs(link.query)) == {"top", "from", "continuationToken"}
    assert "secret-key" not in json.dumps(body)


def test_a_host_that_is_not_a_plain_name_gives_a_link_relative_to_the_origin(recorded):
    function_app.on_vm_event(event_grid_argument(wire_event("restart", at(hours=2))))
    request = func.HttpRequest(
        "GET", "http://user:pw@evil.example:80/api/vms/x/transitions", body=b"", params={"top": "1"},
        route_params=GOOD,
    )  # fmt: skip
    body = json.loads(function_app.list_vm_transitions(request).get_body())
    assert body["nextLink"].startswith("/api/vms/x/transitions?top=1&continuationToken=")


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
        function_app.on_vm_event(event_grid_argument(wire_event("start", at(hours=2))))


def test_the_timeline_page_still_loads_when_storage_is_down(storage_down):
    """The whole page as shipped, with its policy: it then says itself that its data cannot be read."""
    request = func.HttpRequest("GET", "http://localhost/api/timeline", body=b"", params={}, route_params={})
    response = function_app.vm_timeline_page(request)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_body().decode("utf-8") == PAGE.read_text(encoding="utf-8")
    assert "script-src" in response.headers["Content-Security-Policy"]
